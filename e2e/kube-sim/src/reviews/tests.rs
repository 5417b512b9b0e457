//! Tests of access reviews: their validation and answers.

use serde_json::{Value, json};

use super::*;
use crate::store::{Objects, key_of};

fn policy_objects() -> (Objects, Objects) {
    let role = json!({"kind": "Role", "metadata": {"namespace": "ops", "name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]});
    let binding = json!({"kind": "RoleBinding", "metadata": {"namespace": "ops", "name": "b"},
        "roleRef": {"kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "alice"}]});
    (
        Objects::from([(key_of(&role), role)]),
        Objects::from([(key_of(&binding), binding)]),
    )
}

fn list_pods() -> Value {
    json!({"resourceAttributes": {"verb": "list", "resource": "pods", "namespace": "ops"}})
}

#[test]
fn a_review_needs_exactly_one_kind_of_attributes() {
    let policy = Policy::default();
    for spec in [
        json!({"user": "alice"}),
        json!({"user": "alice", "resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"verb": "get", "path": "/"}}),
    ] {
        let err = review(&json!({ "spec": spec }), &policy).expect_err("refused");
        assert_eq!(err.code, 422);
        assert!(
            err.message
                .contains("exactly one of nonResourceAttributes or resourceAttributes")
        );
    }
}

#[test]
fn a_review_needs_a_user_or_a_group() {
    let err = review(&json!({"spec": list_pods()}), &Policy::default()).expect_err("nobody");
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("at least one of user or group must be specified")
    );
}

#[test]
fn a_bound_user_is_allowed_naming_the_rule_and_others_are_denied_without_reason() {
    let (roles, bindings) = policy_objects();
    let policy = Policy {
        roles: Some(&roles),
        role_bindings: Some(&bindings),
        ..Policy::default()
    };
    let mut spec = list_pods();
    spec["user"] = json!("alice");
    let allowed = review(&json!({ "spec": spec }), &policy).expect("answered");
    assert_eq!(allowed["status"]["allowed"], true);
    assert!(
        allowed["status"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("RBAC: allowed by ")),
        "{allowed}"
    );
    let mut spec = list_pods();
    spec["user"] = json!("bob");
    let denied = review(&json!({ "spec": spec }), &policy).expect("answered");
    assert_eq!(denied["status"], json!({"allowed": false}));
}

#[test]
fn the_privileged_group_is_allowed_without_a_reason() {
    let mut spec = list_pods();
    spec["groups"] = json!(["system:masters"]);
    let answer = review(&json!({ "spec": spec.clone() }), &Policy::default()).expect("answered");
    assert_eq!(answer["status"], json!({"allowed": true}));
    assert_eq!(answer["kind"], "SubjectAccessReview");
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(answer["spec"], spec, "the spec is echoed");
}

#[test]
fn a_self_review_asks_for_the_requesting_user() {
    let answer = self_review(
        &UserInfo::admin(),
        &json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/version"}}}),
        &Policy::default(),
    )
    .expect("answered");
    assert_eq!(answer["kind"], "SelfSubjectAccessReview");
    assert_eq!(answer["status"]["allowed"], true);
    let denied = self_review(
        &UserInfo::anonymous(),
        &json!({"spec": list_pods()}),
        &Policy::default(),
    )
    .expect("answered");
    assert_eq!(denied["status"]["allowed"], false);
}
