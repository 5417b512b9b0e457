//! Tests of CRD structural-schema defaults, pruning and validation.

use super::*;
use serde_json::json;

fn schema() -> Value {
    json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["image"],
        "properties": {"image": {"type": "string"}, "concurrency": {"type": "integer", "minimum": 0, "default": 0},
        "mode": {"type": "string", "enum": ["a", "b"]}}}}})
}

#[test]
fn defaults_prune_and_validate() {
    let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "x": 1}, "spec": {"image": "i", "junk": 1}});
    apply_defaults(&schema(), &mut v);
    prune(&schema(), &mut v, true);
    assert_eq!(v["spec"], json!({"image": "i", "concurrency": 0}));
    assert_eq!(v["metadata"]["x"], 1);
    assert!(validate(&schema(), &v).is_empty());
    let bad = json!({"spec": {"concurrency": -1, "mode": "c"}});
    let errs = validate(&schema(), &bad);
    assert_eq!(errs.len(), 3, "{errs:?}");
}

fn numbers() -> Value {
    json!({"type": "object", "properties": {
        "i32": {"type": "integer", "format": "int32", "minimum": 0},
        "i64": {"type": "integer", "format": "int64"},
        "int": {"type": "integer"},
        "u32": {"type": "integer", "format": "uint32"},
        "f": {"type": "number", "format": "float"},
        "d": {"type": "number", "format": "double"},
        "list": {"type": "array", "items": {"type": "integer", "format": "int32"}}}})
}

fn errors_of(doc: Value) -> Vec<String> {
    validate(&numbers(), &doc)
}

#[test]
fn int32_fields_hold_int32_values_only() {
    assert!(errors_of(json!({"i32": 2_147_483_647})).is_empty());
    assert_eq!(
        errors_of(json!({"i32": 99_999_999_999_i64})),
        [
            "<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in i32"
        ]
    );
    assert_eq!(
        errors_of(json!({"list": [1, 2_147_483_648_i64]})),
        [
            "<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in list[1]"
        ]
    );
    // The range error comes with the schema's other checks.
    assert_eq!(errors_of(json!({"i32": -2_147_483_649_i64})).len(), 2);
}

#[test]
fn int64_and_unformatted_integers_hold_int64_values() {
    assert!(errors_of(json!({"i64": i64::MAX, "int": i64::MIN, "u32": -1})).is_empty());
    assert_eq!(
        errors_of(json!({"i64": u64::MAX})),
        [
            "i64: Invalid value: \"double\": i64 in body must be of type int64: \"double\"",
            "<nil>: Invalid value: \"\": Checked value must be of type integer with format int64 in i64",
        ]
    );
    assert_eq!(
        errors_of(json!({"int": 1.5})),
        [
            "int: Invalid value: \"number\": int in body must be of type integer: \"number\"",
            "<nil>: Invalid value: \"\": Checked value must be of type integer (default format) in int",
        ]
    );
}

#[test]
fn float_numbers_hold_float32_values() {
    assert!(errors_of(json!({"f": 3.4e38, "d": 1e300})).is_empty());
    assert_eq!(
        errors_of(json!({"f": 3.5e38})),
        ["<nil>: Invalid value: \"\": Checked value must be of type number with format float in f"]
    );
}

fn spec_schema(spec: Value) -> Value {
    json!({"type": "object", "properties": {"spec": spec}})
}

fn spec_errors(spec_schema_: Value, spec: Value) -> Vec<String> {
    validate(&spec_schema(spec_schema_), &json!({"spec": spec}))
}

#[test]
fn defaults_reach_list_items_and_map_values() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "retries": {"type": "integer", "default": 3}}}},
        "pools": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 1}}}},
    }}));
    let mut v =
        json!({"spec": {"steps": [{}, {"retries": 0}], "pools": {"a": {}, "b": {"size": 5}}}});
    apply_defaults(&s, &mut v);
    assert_eq!(
        v["spec"],
        json!({"steps": [{"retries": 3}, {"retries": 0}], "pools": {"a": {"size": 1}, "b": {"size": 5}}})
    );
}

#[test]
fn a_default_object_gets_its_own_defaults_too() {
    let s = spec_schema(json!({"type": "object", "default": {}, "properties": {
        "paused": {"type": "boolean", "default": false}}}));
    let mut v = json!({});
    apply_defaults(&s, &mut v);
    assert_eq!(v, json!({"spec": {"paused": false}}));
}

#[test]
fn pruning_keeps_preserved_subtrees_and_map_values() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    }}));
    let mut v = json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"}, "status": {"x": 1}, "spec": {
        "raw": {"anything": {"deep": 1}},
        "labels": {"free": "form"},
        "junk": true,
    }});
    prune(&s, &mut v, true);
    assert_eq!(
        v,
        json!({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": "n"}, "spec": {
            "raw": {"anything": {"deep": 1}},
            "labels": {"free": "form"},
        }})
    );
}

#[test]
fn metadata_is_kept_only_at_the_top() {
    let s = spec_schema(json!({"type": "object", "properties": {"image": {"type": "string"}}}));
    let mut v = json!({"spec": {"image": "i", "metadata": {"name": "x"}}});
    prune(&s, &mut v, true);
    assert_eq!(v, json!({"spec": {"image": "i"}}));
}

#[test]
fn unknown_fields_are_listed_as_dotted_paths() {
    let s = spec_schema(json!({"type": "object", "properties": {
        "image": {"type": "string"},
        "drain": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
    }}));
    let mut unknown = unknown_fields(
        &s,
        &json!({"metadata": {"name": "n"}, "spec": {"image": "i", "imagePullPolicy": "Always", "drain": {"enabled": true, "force": true}}}),
    );
    unknown.sort();
    assert_eq!(unknown, ["spec.drain.force", "spec.imagePullPolicy"]);
}

#[test]
fn a_missing_required_field_is_named_by_its_path() {
    let errs = spec_errors(
        json!({"type": "object", "required": ["command", "image"], "properties": {}}),
        json!({"image": "i"}),
    );
    assert_eq!(errs, ["spec.command: Required value"]);
}

#[test]
fn a_value_outside_its_enum_lists_the_supported_values() {
    let errs = spec_errors(
        json!({"type": "object", "properties": {"mode": {"type": "string", "enum": ["Drain", "Skip"]}}}),
        json!({"mode": "Force"}),
    );
    assert_eq!(
        errs,
        ["spec.mode: Unsupported value: \"Force\": supported values: \"Drain\", \"Skip\""]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_both_types() {
    let errs = spec_errors(
        json!({"type": "object", "properties": {"image": {"type": "string"}}}),
        json!({"image": 5}),
    );
    assert_eq!(
        errs,
        [
            "spec.image: Invalid value: \"number\": spec.image in body must be of type string: \"number\""
        ]
    );
}

#[test]
fn null_is_refused_unless_the_field_is_nullable() {
    let s = json!({"type": "object", "properties": {
        "image": {"type": "string"},
        "window": {"type": "object", "nullable": true},
    }});
    assert_eq!(
        spec_errors(s.clone(), json!({"image": null})),
        ["spec.image: Invalid value: \"null\": spec.image in body must be of type string"]
    );
    assert!(spec_errors(s, json!({"window": null})).is_empty());
}

#[test]
fn int_or_string_takes_integers_and_strings_only() {
    let s = json!({"type": "object", "properties": {
        "maxUnavailable": {"x-kubernetes-int-or-string": true}}});
    assert!(spec_errors(s.clone(), json!({"maxUnavailable": 1})).is_empty());
    assert!(spec_errors(s.clone(), json!({"maxUnavailable": "25%"})).is_empty());
    assert_eq!(
        spec_errors(s.clone(), json!({"maxUnavailable": true})),
        [
            "spec.maxUnavailable: Invalid value: true: spec.maxUnavailable in body must be of type integer or string"
        ]
    );
    assert_eq!(spec_errors(s, json!({"maxUnavailable": 1.5})).len(), 1);
}

#[test]
fn string_lengths_count_characters() {
    let s = json!({"type": "object", "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 3}}});
    assert!(spec_errors(s.clone(), json!({"name": "äöü"})).is_empty());
    assert_eq!(
        spec_errors(s.clone(), json!({"name": "abcd"})),
        ["spec.name: Too long: may not be more than 3 bytes"]
    );
    assert_eq!(
        spec_errors(s, json!({"name": "a"})),
        ["spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"]
    );
}

#[test]
fn list_sizes_are_bounded_and_items_are_checked_by_index() {
    let s = json!({"type": "object", "properties": {
        "command": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}}}});
    assert_eq!(
        spec_errors(s.clone(), json!({"command": []})),
        ["spec.command: Invalid value: 0: spec.command in body should have at least 1 items"]
    );
    assert_eq!(
        spec_errors(s.clone(), json!({"command": ["a", "b", "c"]})),
        ["spec.command: Too many: 3: must have at most 2 items"]
    );
    assert_eq!(
        spec_errors(s, json!({"command": ["a", 1]})),
        [
            "spec.command[1]: Invalid value: \"number\": spec.command[1] in body must be of type string: \"number\""
        ]
    );
}

#[test]
fn bounds_of_numbers_are_inclusive() {
    let s = json!({"type": "object", "properties": {
        "concurrency": {"type": "integer", "minimum": 0, "maximum": 10}}});
    assert!(spec_errors(s.clone(), json!({"concurrency": 0})).is_empty());
    assert!(spec_errors(s.clone(), json!({"concurrency": 10})).is_empty());
    assert_eq!(
        spec_errors(s, json!({"concurrency": 11})),
        [
            "spec.concurrency: Invalid value: 11: spec.concurrency in body should be less than or equal to 10"
        ]
    );
}

#[test]
fn map_values_are_validated_against_additional_properties() {
    let s = json!({"type": "object", "properties": {
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}});
    assert_eq!(
        spec_errors(s, json!({"labels": {"a": "x", "b": 2}})),
        [
            "spec.labels.b: Invalid value: \"number\": spec.labels.b in body must be of type string: \"number\""
        ]
    );
}
