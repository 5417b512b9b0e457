//! Tests of evictions against PodDisruptionBudgets.

use serde_json::{Value, json};

use super::*;

fn pod(name: &str, phase: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "web"}, "resourceVersion": "1"},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    })
}

fn pdb(name: &str, min_available: i64) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": "1"},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}},
    })
}

fn state(pods: &[Value], pdbs: &[Value]) -> State {
    let mut st = State::new(10, 100);
    for p in pods {
        st.put(POD_STORE, p.clone(), None);
    }
    for p in pdbs {
        st.put(PDB_STORE, p.clone(), None);
    }
    st
}

#[test]
fn a_pod_without_a_budget_is_evicted() {
    let mut st = state(&[pod("a", "Running", true)], &[]);
    let answer = evict(&mut st, "ns", "a", &json!({})).expect("evicted");
    assert_eq!(answer["status"], "Success");
    assert_eq!(answer["code"], 201);
    assert!(st.get(POD_STORE, "ns", "a").is_none());
}

#[test]
fn a_budget_without_room_refuses_with_429_naming_the_budget() {
    let mut st = state(
        &[pod("a", "Running", true), pod("b", "Running", true)],
        &[pdb("web", 2)],
    );
    let err = evict(&mut st, "ns", "a", &json!({})).expect_err("refused");
    assert_eq!(err.code, 429);
    assert_eq!(
        err.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        err.details.expect("details")["causes"][0]["message"],
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    );
    assert!(st.get(POD_STORE, "ns", "a").is_some());
}

#[test]
fn an_unready_pod_may_go_while_the_budget_is_met() {
    let mut st = state(
        &[
            pod("a", "Running", true),
            pod("b", "Running", true),
            pod("sick", "Running", false),
        ],
        &[pdb("web", 2)],
    );
    assert!(evict(&mut st, "ns", "sick", &json!({})).is_ok());
    assert!(evict(&mut st, "ns", "a", &json!({})).is_err());
}

#[test]
fn pending_and_finished_pods_ignore_budgets() {
    let mut st = state(
        &[
            pod("new", "Pending", false),
            pod("done", "Succeeded", false),
        ],
        &[pdb("web", 5)],
    );
    assert!(evict(&mut st, "ns", "new", &json!({})).is_ok());
    assert!(evict(&mut st, "ns", "done", &json!({})).is_ok());
}

#[test]
fn a_pod_under_two_budgets_cannot_be_evicted() {
    let mut st = state(
        &[pod("a", "Running", true)],
        &[pdb("one", 0), pdb("two", 0)],
    );
    let err = evict(&mut st, "ns", "a", &json!({})).expect_err("two budgets");
    assert_eq!(err.code, 500);
    assert!(err.message.contains("more than one PodDisruptionBudget"));
}

#[test]
fn evicting_a_missing_pod_is_not_found() {
    let mut st = state(&[], &[]);
    let err = evict(&mut st, "ns", "ghost", &json!({})).expect_err("missing");
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "pods \"ghost\" not found");
}
