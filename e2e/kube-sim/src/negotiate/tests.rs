//! Tests of `Accept` negotiation and strict field validation.

use std::collections::HashMap;

use axum::http::Method;
use serde_json::json;

use super::*;
use crate::authn::UserInfo;
use crate::registry::builtins;

fn call(accept: &str, query: &[(&str, &str)]) -> Call {
    Call {
        method: Method::POST,
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        accept: accept.to_owned(),
        content_type: "application/json".into(),
        manager: "m".into(),
        client: "c".into(),
        user: UserInfo::admin(),
        body: bytes::Bytes::new(),
    }
}

fn custom_target() -> Target {
    let mut rt = builtins()
        .into_iter()
        .find(|rt| rt.plural == "configmaps")
        .expect("configmaps");
    rt.schema = Some(std::sync::Arc::new(
        json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"image": {"type": "string"}}}}}),
    ));
    Target {
        rt,
        namespace: Some("ns".into()),
        name: None,
        sub: None,
    }
}

#[test]
fn kubectl_and_kube_metadata_requests_are_recognised() {
    let table = call(
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        &[],
    );
    assert!(wants_table(&table) && !wants_metadata(&table));
    let meta = call(
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
        &[],
    );
    assert!(wants_metadata(&meta) && !wants_table(&meta));
    let plain = call("application/json", &[]);
    assert!(!wants_metadata(&plain) && !wants_table(&plain));
}

#[test]
fn strict_validation_refuses_unknown_fields_naming_each() {
    let obj = json!({"metadata": {"name": "x"}, "spec": {"image": "i", "imagePullPolicy": "Always", "extra": 1}});
    let err = strict_check(
        &custom_target(),
        &call("application/json", &[("fieldValidation", "Strict")]),
        &obj,
    )
    .expect_err("strict");
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "strict decoding error: unknown field \"spec.extra\", unknown field \"spec.imagePullPolicy\""
    );
}

#[test]
fn unknown_fields_pass_without_strict_validation_or_a_schema() {
    let obj = json!({"spec": {"extra": 1}});
    for mode in ["Warn", "Ignore"] {
        let c = call("application/json", &[("fieldValidation", mode)]);
        assert_eq!(strict_check(&custom_target(), &c, &obj), Ok(()), "{mode}");
    }
    let mut builtin = custom_target();
    builtin.rt.schema = None;
    let c = call("application/json", &[("fieldValidation", "Strict")]);
    assert_eq!(strict_check(&builtin, &c, &obj), Ok(()));
}

#[test]
fn a_partial_object_keeps_only_the_metadata() {
    assert_eq!(
        partial(&json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}})),
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "p"}})
    );
}
