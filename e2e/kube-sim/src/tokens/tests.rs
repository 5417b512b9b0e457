//! Tests of TokenRequest and TokenReview.

use super::*;
use crate::objects::{self, Managed};

fn state_with_sa() -> State {
    let mut st = State::new(1, 100);
    let ns = st.registry.find("", "v1", "namespaces").cloned().unwrap();
    let sa = st
        .registry
        .find("", "v1", "serviceaccounts")
        .cloned()
        .unwrap();
    objects::create(
        &mut st,
        &ns,
        "",
        json!({"metadata": {"name": "d"}}),
        Managed::Update("t"),
    )
    .unwrap();
    objects::create(
        &mut st,
        &sa,
        "d",
        json!({"metadata": {"name": "a"}}),
        Managed::Update("t"),
    )
    .unwrap();
    st
}

#[test]
fn tampered_or_foreign_tokens_are_refused() {
    let st = state_with_sa();
    let key = b"k1";
    let tr = request(&st, key, "d", "a", &json!({"spec": {"audiences": ["x"]}})).unwrap();
    let token = tr["status"]["token"].as_str().unwrap().to_string();
    let ok = review(
        &st,
        key,
        &json!({"spec": {"token": token, "audiences": ["x"]}}),
    );
    assert_eq!(ok["status"]["authenticated"], true);
    let other_key = review(
        &st,
        b"k2",
        &json!({"spec": {"token": token, "audiences": ["x"]}}),
    );
    assert_eq!(other_key["status"]["authenticated"], false);
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = B64.encode(br#"{"aud":["x"],"exp":99999999999}"#);
    parts[1] = &forged;
    let forged = review(
        &st,
        key,
        &json!({"spec": {"token": parts.join("."), "audiences": ["x"]}}),
    );
    assert_eq!(forged["status"]["authenticated"], false);
    assert!(
        request(
            &st,
            key,
            "d",
            "a",
            &json!({"spec": {"expirationSeconds": 60}})
        )
        .is_err(),
        "under 10 minutes is refused"
    );
}

const KEY: &[u8] = b"k1";

fn token_for(st: &State, spec: Value) -> String {
    let tr = request(st, KEY, "d", "a", &json!({ "spec": spec })).expect("issued");
    tr["status"]["token"].as_str().expect("a token").to_owned()
}

fn reviewed(st: &State, token: &str, audiences: Value) -> Value {
    review(
        st,
        KEY,
        &json!({"spec": {"token": token, "audiences": audiences}}),
    )["status"]
        .clone()
}

fn with_pod(st: &mut State, name: &str, sa: &str, node: Option<&str>) {
    let mut pod = json!({"metadata": {"name": name, "namespace": "d", "uid": format!("uid-{name}"), "resourceVersion": "5"},
        "spec": {"serviceAccountName": sa}});
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    st.put("/pods", pod, None);
}

#[test]
fn without_audiences_a_token_is_for_the_api_server() {
    let st = state_with_sa();
    let tr = request(&st, KEY, "d", "a", &json!({"spec": {}})).expect("issued");
    assert_eq!(tr["spec"]["audiences"], json!([ISSUER]));
    assert_eq!(tr["spec"]["expirationSeconds"], 3600);
    let token = tr["status"]["token"].as_str().expect("a token");
    let status = reviewed(&st, token, json!([]));
    assert_eq!(status["authenticated"], true);
    assert_eq!(status["audiences"], json!([ISSUER]));
}

#[test]
fn a_token_for_another_audience_is_refused_naming_both() {
    let st = state_with_sa();
    let token = token_for(&st, json!({"audiences": ["kairos"]}));
    let status = reviewed(&st, &token, json!(["other"]));
    assert_eq!(status["authenticated"], false);
    assert_eq!(
        status["error"],
        "[invalid bearer token, token audiences [\"kairos\"] is invalid for the target audiences [\"other\"]]"
    );
}

#[test]
fn a_reviewed_token_names_its_service_account_and_groups() {
    let st = state_with_sa();
    let token = token_for(&st, json!({"audiences": ["x"]}));
    let user = &reviewed(&st, &token, json!(["x"]))["user"];
    assert_eq!(user["username"], "system:serviceaccount:d:a");
    assert_eq!(
        user["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:d",
            "system:authenticated"
        ])
    );
    assert_eq!(user["extra"], json!({}));
}

#[test]
fn the_token_of_a_deleted_service_account_is_refused() {
    let mut st = state_with_sa();
    let token = token_for(&st, json!({"audiences": ["x"]}));
    let sa = st
        .get("/serviceaccounts", "d", "a")
        .cloned()
        .expect("stored");
    st.remove("/serviceaccounts", sa);
    let status = reviewed(&st, &token, json!(["x"]));
    assert_eq!(status["authenticated"], false);
    assert_eq!(
        status["error"],
        "[invalid bearer token, service account has been deleted]"
    );
}

#[test]
fn a_token_that_is_not_three_parts_is_refused() {
    let st = state_with_sa();
    for token in ["", "a.b", "a.b.c.d", "not-a-jwt"] {
        let status = reviewed(&st, token, json!(["x"]));
        assert_eq!(status["authenticated"], false, "{token:?}");
    }
}

#[test]
fn ten_minutes_is_the_shortest_lifetime() {
    let st = state_with_sa();
    assert!(
        request(
            &st,
            KEY,
            "d",
            "a",
            &json!({"spec": {"expirationSeconds": 600}})
        )
        .is_ok()
    );
    let err = request(
        &st,
        KEY,
        "d",
        "a",
        &json!({"spec": {"expirationSeconds": 599}}),
    )
    .expect_err("too short");
    assert_eq!(err.code, 422);
}

#[test]
fn a_token_for_a_missing_service_account_is_not_found() {
    let st = state_with_sa();
    let err = request(&st, KEY, "d", "ghost", &json!({"spec": {}})).expect_err("missing");
    assert_eq!(err.code, 404);
}

#[test]
fn a_pod_bound_token_carries_the_pod_and_its_node() {
    let mut st = state_with_sa();
    with_pod(&mut st, "agent", "a", Some("n1"));
    let token = token_for(
        &st,
        json!({"audiences": ["x"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "agent"}}),
    );
    let extra = &reviewed(&st, &token, json!(["x"]))["user"]["extra"];
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        json!(["agent"])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        json!(["uid-agent"])
    );
    assert_eq!(
        extra["authentication.kubernetes.io/node-name"],
        json!(["n1"])
    );
}

#[test]
fn a_token_cannot_be_bound_to_another_accounts_pod_or_a_non_pod() {
    let mut st = state_with_sa();
    with_pod(&mut st, "other", "b", None);
    let bind = |kind: &str, name: &str| {
        request(
            &st,
            KEY,
            "d",
            "a",
            &json!({"spec": {"boundObjectRef": {"kind": kind, "name": name}}}),
        )
        .expect_err("refused")
        .code
    };
    assert_eq!(bind("Pod", "other"), 400);
    assert_eq!(bind("Secret", "s"), 422);
    assert_eq!(bind("Pod", "ghost"), 404);
}

#[test]
fn a_bound_pod_with_another_uid_is_a_conflict() {
    let mut st = state_with_sa();
    with_pod(&mut st, "agent", "a", None);
    let err = request(
        &st,
        KEY,
        "d",
        "a",
        &json!({"spec": {"boundObjectRef": {"kind": "Pod", "name": "agent", "uid": "old-uid"}}}),
    )
    .expect_err("recreated pod");
    assert_eq!(err.code, 409);
}

#[test]
fn the_token_of_a_deleted_bound_pod_is_refused() {
    let mut st = state_with_sa();
    with_pod(&mut st, "agent", "a", None);
    let token = token_for(
        &st,
        json!({"audiences": ["x"], "boundObjectRef": {"kind": "Pod", "name": "agent"}}),
    );
    let pod = st.get("/pods", "d", "agent").cloned().expect("stored");
    st.remove("/pods", pod);
    let status = reviewed(&st, &token, json!(["x"]));
    assert_eq!(
        status["error"],
        "[invalid bearer token, pod has been deleted]"
    );
}
