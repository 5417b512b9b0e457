//! Tests of the operator's errors: wording, categories and how soon each kind is retried.

use kairos_api::NodeOp;

use super::*;

#[test]
fn a_namespaced_object_without_a_namespace_is_a_bug_named_as_such() {
    let mut op: NodeOp = serde_json::from_value(serde_json::json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": "fw", "namespace": "ops"},
        "spec": {"command": ["true"]},
    }))
    .expect("a NodeOp");
    assert_eq!(namespace_of(&op, "the NodeOp").expect("set"), "ops");
    op.metadata.namespace = None;
    let e = namespace_of(&op, "the NodeOp").expect_err("missing");
    assert_eq!(
        e.to_string(),
        "failed to plan the NodeOp: missing field .metadata.namespace"
    );
    assert!(
        !e.is_transient(),
        "retried slowly, as an object that makes no sense"
    );
}

fn api(code: u16, reason: &str) -> kube::Error {
    kube::Error::Api(Box::new(
        kube::core::Status::failure("refused", reason).with_code(code),
    ))
}

#[test]
fn a_conflict_is_retried_at_once_whatever_the_step() {
    for e in [
        Error::Observe {
            what: "get the lease".into(),
            source: api(409, "Conflict"),
        },
        Error::Apply {
            what: "cordon n1".into(),
            source: api(409, "Conflict"),
        },
        Error::Report {
            name: "op".into(),
            source: api(409, "Conflict"),
        },
    ] {
        assert!(e.is_conflict(), "{e}");
        assert_eq!(e.first_retry(), Duration::from_millis(100), "{e}");
    }
}

#[test]
fn a_forbidden_request_waits_as_long_as_the_longest_watch_backoff() {
    let e = Error::Apply {
        what: "create the job".into(),
        source: api(403, "Forbidden"),
    };
    assert!(!e.is_conflict());
    assert_eq!(e.first_retry(), FORBIDDEN_RETRY);
    assert_eq!(FORBIDDEN_RETRY, Duration::from_secs(30));
}

#[test]
fn an_api_hiccup_or_a_bug_is_retried_after_a_second() {
    let hiccup = Error::Observe {
        what: "list nodes".into(),
        source: api(500, "InternalError"),
    };
    assert_eq!(hiccup.first_retry(), Duration::from_secs(1));
    let bug = Error::Internal("serialization failed".into());
    assert!(bug.is_transient());
    assert_eq!(bug.first_retry(), Duration::from_secs(1));
}

#[test]
fn an_object_without_its_metadata_waits_a_minute() {
    let e = Error::MissingMetadata(kairos_core::meta::MissingField {
        what: "the upgrade",
        field: ".metadata.uid",
    });
    assert_eq!(e.first_retry(), Duration::from_secs(60));
    assert_eq!(e.category(), "invalid-object");
}

#[test]
fn messages_name_the_step_and_categories_stay_bounded() {
    let observe = Error::Observe {
        what: "list nodes".into(),
        source: api(500, "InternalError"),
    };
    assert!(
        observe.to_string().starts_with("failed to list nodes: "),
        "{observe}"
    );
    assert_eq!(observe.category(), "observe");
    let report = Error::Report {
        name: "op".into(),
        source: api(500, "InternalError"),
    };
    assert!(
        report
            .to_string()
            .starts_with("failed to write the status of op: "),
        "{report}"
    );
    assert_eq!(report.category(), "report");
    let apply = Error::Apply {
        what: "cordon n1".into(),
        source: api(500, "InternalError"),
    };
    assert_eq!(apply.category(), "apply");
    assert_eq!(Error::Internal("x".into()).category(), "internal");
}
