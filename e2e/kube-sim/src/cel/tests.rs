use serde_json::json;

use super::*;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                {"rule": "!has(oldSelf.max) || self.max >= oldSelf.max", "message": "max never shrinks"}
            ]
        }}
    })
}

#[test]
fn compiled_rules_are_checked_on_every_object_and_transition() {
    let rules = CelRules::compile(&schema());
    let ok = json!({"spec": {"min": 1, "max": 3}});
    assert!(rules.check(&ok, None).is_empty());
    let bad = json!({"spec": {"min": 4, "max": 3}});
    let errs = rules.check(&bad, None);
    assert!(
        errs.iter().any(|e| e.contains("min must not exceed max")),
        "{errs:?}"
    );
    let shrunk = json!({"spec": {"min": 1, "max": 2}});
    let errs = rules.check(&shrunk, Some(&ok));
    assert!(
        errs.iter().any(|e| e.contains("max never shrinks")),
        "{errs:?}"
    );
    assert!(rules.check(&ok, Some(&shrunk)).is_empty());
}

#[test]
fn a_built_in_kind_has_no_rules() {
    let none = CelRules::default();
    assert!(
        none.check(&json!({"spec": {"min": 4, "max": 3}}), None)
            .is_empty()
    );
}
