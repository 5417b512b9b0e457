use serde_json::{Value, json};

use super::bind;
use crate::disruption::POD_STORE;
use crate::objects::{self, Managed};
use crate::store::State;

fn state_with_pod(spec: Value) -> State {
    let mut st = State::new(1, 100);
    let ns = st
        .registry
        .find("", "v1", "namespaces")
        .cloned()
        .expect("namespaces");
    let pods = st.registry.find("", "v1", "pods").cloned().expect("pods");
    objects::create(
        &mut st,
        &ns,
        "",
        json!({"metadata": {"name": "d"}}),
        Managed::Update("t"),
    )
    .expect("namespace");
    objects::create(
        &mut st,
        &pods,
        "d",
        json!({"metadata": {"name": "p"}, "spec": spec}),
        Managed::Update("t"),
    )
    .expect("pod");
    st
}

fn containers() -> Value {
    json!({"containers": [{"name": "c", "image": "busybox"}]})
}

fn to(node: &str) -> Value {
    json!({"metadata": {"name": "p", "annotations": {"a": "b"}}, "target": {"kind": "Node", "name": node}})
}

#[test]
fn a_binding_sets_the_node_annotations_and_scheduled_condition() {
    let mut st = state_with_pod(containers());
    let before = st.get(POD_STORE, "d", "p").cloned().expect("pod");
    let out = bind(&mut st, "d", "p", &to("n1")).expect("bound");
    assert_eq!(out["status"], "Success");
    let pod = st.get(POD_STORE, "d", "p").expect("pod");
    assert_eq!(pod["spec"]["nodeName"], "n1");
    assert_eq!(pod["metadata"]["annotations"]["a"], "b");
    assert_eq!(pod["status"]["conditions"][0]["type"], "PodScheduled");
    assert_ne!(
        pod["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn a_pod_already_on_a_node_is_not_bound_again() {
    let mut spec = containers();
    spec["nodeName"] = json!("n2");
    let mut st = state_with_pod(spec);
    let e = bind(&mut st, "d", "p", &to("n1")).expect_err("already assigned");
    assert_eq!(e.code, 409);
    assert!(
        e.message
            .ends_with("pod p is already assigned to node \"n2\""),
        "{}",
        e.message
    );
}

#[test]
fn a_binding_without_a_node_or_to_another_kind_is_invalid() {
    let mut st = state_with_pod(containers());
    let e = bind(
        &mut st,
        "d",
        "p",
        &json!({"target": {"kind": "Pod", "name": ""}}),
    )
    .expect_err("invalid");
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("target.name: Required value"),
        "{}",
        e.message
    );
    assert!(e.message.contains("target.kind"), "{}", e.message);
}

#[test]
fn binding_a_missing_pod_is_not_found() {
    let mut st = state_with_pod(containers());
    let e = bind(&mut st, "d", "q", &to("n1")).expect_err("names differ");
    assert_eq!(e.code, 400);
    let e = bind(&mut st, "d", "q", &json!({"target": {"name": "n1"}})).expect_err("no such pod");
    assert_eq!(e.code, 404);
}
