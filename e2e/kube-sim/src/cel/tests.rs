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

/// The `openAPIV3Schema` of the project's CRD `file` (its first version).
fn crd_schema(file: &str) -> Value {
    let path = format!("{}/../../deploy/crds/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// What the library's own walk of the whole object reports, in our wording.
fn whole(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let compiled = compile_schema(schema);
    let mut out: Vec<String> = Validator::new()
        .validate_compiled(&compiled, obj, old)
        .err()
        .map(|e| e.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn only_the_subtrees_with_rules_are_walked_and_the_messages_are_the_librarys() {
    let status = json!({"kairos": {"version": "v3.6.0"}, "bootId": "b", "os": {"name": "x"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "R", "message": "m",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let cases = [
        (
            "kairosnodes.operator.kairos.io.yaml",
            json!({"spec": {}, "status": status}),
        ),
        (
            "kairosnodes.operator.kairos.io.yaml",
            json!({"spec": {"version": "3.x", "image": "i", "recoveryImage": "r",
                "config": {"path": "/etc/x.yaml", "runStage": "Bad Stage",
                    "secretRef": {"name": "s", "key": "k"},
                    "configMapRef": {"name": "c", "key": "k"}}},
                "status": status}),
        ),
        (
            "nodeops.operator.kairos.io.yaml",
            json!({"spec": {"command": ["true"], "hostMountPath": "/", "cordon": false,
                "drainOptions": {"enabled": true}, "postCompleteDelay": "soon",
                "targetNodes": ["a", ""],
                "maintenanceWindow": {"days": ["funday"], "startTime": "25:00", "endTime": "01:00"}}}),
        ),
        (
            "nodeopupgrades.operator.kairos.io.yaml",
            json!({"spec": {"image": "quay.io/kairos/x:v1", "concurrency": 2}}),
        ),
        ("nodeopconfigs.operator.kairos.io.yaml", json!({"spec": {}})),
    ];
    let mut broken = 0;
    for (file, obj) in &cases {
        let schema = crd_schema(file);
        let rules = CelRules::compile(&schema);
        let mut ours = rules.check(obj, Some(obj));
        ours.sort();
        assert_eq!(ours, whole(&schema, obj, Some(obj)), "{file}: {obj}");
        let mut fresh = rules.check(obj, None);
        fresh.sort();
        assert_eq!(fresh, whole(&schema, obj, None), "{file}: {obj}");
        broken += ours.len();
    }
    assert!(broken >= 8, "the broken objects break rules: {broken}");
}
