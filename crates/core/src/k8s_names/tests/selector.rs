//! Table tests of label selector matching, and of the requirements it refuses. Test-only; no
//! I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::json;

use crate::k8s_names::{SelectorProblem, matches};

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
        assert!(matches(&bad, &labels).is_err(), "{bad:?}");
    }
}

#[test]
fn selectors_written_in_yaml_follow_kubernetes_semantics() {
    let labels = BTreeMap::from([
        ("a".to_owned(), "1".to_owned()),
        ("b".to_owned(), "2".to_owned()),
    ]);
    let cases = [
        ("{}", true),
        ("matchLabels: {a: \"1\"}", true),
        ("matchLabels: {a: \"2\"}", false),
        (
            "matchExpressions: [{key: a, operator: In, values: [\"1\", \"3\"]}]",
            true,
        ),
        (
            "matchExpressions: [{key: a, operator: NotIn, values: [\"1\"]}]",
            false,
        ),
        (
            "matchExpressions: [{key: c, operator: NotIn, values: [\"1\"]}]",
            true,
        ),
        ("matchExpressions: [{key: b, operator: Exists}]", true),
        (
            "matchExpressions: [{key: b, operator: DoesNotExist}]",
            false,
        ),
        (
            "{matchLabels: {a: \"1\"}, matchExpressions: [{key: c, operator: Exists}]}",
            false,
        ),
    ];
    for (yaml, expected) in cases {
        let sel = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(matches(&sel, &labels), Ok(expected), "{yaml}");
    }
    let bad = serde_yaml::from_str("matchExpressions: [{key: a, operator: In}]").unwrap();
    assert!(matches(&bad, &labels).is_err());
}

#[test]
fn invalid_requirements_are_errors_whatever_the_labels() {
    let none = BTreeMap::new();
    let error = |key: &str, op: &str, values: serde_json::Value| {
        let s = sel(json!({"matchLabels": {"absent": "x"}, "matchExpressions": [
            {"key": key, "operator": op, "values": values}]}));
        matches(&s, &none).unwrap_err()
    };
    let cases = [
        ("In", json!([]), SelectorProblem::NeedsValues),
        ("NotIn", json!(null), SelectorProblem::NeedsValues),
        ("Exists", json!(["a"]), SelectorProblem::TakesNoValues),
        ("DoesNotExist", json!(["a"]), SelectorProblem::TakesNoValues),
        ("Gt", json!(["1"]), SelectorProblem::UnknownOperator),
        ("in", json!(["a"]), SelectorProblem::UnknownOperator),
    ];
    for (op, values, problem) in cases {
        let e = error("zone", op, values);
        assert_eq!(
            (e.key.as_str(), e.operator.as_str(), e.problem),
            ("zone", op, problem)
        );
    }
    assert_eq!(
        error("zone", "In", json!([])).to_string(),
        "operator In on key \"zone\" needs values"
    );
    assert_eq!(
        error("zone", "Exists", json!(["a"])).to_string(),
        "operator Exists on key \"zone\" takes no values"
    );
    assert_eq!(
        error("zone", "Gt", json!(["1"])).to_string(),
        "unknown operator \"Gt\" on key \"zone\""
    );
}
