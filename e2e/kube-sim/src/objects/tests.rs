//! Tests of create and update semantics: namespaces, names, server-owned metadata, conflicts,
//! generations, the status subresource and finalizers of deleting objects.

use serde_json::{Value, json};

use super::*;

fn rt(group: &str, plural: &str) -> ResourceType {
    crate::registry::builtins()
        .into_iter()
        .find(|r| r.group == group && r.plural == plural)
        .expect("a built-in type")
}

fn state_with_namespace(ns: &str) -> State {
    let mut st = State::new(1, 100);
    create(
        &mut st,
        &rt("", "namespaces"),
        "",
        json!({"metadata": {"name": ns}}),
        Managed::Update("test"),
    )
    .expect("namespace created");
    st
}

fn cm(name: &str) -> Value {
    json!({"metadata": {"name": name}, "data": {"a": "1"}})
}

fn deployment(replicas: i64) -> Value {
    json!({"metadata": {"name": "d"}, "spec": {"replicas": replicas}, "status": {"readyReplicas": 5}})
}

#[test]
fn creating_in_a_missing_namespace_is_not_found() {
    let mut st = State::new(1, 100);
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ghost",
        cm("c"),
        Managed::Update("t"),
    )
    .expect_err("no namespace");
    assert_eq!(err.code, 404);
    assert_eq!(err.message, "namespaces \"ghost\" not found");
}

#[test]
fn creating_in_a_terminating_namespace_is_forbidden() {
    let mut st = state_with_namespace("ns");
    let mut ns = st.get("/namespaces", "", "ns").cloned().expect("stored");
    ns["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    st.put("/namespaces", ns, None);
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        cm("c"),
        Managed::Update("t"),
    )
    .expect_err("terminating");
    assert_eq!(err.code, 403);
    assert_eq!(
        err.message,
        "unable to create new content in namespace ns because it is being terminated"
    );
}

#[test]
fn generate_name_appends_five_characters() {
    let mut st = state_with_namespace("ns");
    let obj = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        json!({"metadata": {"generateName": "run-"}}),
        Managed::Update("t"),
    )
    .expect("created");
    let name = obj["metadata"]["name"].as_str().expect("a name");
    assert!(name.starts_with("run-") && name.len() == 9, "{name}");
}

#[test]
fn an_object_without_name_or_generate_name_is_invalid() {
    let mut st = state_with_namespace("ns");
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        json!({"metadata": {}}),
        Managed::Update("t"),
    )
    .expect_err("no name");
    assert_eq!(err.code, 422);
    assert!(
        err.message.contains("name or generateName is required"),
        "{}",
        err.message
    );
}

#[test]
fn a_body_naming_another_namespace_or_kind_is_a_bad_request() {
    let mut st = state_with_namespace("ns");
    let mut other_ns = cm("c");
    other_ns["metadata"]["namespace"] = json!("elsewhere");
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        other_ns,
        Managed::Update("t"),
    )
    .expect_err("namespace");
    assert_eq!(err.code, 400);
    let mut other_kind = cm("c");
    other_kind["kind"] = json!("Secret");
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        other_kind,
        Managed::Update("t"),
    )
    .expect_err("kind");
    assert_eq!(
        err.message,
        "the kind of the object (Secret) does not match the resource (ConfigMap)"
    );
}

#[test]
fn creating_twice_is_already_exists() {
    let mut st = state_with_namespace("ns");
    let cms = rt("", "configmaps");
    create(&mut st, &cms, "ns", cm("c"), Managed::Update("t")).expect("created");
    let err = create(&mut st, &cms, "ns", cm("c"), Managed::Update("t")).expect_err("twice");
    assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
}

#[test]
fn server_owned_metadata_given_by_the_client_is_replaced() {
    let mut st = state_with_namespace("ns");
    let mut obj = deployment(1);
    obj["metadata"]["uid"] = json!("mine");
    obj["metadata"]["resourceVersion"] = json!("999");
    obj["metadata"]["generation"] = json!(7);
    let created = create(
        &mut st,
        &rt("apps", "deployments"),
        "ns",
        obj,
        Managed::Update("t"),
    )
    .expect("created");
    assert_ne!(created["metadata"]["uid"], "mine");
    assert_ne!(created["metadata"]["resourceVersion"], "999");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["apiVersion"], "apps/v1");
    assert!(
        created.get("status").is_none(),
        "status is written through /status"
    );
}

#[test]
fn a_stale_resource_version_is_a_conflict_and_none_is_unconditional() {
    let mut st = state_with_namespace("ns");
    let cms = rt("", "configmaps");
    let created = create(&mut st, &cms, "ns", cm("c"), Managed::Update("t")).expect("created");
    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["a"] = json!("2");
    let err = update(&mut st, &cms, "ns", "c", stale, "", Managed::Update("t")).expect_err("stale");
    assert_eq!((err.code, err.reason), (409, "Conflict"));
    let mut blind = cm("c");
    blind["data"]["a"] = json!("3");
    let updated =
        update(&mut st, &cms, "ns", "c", blind, "", Managed::Update("t")).expect("updated");
    assert_eq!(updated["data"]["a"], "3");
}

#[test]
fn an_update_naming_another_object_is_a_bad_request() {
    let mut st = state_with_namespace("ns");
    let cms = rt("", "configmaps");
    create(&mut st, &cms, "ns", cm("c"), Managed::Update("t")).expect("created");
    let err = update(&mut st, &cms, "ns", "c", cm("d"), "", Managed::Update("t"))
        .expect_err("other name");
    assert_eq!(err.code, 400);
}

#[test]
fn only_a_spec_change_bumps_the_generation() {
    let mut st = state_with_namespace("ns");
    let deps = rt("apps", "deployments");
    create(&mut st, &deps, "ns", deployment(1), Managed::Update("t")).expect("created");
    let mut labelled = deployment(1);
    labelled["metadata"]["labels"] = json!({"a": "b"});
    let same = update(
        &mut st,
        &deps,
        "ns",
        "d",
        labelled,
        "",
        Managed::Update("t"),
    )
    .expect("updated");
    assert_eq!(same["metadata"]["generation"], 1);
    let scaled = update(
        &mut st,
        &deps,
        "ns",
        "d",
        deployment(3),
        "",
        Managed::Update("t"),
    )
    .expect("updated");
    assert_eq!(scaled["metadata"]["generation"], 2);
}

#[test]
fn the_main_resource_and_the_status_subresource_write_their_own_parts() {
    let mut st = state_with_namespace("ns");
    let deps = rt("apps", "deployments");
    create(&mut st, &deps, "ns", deployment(1), Managed::Update("t")).expect("created");
    let status = update(
        &mut st,
        &deps,
        "ns",
        "d",
        json!({"metadata": {"name": "d"}, "spec": {"replicas": 9}, "status": {"readyReplicas": 1}}),
        "status",
        Managed::Update("t"),
    )
    .expect("status written");
    assert_eq!(status["status"], json!({"readyReplicas": 1}));
    assert_eq!(
        status["spec"]["replicas"], 1,
        "spec is not written through /status"
    );
    assert_eq!(status["metadata"]["generation"], 1);
    let main = update(
        &mut st,
        &deps,
        "ns",
        "d",
        deployment(2),
        "",
        Managed::Update("t"),
    )
    .expect("updated");
    assert_eq!(main["status"], json!({"readyReplicas": 1}), "status kept");
}

#[test]
fn no_finalizer_may_be_added_to_a_deleting_object() {
    let mut st = state_with_namespace("ns");
    let cms = rt("", "configmaps");
    let mut obj = cm("c");
    obj["metadata"]["finalizers"] = json!(["a"]);
    create(&mut st, &cms, "ns", obj, Managed::Update("t")).expect("created");
    let mut stored = st.get("/configmaps", "ns", "c").cloned().expect("stored");
    stored["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    st.put("/configmaps", stored, None);
    let mut more = cm("c");
    more["metadata"]["finalizers"] = json!(["a", "b"]);
    let err = update(&mut st, &cms, "ns", "c", more, "", Managed::Update("t"))
        .expect_err("new finalizer");
    assert_eq!(err.code, 422);
    let mut fewer = cm("c");
    fewer["metadata"]["finalizers"] = json!([]);
    assert!(update(&mut st, &cms, "ns", "c", fewer, "", Managed::Update("t")).is_ok());
}

#[test]
fn a_body_that_is_not_an_object_is_a_bad_request() {
    let mut st = state_with_namespace("ns");
    let err = create(
        &mut st,
        &rt("", "configmaps"),
        "ns",
        json!([1]),
        Managed::Update("t"),
    )
    .expect_err("not an object");
    assert_eq!(err.code, 400);
}
