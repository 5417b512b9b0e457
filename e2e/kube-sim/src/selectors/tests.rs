//! Tests of label and field selector parsing and matching.

use serde_json::{Value, json};

use super::*;

fn labels_select(selector: &str, labels: &Value) -> bool {
    labels_match(&parse_labels(selector).expect("valid selector"), labels)
}

fn fields_select(selector: &str, obj: &Value) -> bool {
    fields_match(&parse_fields(selector).expect("valid selector"), obj)
}

#[test]
fn label_selector_operators() {
    let l = json!({"a": "1", "b": "2"});
    let m = |s: &str| labels_select(s, &l);
    assert!(m("a=1,b==2"));
    assert!(!m("a!=1"));
    assert!(m("a in (1, 3),b notin (3)"));
    assert!(!m("b notin (2)"));
    assert!(m("a,!c"));
    assert!(!m("c"));
    assert!(m(""));
}

#[test]
fn not_equal_matches_an_object_without_the_label() {
    assert!(labels_select("tier!=web", &json!({"app": "x"})));
    assert!(labels_select("tier!=web", &json!({})));
    assert!(!labels_select("tier!=web", &json!({"tier": "web"})));
}

#[test]
fn notin_matches_an_object_without_the_label_and_in_does_not() {
    let labels = json!({"app": "x"});
    assert!(labels_select("tier notin (web,db)", &labels));
    assert!(!labels_select("tier in (web,db)", &labels));
}

#[test]
fn an_equality_with_an_empty_value_matches_only_an_empty_label() {
    assert!(labels_select("a=", &json!({"a": ""})));
    assert!(!labels_select("a=", &json!({"a": "1"})));
    assert!(!labels_select("a=", &json!({})));
}

#[test]
fn label_values_are_compared_case_sensitively() {
    assert!(!labels_select("env=Prod", &json!({"env": "prod"})));
    assert!(!labels_select("env in (PROD)", &json!({"env": "prod"})));
}

#[test]
fn commas_inside_a_value_set_do_not_split_requirements() {
    assert_eq!(
        parse_labels("a in (1,2),b").expect("valid selector"),
        vec![
            LabelReq::In("a".into(), vec!["1".into(), "2".into()]),
            LabelReq::Exists("b".into()),
        ]
    );
}

#[test]
fn spaces_around_keys_operators_and_set_values_are_ignored() {
    assert_eq!(
        parse_labels(" a = 1 , b != 2 , c notin ( x , y ) , ! d ").expect("valid selector"),
        vec![
            LabelReq::Eq("a".into(), "1".into()),
            LabelReq::NotEq("b".into(), "2".into()),
            LabelReq::NotIn("c".into(), vec!["x".into(), "y".into()]),
            LabelReq::NotExists("d".into()),
        ]
    );
}

#[test]
fn prefixed_label_keys_are_kept_whole() {
    let labels = json!({"kairos.io/managed": "true", "node-role.kubernetes.io/control-plane": ""});
    assert!(labels_select(
        "kairos.io/managed=true,node-role.kubernetes.io/control-plane",
        &labels
    ));
    assert!(!labels_select(
        "!node-role.kubernetes.io/control-plane",
        &labels
    ));
}

#[test]
fn a_value_set_without_parentheses_is_a_bad_request() {
    let err = parse_labels("a in 1").expect_err("set needs parentheses");
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "unable to parse requirement: found '1', expected: '('"
    );
}

#[test]
fn an_empty_value_set_is_a_bad_request() {
    for selector in ["a in ()", "a notin ( )", "a in (,)"] {
        let err = parse_labels(selector).expect_err(selector);
        assert_eq!(err.code, 400, "{selector}");
    }
}

#[test]
fn a_key_followed_by_an_unknown_word_is_a_bad_request() {
    for selector in ["a b", "a exists", "a(1)"] {
        let err = parse_labels(selector).expect_err(selector);
        assert_eq!(err.code, 400, "{selector}");
        assert!(
            err.message.starts_with("unable to parse requirement"),
            "{}",
            err.message
        );
    }
}

#[test]
fn a_non_string_label_value_matches_no_value_and_no_existence() {
    let labels = json!({"a": 1});
    assert!(!labels_select("a=1", &labels));
    assert!(!labels_select("a", &labels));
}

#[test]
fn an_empty_selector_object_matches_every_object() {
    assert!(label_selector_object_matches(&json!({}), &json!({})));
    assert!(label_selector_object_matches(
        &json!({}),
        &json!({"app": "x"})
    ));
}

#[test]
fn a_selector_object_needs_its_labels_and_every_expression() {
    let sel = json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    });
    assert!(label_selector_object_matches(
        &sel,
        &json!({"app": "web", "tier": "edge"})
    ));
    assert!(!label_selector_object_matches(
        &sel,
        &json!({"app": "web", "tier": "back"})
    ));
    assert!(!label_selector_object_matches(
        &sel,
        &json!({"app": "web", "tier": "edge", "canary": "1"})
    ));
    assert!(!label_selector_object_matches(
        &sel,
        &json!({"app": "db", "tier": "edge"})
    ));
}

#[test]
fn selector_object_exists_and_notin_expressions() {
    let sel = json!({"matchExpressions": [
        {"key": "zone", "operator": "Exists"},
        {"key": "env", "operator": "NotIn", "values": ["prod"]},
    ]});
    assert!(label_selector_object_matches(&sel, &json!({"zone": "a"})));
    assert!(label_selector_object_matches(
        &sel,
        &json!({"zone": "a", "env": "dev"})
    ));
    assert!(!label_selector_object_matches(
        &sel,
        &json!({"zone": "a", "env": "prod"})
    ));
    assert!(!label_selector_object_matches(&sel, &json!({"env": "dev"})));
}

#[test]
fn field_selector_matches_node_name() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
    assert!(fields_select("spec.nodeName=n1", &pod));
    assert!(!fields_select("spec.nodeName!=n1", &pod));
    assert!(parse_fields("spec.foo=x").is_err());
}

#[test]
fn a_missing_field_reads_as_empty() {
    let unscheduled = json!({"metadata": {"name": "p"}, "spec": {}});
    assert!(fields_select("spec.nodeName=", &unscheduled));
    assert!(!fields_select("spec.nodeName!=", &unscheduled));
    assert!(fields_select("spec.nodeName!=n1", &unscheduled));
}

#[test]
fn a_boolean_field_compares_as_true_or_false() {
    let cordoned = json!({"spec": {"unschedulable": true}});
    assert!(fields_select("spec.unschedulable=true", &cordoned));
    assert!(!fields_select("spec.unschedulable=false", &cordoned));
}

#[test]
fn a_node_without_unschedulable_is_schedulable() {
    let node = json!({"metadata": {"name": "n1"}, "spec": {}});
    assert!(fields_select("spec.unschedulable=false", &node));
    assert!(!fields_select("spec.unschedulable=true", &node));
}

#[test]
fn every_field_requirement_must_hold() {
    let event = json!({
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns"},
        "type": "Warning",
        "reason": "Failed",
    });
    assert!(fields_select(
        "involvedObject.kind==Pod,involvedObject.name=p,type=Warning",
        &event
    ));
    assert!(!fields_select(
        "involvedObject.kind=Pod,involvedObject.name=q",
        &event
    ));
    assert!(fields_select(
        "reason!=Started, involvedObject.namespace=ns",
        &event
    ));
}

#[test]
fn a_field_requirement_without_an_operator_is_a_bad_request() {
    let err = parse_fields("metadata.name").expect_err("no operator");
    assert_eq!(err.code, 400);
    assert_eq!(err.message, "invalid selector: 'metadata.name'");
}

#[test]
fn an_unsupported_field_is_a_bad_request_naming_it() {
    let err = parse_fields("metadata.name=a,status.podIP=1.2.3.4").expect_err("unsupported");
    assert_eq!(err.code, 400);
    assert_eq!(err.message, "field label not supported: status.podIP");
}

proptest::proptest! {
    #[test]
    fn selectors_never_panic_on_arbitrary_text(text in ".{0,40}", labels in proptest::collection::btree_map("[a-c]", "[0-2]", 0..3)) {
        let labels = serde_json::to_value(labels).expect("labels");
        if let Ok(reqs) = parse_labels(&text) {
            let _ = labels_match(&reqs, &labels);
        }
        if let Ok(reqs) = parse_fields(&text) {
            let _ = fields_match(&reqs, &labels);
        }
    }
}

#[test]
fn a_selector_object_with_a_bad_expression_is_refused_and_matches_nothing() {
    let sel = json!({"matchExpressions": [
        {"key": "a", "operator": "Equals", "values": ["x"]},
        {"key": "b", "operator": "In"},
        {"key": "c", "operator": "Exists", "values": ["y"]},
        {"key": "d", "operator": "DoesNotExist"},
    ]});
    assert_eq!(
        label_selector_object_errors(&sel, "spec.selector"),
        [
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Equals\": not a valid selector operator",
            "spec.selector.matchExpressions[1].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector.matchExpressions[2].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ]
    );
    let unknown =
        json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]});
    assert!(!label_selector_object_matches(&unknown, &json!({})));
    assert!(!label_selector_object_matches(&unknown, &json!({"a": "x"})));
    let fine = json!({"matchExpressions": [{"key": "d", "operator": "DoesNotExist"}]});
    assert!(label_selector_object_errors(&fine, "spec.selector").is_empty());
}
