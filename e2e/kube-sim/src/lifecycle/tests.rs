//! Tests of deletion: options, preconditions, graceful pods, finalizers, propagation and
//! namespace termination.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::objects::{Managed, create};

fn rt(group: &str, plural: &str) -> ResourceType {
    crate::registry::builtins()
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
        .expect("a built-in type")
}

fn state() -> State {
    let mut st = State::new(1, 100);
    create(
        &mut st,
        &rt("", "namespaces"),
        "",
        json!({"metadata": {"name": "ns"}}),
        Managed::Update("t"),
    )
    .expect("namespace");
    st
}

fn make(st: &mut State, group: &str, plural: &str, obj: Value) -> Value {
    create(st, &rt(group, plural), "ns", obj, Managed::Update("t")).expect("created")
}

fn cm(name: &str, owners: &[&Value]) -> Value {
    let refs: Vec<Value> = owners
        .iter()
        .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"]}))
        .collect();
    let mut c = json!({"metadata": {"name": name}});
    if !refs.is_empty() {
        c["metadata"]["ownerReferences"] = json!(refs);
    }
    c
}

fn bound_pod(name: &str) -> Value {
    json!({"metadata": {"name": name}, "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 45,
        "containers": [{"name": "c", "image": "i"}]}})
}

fn del(
    st: &mut State,
    group: &str,
    plural: &str,
    name: &str,
    opts: DeleteOpts,
) -> ApiResult<Value> {
    delete(st, &rt(group, plural), "ns", name, &opts)
}

fn del_cm(st: &mut State, name: &str, opts: DeleteOpts) -> ApiResult<Value> {
    del(st, "", "configmaps", name, opts)
}

#[test]
fn delete_options_in_the_body_win_over_the_query() {
    let query: HashMap<String, String> = [
        ("propagationPolicy".to_owned(), "Orphan".to_owned()),
        ("gracePeriodSeconds".to_owned(), "5".to_owned()),
    ]
    .into();
    let from_query = DeleteOpts::from_parts(&json!({}), &query);
    assert_eq!(from_query.propagation.as_deref(), Some("Orphan"));
    assert_eq!(from_query.grace, Some(5));
    let body = json!({"propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
        "preconditions": {"uid": "u", "resourceVersion": "7"}});
    let from_body = DeleteOpts::from_parts(&body, &query);
    assert_eq!(
        from_body,
        DeleteOpts {
            propagation: Some("Foreground".into()),
            grace: Some(0),
            uid: Some("u".into()),
            resource_version: Some("7".into()),
        }
    );
}

#[test]
fn failed_preconditions_are_conflicts_naming_both_values() {
    let mut st = state();
    let c = make(&mut st, "", "configmaps", cm("c", &[]));
    let uid = c["metadata"]["uid"].as_str().expect("uid").to_owned();
    let err = del_cm(
        &mut st,
        "c",
        DeleteOpts {
            uid: Some("other".into()),
            ..Default::default()
        },
    )
    .expect_err("uid");
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        format!("Precondition failed: UID in precondition: other, UID in object meta: {uid}")
    );
    let err = del_cm(
        &mut st,
        "c",
        DeleteOpts {
            resource_version: Some("1".into()),
            ..Default::default()
        },
    )
    .expect_err("resourceVersion");
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .starts_with("Precondition failed: ResourceVersion in precondition: 1")
    );
    assert!(st.get("/configmaps", "ns", "c").is_some());
}

#[test]
fn a_bound_pod_lingers_for_its_grace_period_and_a_second_delete_changes_nothing() {
    let mut st = state();
    make(&mut st, "", "pods", bound_pod("p"));
    let first = del(&mut st, "", "pods", "p", DeleteOpts::default()).expect("deleting");
    assert_eq!(first["metadata"]["deletionGracePeriodSeconds"], 45);
    assert!(first["metadata"]["deletionTimestamp"].is_string());
    let again = del(&mut st, "", "pods", "p", DeleteOpts::default()).expect("still deleting");
    assert_eq!(
        again["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    assert!(st.get("/pods", "ns", "p").is_some());
}

#[test]
fn a_zero_grace_period_or_a_finished_pod_goes_at_once() {
    let mut st = state();
    make(&mut st, "", "pods", bound_pod("now"));
    del(
        &mut st,
        "",
        "pods",
        "now",
        DeleteOpts {
            grace: Some(0),
            ..Default::default()
        },
    )
    .expect("deleted");
    assert!(st.get("/pods", "ns", "now").is_none());
    make(&mut st, "", "pods", bound_pod("done"));
    let mut done = st.get("/pods", "ns", "done").cloned().expect("stored");
    done["status"]["phase"] = json!("Succeeded");
    st.put("/pods", done, None);
    del(&mut st, "", "pods", "done", DeleteOpts::default()).expect("deleted");
    assert!(st.get("/pods", "ns", "done").is_none());
}

#[test]
fn an_object_with_finalizers_lingers_until_they_are_gone() {
    let mut st = state();
    let mut c = cm("c", &[]);
    c["metadata"]["finalizers"] = json!(["example.com/hold"]);
    make(&mut st, "", "configmaps", c);
    let last = del_cm(&mut st, "c", DeleteOpts::default()).expect("deleting");
    assert!(last["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(last["metadata"]["deletionGracePeriodSeconds"], 0);
    assert!(st.get("/configmaps", "ns", "c").is_some());
}

#[test]
fn background_deletion_removes_sole_dependents_and_unlinks_shared_ones() {
    let mut st = state();
    let a = make(&mut st, "", "configmaps", cm("a", &[]));
    let b = make(&mut st, "", "configmaps", cm("b", &[]));
    make(&mut st, "", "configmaps", cm("only-a", &[&a]));
    make(&mut st, "", "configmaps", cm("both", &[&a, &b]));
    del_cm(&mut st, "a", DeleteOpts::default()).expect("deleted");
    assert!(st.get("/configmaps", "ns", "only-a").is_none());
    let both = st.get("/configmaps", "ns", "both").expect("kept");
    assert_eq!(both["metadata"]["ownerReferences"][0]["name"], "b");
    assert_eq!(
        both["metadata"]["ownerReferences"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn orphan_deletion_keeps_dependents_without_the_reference() {
    let mut st = state();
    let a = make(&mut st, "", "configmaps", cm("a", &[]));
    make(&mut st, "", "configmaps", cm("child", &[&a]));
    del_cm(
        &mut st,
        "a",
        DeleteOpts {
            propagation: Some("Orphan".into()),
            ..Default::default()
        },
    )
    .expect("deleted");
    let child = st.get("/configmaps", "ns", "child").expect("kept");
    assert!(child["metadata"].get("ownerReferences").is_none());
}

#[test]
fn deleting_a_namespace_removes_its_content_and_then_itself() {
    let mut st = state();
    make(&mut st, "", "configmaps", cm("c", &[]));
    make(&mut st, "", "pods", bound_pod("p"));
    delete(
        &mut st,
        &rt("", "namespaces"),
        "",
        "ns",
        &DeleteOpts::default(),
    )
    .expect("deleted");
    assert!(st.get("/configmaps", "ns", "c").is_none());
    assert!(st.get("/pods", "ns", "p").is_none());
    assert!(st.get("/namespaces", "", "ns").is_none());
}

#[test]
fn a_namespace_waits_terminating_for_a_finalizer_inside() {
    let mut st = state();
    let mut held = cm("held", &[]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    make(&mut st, "", "configmaps", held);
    let ns = delete(
        &mut st,
        &rt("", "namespaces"),
        "",
        "ns",
        &DeleteOpts::default(),
    )
    .expect("terminating");
    assert_eq!(ns["status"]["phase"], "Terminating");
    let mut last = st.get("/configmaps", "ns", "held").cloned().expect("held");
    last["metadata"]["finalizers"] = json!([]);
    remove_now(&mut st, &rt("", "configmaps"), last);
    assert!(
        st.get("/namespaces", "", "ns").is_none(),
        "reaped once empty"
    );
}
