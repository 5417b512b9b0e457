//! Tests of name validation, `generateName` suffixes, timestamps and built-in defaults.

use serde_json::{Value, json};

use super::*;
use crate::registry::builtins;

fn builtin(group: &str, plural: &str) -> ResourceType {
    builtins()
        .into_iter()
        .find(|rt| rt.group == group && rt.plural == plural)
        .expect("built-in resource")
}

fn defaulted(group: &str, plural: &str, mut obj: Value) -> ApiResult<Value> {
    builtin_defaults(&builtin(group, plural), &mut obj).map(|()| obj)
}

#[test]
fn a_name_of_253_characters_is_valid_and_254_is_not() {
    let longest = format!("{}.{}", "a".repeat(126), "b".repeat(126));
    assert_eq!(longest.len(), 253);
    assert!(validate_name("Pod", &longest).is_ok());
    let too_long = format!("{longest}c");
    assert_eq!(validate_name("Pod", &too_long).expect_err("254").code, 422);
}

#[test]
fn names_follow_rfc_1123_subdomains() {
    for good in ["a", "node-1", "kairos.io", "0abc", "a.b-c.d"] {
        assert!(validate_name("Pod", good).is_ok(), "{good}");
    }
    for bad in ["", "Node1", "-a", "a-", ".a", "a.", "a_b", "a b", "ä"] {
        assert!(validate_name("Pod", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn an_invalid_name_is_explained_as_the_api_server_does() {
    let err = validate_name("NodeOp", "Bad_Name").expect_err("invalid");
    assert_eq!(err.code, 422);
    assert_eq!(err.reason, "Invalid");
    assert_eq!(
        err.message,
        "NodeOp \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
    );
}

#[test]
fn rbac_names_may_hold_colons_but_no_slash_or_percent() {
    for good in ["system:discovery", "Admin", "a b", "kairos:node-agent"] {
        assert!(
            validate_path_segment_name("ClusterRole", good).is_ok(),
            "{good}"
        );
    }
    let table = [
        (
            "",
            "metadata.name: Required value: name or generateName is required",
        ),
        (".", "metadata.name: Invalid value: \".\": may not be '.'"),
        (
            "..",
            "metadata.name: Invalid value: \"..\": may not be '..'",
        ),
        (
            "a/b",
            "metadata.name: Invalid value: \"a/b\": may not contain '/'",
        ),
        (
            "a%2F",
            "metadata.name: Invalid value: \"a%2F\": may not contain '%'",
        ),
    ];
    for (name, why) in table {
        let err = validate_path_segment_name("Role", name).expect_err(name);
        assert_eq!(err.message, format!("Role \"{name}\" is invalid: {why}"));
    }
}

#[test]
fn generated_name_suffixes_are_five_characters_without_vowels() {
    for _ in 0..200 {
        let suffix = name_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{suffix}"
        );
    }
}

#[test]
fn timestamps_have_second_precision_in_utc() {
    let stamp = now();
    let parsed = chrono::DateTime::parse_from_rfc3339(&stamp).expect("RFC 3339");
    assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    let later = chrono::DateTime::parse_from_rfc3339(&now_plus(90)).expect("RFC 3339");
    let gap = (later - parsed).num_seconds();
    assert!((90..=91).contains(&gap), "{gap}");
}

#[test]
fn uids_are_distinct() {
    assert_ne!(uid(), uid());
}

#[test]
fn a_pod_gets_the_api_server_defaults_without_losing_its_own_values() {
    let pod = defaulted(
        "",
        "pods",
        json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "i"}],
            "restartPolicy": "Never",
        }}),
    )
    .expect("valid pod");
    assert_eq!(
        pod["spec"],
        json!({
            "containers": [{"name": "c", "image": "i"}],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        })
    );
}

#[test]
fn a_pod_without_containers_is_invalid() {
    let err = defaulted("", "pods", json!({"metadata": {"name": "p"}, "spec": {}}))
        .expect_err("no containers");
    assert_eq!(err.code, 422);
    assert_eq!(
        err.message,
        "Pod \"p\" is invalid: spec.containers: Required value"
    );
}

#[test]
fn a_container_without_an_image_is_invalid_naming_its_index() {
    let err = defaulted(
        "",
        "pods",
        json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "i"},
            {"name": "b", "image": ""},
        ]}}),
    )
    .expect_err("no image");
    assert_eq!(
        err.message,
        "Pod \"p\" is invalid: spec.containers[1].image: Required value"
    );
}

#[test]
fn a_namespace_is_labelled_with_its_name_and_active() {
    let ns = defaulted(
        "",
        "namespaces",
        json!({"metadata": {"name": "kairos-system", "labels": {"team": "a"}}}),
    )
    .expect("valid namespace");
    assert_eq!(
        ns["metadata"]["labels"],
        json!({"team": "a", "kubernetes.io/metadata.name": "kairos-system"})
    );
    assert_eq!(ns["spec"], json!({"finalizers": ["kubernetes"]}));
    assert_eq!(ns["status"], json!({"phase": "Active"}));
}

fn job(restart_policy: &str) -> Value {
    json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {"spec": {
        "restartPolicy": restart_policy,
        "containers": [{"name": "c", "image": "i"}],
    }}}})
}

#[test]
fn a_job_pod_template_must_not_restart_always() {
    let err = defaulted("batch", "jobs", job("Always")).expect_err("Always");
    assert_eq!(
        err.message,
        "Job \"j\" is invalid: spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\" (got \"Always\")"
    );
}

#[test]
fn a_job_gets_defaults_a_selector_and_pod_labels_from_its_uid() {
    let job = defaulted("batch", "jobs", job("Never")).expect("valid job");
    let spec = &job["spec"];
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(
        spec["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}})
    );
    let ids = json!({
        "batch.kubernetes.io/controller-uid": "u1", "batch.kubernetes.io/job-name": "j",
        "controller-uid": "u1", "job-name": "j",
    });
    assert_eq!(spec["template"]["metadata"]["labels"], ids);
    assert_eq!(
        job["metadata"]["labels"], ids,
        "a job without labels takes its pods'"
    );
    assert_eq!(
        spec["template"]["spec"]["terminationGracePeriodSeconds"],
        30
    );
}

#[test]
fn a_job_keeps_its_own_labels_backoff_limit_and_template_labels() {
    let mut obj = job("OnFailure");
    obj["metadata"]["labels"] = json!({"app": "x"});
    obj["spec"]["backoffLimit"] = json!(0);
    obj["spec"]["template"]["metadata"] = json!({"labels": {"role": "run"}});
    let job = defaulted("batch", "jobs", obj).expect("valid job");
    assert_eq!(job["metadata"]["labels"], json!({"app": "x"}));
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["template"]["metadata"]["labels"]["role"], "run");
    assert_eq!(
        job["spec"]["template"]["metadata"]["labels"]["job-name"],
        "j"
    );
}

#[test]
fn other_kinds_are_left_as_they_are() {
    let obj = json!({"metadata": {"name": "cm"}, "data": {"a": "1"}});
    assert_eq!(
        defaulted("", "configmaps", obj.clone()).expect("valid"),
        obj
    );
}
