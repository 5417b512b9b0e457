//! Tests of the `Status` errors: wording, codes and details as a real server writes them.

use serde_json::json;

use super::*;

#[test]
fn not_found_names_the_group_qualified_resource() {
    let core = ApiError::not_found("pods", "", "p");
    assert_eq!((core.code, core.reason), (404, "NotFound"));
    assert_eq!(core.message, "pods \"p\" not found");
    let custom = ApiError::not_found("nodeops", "operator.kairos.io", "op");
    assert_eq!(
        custom.message,
        "nodeops.operator.kairos.io \"op\" not found"
    );
    assert_eq!(
        custom.details,
        Some(json!({"name": "op", "group": "operator.kairos.io", "kind": "nodeops"}))
    );
}

#[test]
fn already_exists_and_conflict_are_409_with_their_reasons() {
    let exists = ApiError::already_exists("jobs", "batch", "j");
    assert_eq!((exists.code, exists.reason), (409, "AlreadyExists"));
    assert_eq!(exists.message, "jobs.batch \"j\" already exists");
    let conflict = ApiError::conflict("nodes", "", "n1");
    assert_eq!((conflict.code, conflict.reason), (409, "Conflict"));
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on nodes \"n1\": the object has been modified; please apply your changes to the latest version and try again"
    );
}

#[test]
fn one_field_error_stands_alone_and_several_are_bracketed() {
    let one = ApiError::invalid_fields(
        "operator.kairos.io",
        "NodeOp",
        "op",
        &["spec.command: Required value".into()],
    );
    assert_eq!(
        one.message,
        "NodeOp.operator.kairos.io \"op\" is invalid: spec.command: Required value"
    );
    let many = ApiError::invalid_fields(
        "",
        "Pod",
        "p",
        &["a: Required value".into(), "b: Invalid value: 1".into()],
    );
    assert_eq!(
        many.message,
        "Pod \"p\" is invalid: [a: Required value, b: Invalid value: 1]"
    );
}

#[test]
fn field_error_causes_carry_the_field_and_the_reason_of_their_kind() {
    let errors: Vec<String> = [
        "spec.a: Required value",
        "spec.b: Unsupported value: \"x\": supported values: \"y\"",
        "spec.c: Too long: may not be more than 63 bytes",
        "spec.d: Too many: 3: must have at most 2 items",
        "spec.e: Forbidden: may not be set",
        "spec.f: Invalid value: \"x\": must be a number",
        "no field here",
    ]
    .map(String::from)
    .to_vec();
    let err = ApiError::invalid_fields("g", "K", "n", &errors);
    let causes = &err.details.expect("details")["causes"];
    let reasons: Vec<(&str, &str)> = causes
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| {
            (
                c["field"].as_str().expect("field"),
                c["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("spec.a", "FieldValueRequired"),
            ("spec.b", "FieldValueNotSupported"),
            ("spec.c", "FieldValueTooLong"),
            ("spec.d", "FieldValueTooMany"),
            ("spec.e", "FieldValueForbidden"),
            ("spec.f", "FieldValueInvalid"),
            ("", "FieldValueInvalid"),
        ]
    );
    assert_eq!(causes[0]["message"], "Required value");
    assert_eq!(causes[6]["message"], "no field here");
}

#[test]
fn a_status_is_a_failure_with_code_message_reason_and_details() {
    let err = ApiError::too_many_requests(
        "Cannot evict pod as it would violate the pod's disruption budget.",
        json!([{"reason": "DisruptionBudget"}]),
    );
    assert_eq!(
        err.status(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "code": 429, "reason": "TooManyRequests",
            "details": {"causes": [{"reason": "DisruptionBudget"}]},
        })
    );
}

#[test]
fn an_etcd_size_refusal_is_a_500_without_reason() {
    let status = ApiError::etcd_request_too_large().status();
    assert_eq!(status["code"], 500);
    assert_eq!(status["message"], "etcdserver: request is too large");
    assert!(status.get("reason").is_none());
}

#[test]
fn simple_errors_carry_the_code_and_reason_of_the_real_server() {
    let table = [
        (ApiError::bad_request("x"), 400, "BadRequest"),
        (ApiError::unauthorized(), 401, "Unauthorized"),
        (ApiError::forbidden("x"), 403, "Forbidden"),
        (ApiError::no_route("/x"), 404, "NotFound"),
        (ApiError::method_not_allowed("x"), 405, "MethodNotAllowed"),
        (ApiError::expired("x"), 410, "Expired"),
        (
            ApiError::request_entity_too_large(3),
            413,
            "RequestEntityTooLarge",
        ),
        (
            ApiError::unsupported_media("a/b"),
            415,
            "UnsupportedMediaType",
        ),
        (ApiError::internal("x"), 500, "InternalError"),
        (ApiError::unavailable("x"), 503, "ServiceUnavailable"),
    ];
    for (err, code, reason) in table {
        assert_eq!((err.code, err.reason), (code, reason), "{}", err.message);
    }
    assert_eq!(
        ApiError::request_entity_too_large(3145728).message,
        "Request entity too large: limit is 3145728"
    );
    assert!(
        ApiError::unsupported_media("application/vnd.kubernetes.protobuf")
            .message
            .ends_with("(got \"application/vnd.kubernetes.protobuf\")")
    );
}
