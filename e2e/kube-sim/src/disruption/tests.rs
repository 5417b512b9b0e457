//! Tests of PodDisruptionBudget arithmetic and status, as the disruption controller keeps them.

use serde_json::{Value, json};

use super::*;

fn pod(name: &str, app: &str, phase: &str, ready: bool) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": app}, "resourceVersion": "1"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    })
}

fn pdb(spec: Value) -> Value {
    let mut spec = spec;
    spec["selector"] = json!({"matchLabels": {"app": "web"}});
    json!({"metadata": {"name": "web", "namespace": "ns", "generation": 2, "resourceVersion": "1"}, "spec": spec})
}

fn state(pods: &[Value]) -> State {
    let mut st = State::new(10, 100);
    for p in pods {
        st.put(POD_STORE, p.clone(), None);
    }
    st
}

fn four_web_pods_three_ready() -> State {
    state(&[
        pod("a", "web", "Running", true),
        pod("b", "web", "Running", true),
        pod("c", "web", "Running", true),
        pod("d", "web", "Running", false),
        pod("other", "db", "Running", true),
        pod("done", "web", "Succeeded", false),
    ])
}

#[test]
fn a_pod_is_healthy_only_running_ready_and_not_terminating() {
    assert!(is_ready(&pod("a", "web", "Running", true)));
    assert!(!is_ready(&pod("a", "web", "Running", false)));
    assert!(!is_ready(&pod("a", "web", "Pending", true)));
    let mut leaving = pod("a", "web", "Running", true);
    leaving["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert!(!is_ready(&leaving));
}

#[test]
fn min_available_counts_matching_unfinished_pods() {
    let st = four_web_pods_three_ready();
    assert_eq!(
        budget(&st, &pdb(json!({"minAvailable": 2})), "ns"),
        (4, 3, 2, 1)
    );
}

#[test]
fn max_unavailable_is_taken_from_the_expected_pods() {
    let st = four_web_pods_three_ready();
    assert_eq!(
        budget(&st, &pdb(json!({"maxUnavailable": 1})), "ns"),
        (4, 3, 3, 0)
    );
}

#[test]
fn percentages_round_up() {
    let st = four_web_pods_three_ready();
    // 30 % of 4 is 1.2: two pods must stay, one may go.
    assert_eq!(
        budget(&st, &pdb(json!({"minAvailable": "30%"})), "ns"),
        (4, 3, 2, 1)
    );
    // 30 % of 4 unavailable is 2 (rounded up): two must stay.
    assert_eq!(
        budget(&st, &pdb(json!({"maxUnavailable": "30%"})), "ns"),
        (4, 3, 2, 1)
    );
}

#[test]
fn a_budget_without_numbers_keeps_one_pod() {
    let st = four_web_pods_three_ready();
    assert_eq!(budget(&st, &pdb(json!({})), "ns"), (4, 3, 1, 2));
}

#[test]
fn a_budget_never_desires_fewer_than_zero_pods() {
    let st = four_web_pods_three_ready();
    assert_eq!(
        budget(&st, &pdb(json!({"maxUnavailable": 10})), "ns"),
        (4, 3, 0, 3)
    );
}

#[test]
fn pods_of_another_namespace_do_not_count() {
    let mut st = four_web_pods_three_ready();
    let mut elsewhere = pod("e", "web", "Running", true);
    elsewhere["metadata"]["namespace"] = json!("other");
    st.put(POD_STORE, elsewhere, None);
    assert_eq!(budget(&st, &pdb(json!({"minAvailable": 2})), "ns").0, 4);
}

#[test]
fn the_status_says_whether_a_disruption_is_allowed() {
    let mut st = four_web_pods_three_ready();
    st.put(PDB_STORE, pdb(json!({"maxUnavailable": 1})), None);
    refresh_pdbs(&mut st, "ns");
    let status = st.get(PDB_STORE, "ns", "web").expect("stored")["status"].clone();
    assert_eq!(status["disruptionsAllowed"], 0);
    assert_eq!(status["currentHealthy"], 3);
    assert_eq!(status["desiredHealthy"], 3);
    assert_eq!(status["expectedPods"], 4);
    assert_eq!(status["observedGeneration"], 2);
    assert_eq!(status["conditions"][0]["status"], "False");
    assert_eq!(status["conditions"][0]["reason"], "InsufficientPods");
}

#[test]
fn an_unchanged_status_is_not_written_again() {
    let mut st = four_web_pods_three_ready();
    st.put(PDB_STORE, pdb(json!({"minAvailable": 1})), None);
    refresh_pdbs(&mut st, "ns");
    let first = st.get(PDB_STORE, "ns", "web").expect("stored").clone();
    assert_eq!(first["status"]["conditions"][0]["reason"], "SufficientPods");
    refresh_pdbs(&mut st, "ns");
    let second = st.get(PDB_STORE, "ns", "web").expect("stored");
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
}
