//! Table tests of label selector matching.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::json;

use crate::upgrade::selector::matches;

fn sel(v: serde_json::Value) -> LabelSelector {
    serde_json::from_value(v).unwrap()
}

#[test]
fn selectors_follow_kubernetes_semantics() {
    let labels: BTreeMap<String, String> = [
        ("role".to_owned(), "worker".to_owned()),
        ("zone".to_owned(), "a".to_owned()),
    ]
    .into();
    let expr = |op: &str, values: serde_json::Value| {
        sel(json!({"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}))
    };
    let table = [
        (sel(json!({})), true),
        (sel(json!({"matchLabels": {"role": "worker"}})), true),
        (
            sel(json!({"matchLabels": {"role": "worker", "zone": "b"}})),
            false,
        ),
        (expr("In", json!(["a", "b"])), true),
        (expr("In", json!(["b"])), false),
        (expr("NotIn", json!(["b"])), true),
        (expr("NotIn", json!(["a"])), false),
        (expr("Exists", json!([])), true),
        (expr("DoesNotExist", json!([])), false),
        (
            sel(
                json!({"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["x"]}]}),
            ),
            true,
        ),
        (
            sel(json!({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]})),
            true,
        ),
        (
            sel(
                json!({"matchLabels": {"role": "worker"}, "matchExpressions": [{"key": "gpu", "operator": "Exists"}]}),
            ),
            false,
        ),
    ];
    for (s, want) in table {
        assert_eq!(matches(&s, &labels), Ok(want), "{s:?}");
    }
    for bad in [
        expr("In", json!([])),
        expr("Exists", json!(["a"])),
        expr("Gt", json!(["1"])),
    ] {
        let err = matches(&bad, &labels).unwrap_err();
        assert!(err.starts_with("invalid nodeSelector"), "{err}");
    }
}
