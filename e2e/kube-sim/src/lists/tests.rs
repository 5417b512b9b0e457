//! Tests of list kinds, element paths and the merge of applied configurations.

use super::*;
use serde_json::json;

#[test]
fn schema_list_types_and_element_paths() {
    let schema = json!({"properties": {"status": {"properties": {
        "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"], "items": {"type": "object"}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set"},
        "plain": {"type": "array"}}}}});
    let l = Lists::new(Some(&schema));
    let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        l.kind(&p(&["status", "conditions"])),
        ListKind::Map(vec!["type".into()])
    );
    assert_eq!(l.kind(&p(&["status", "tags"])), ListKind::Set);
    assert_eq!(l.kind(&p(&["status", "plain"])), ListKind::Atomic);
    assert_eq!(l.kind(&p(&["metadata", "finalizers"])), ListKind::Set);
    let mut obj = json!({"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]}});
    let seg = elem_seg(&ListKind::Map(vec!["type".into()]), &json!({"type": "B"})).unwrap();
    assert_eq!(seg, r#"k:{"type":"B"}"#);
    let path = p(&["status", "conditions", &seg, "status"]);
    assert_eq!(value_at(&obj, &path), Some(&json!("False")));
    remove_at(&mut obj, &p(&["status", "conditions", &seg, "."]));
    assert_eq!(obj["status"]["conditions"].as_array().unwrap().len(), 1);
}

fn path(segs: &[&str]) -> Vec<String> {
    segs.iter().map(|s| (*s).to_owned()).collect()
}

fn merged(lists: &Lists<'_>, mut target: Value, applied: Value) -> Value {
    merge_into(lists, &mut target, &applied, &mut vec![]);
    target
}

#[test]
fn taints_are_keyed_by_key_and_effect() {
    let l = Lists::new_const();
    let kind = l.kind(&path(&["spec", "taints"]));
    assert_eq!(kind, ListKind::Map(vec!["key".into(), "effect".into()]));
    assert_eq!(
        elem_seg(
            &kind,
            &json!({"key": "a", "effect": "NoSchedule", "value": "x"})
        )
        .as_deref(),
        Some(r#"k:{"effect":"NoSchedule","key":"a"}"#)
    );
    assert_eq!(elem_seg(&kind, &json!({"key": "a"})), None, "a missing key");
}

#[test]
fn set_elements_are_addressed_by_their_json_value() {
    let seg = elem_seg(&ListKind::Set, &json!("kubernetes")).expect("a segment");
    assert_eq!(seg, r#"v:"kubernetes""#);
    let arr = [json!("a"), json!("kubernetes")];
    assert_eq!(find(&arr, &seg), Some(1));
    assert_eq!(find(&arr, r#"v:"b""#), None);
    assert_eq!(find(&arr, "v:not json"), None);
}

#[test]
fn a_path_through_a_missing_element_or_field_has_no_value() {
    let obj = json!({"status": {"conditions": [{"type": "A"}]}});
    assert_eq!(
        value_at(&obj, &path(&["status", "conditions", r#"k:{"type":"B"}"#])),
        None
    );
    assert_eq!(value_at(&obj, &path(&["spec", "x"])), None);
    assert_eq!(
        value_at(&obj, &path(&["status", r#"k:{"type":"A"}"#])),
        None,
        "an element segment on a map"
    );
}

#[test]
fn removing_a_field_or_a_set_element_leaves_the_rest() {
    let mut obj = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}}});
    remove_at(&mut obj, &path(&["metadata", "finalizers", r#"v:"a""#]));
    remove_at(&mut obj, &path(&["metadata", "labels", "x"]));
    remove_at(&mut obj, &path(&["metadata", "labels", "missing"]));
    remove_at(&mut obj, &path(&[]));
    assert_eq!(
        obj,
        json!({"metadata": {"finalizers": ["b"], "labels": {"y": "2"}}})
    );
}

#[test]
fn an_applied_map_list_merges_by_key_and_keeps_other_elements() {
    let out = merged(
        &Lists::new_const(),
        json!({"status": {"conditions": [{"type": "A", "status": "True", "reason": "x"}, {"type": "B", "status": "False"}]}}),
        json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "C", "status": "True"}]}}),
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "A", "status": "False", "reason": "x"},
            {"type": "B", "status": "False"},
            {"type": "C", "status": "True"},
        ])
    );
}

#[test]
fn an_applied_set_takes_the_union() {
    let out = merged(
        &Lists::new_const(),
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
}

#[test]
fn an_atomic_list_is_replaced_whole() {
    let out = merged(
        &Lists::new_const(),
        json!({"spec": {"command": ["a", "b"]}}),
        json!({"spec": {"command": ["c"]}}),
    );
    assert_eq!(out["spec"]["command"], json!(["c"]));
}

#[test]
fn an_applied_element_without_its_key_makes_the_list_atomic() {
    let out = merged(
        &Lists::new_const(),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
        json!({"spec": {"containers": [{"image": "x"}]}}),
    );
    assert_eq!(out["spec"]["containers"], json!([{"image": "x"}]));
}

#[test]
fn a_schema_path_through_map_values_and_list_items_finds_nested_lists() {
    let schema = json!({"properties": {"spec": {"properties": {
        "pools": {"type": "object", "additionalProperties": {"properties": {
            "nodes": {"type": "array", "x-kubernetes-list-type": "set"}}}},
        "steps": {"type": "array", "items": {"properties": {
            "env": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}}}},
    }}}});
    let l = Lists::new(Some(&schema));
    assert_eq!(
        l.kind(&path(&["spec", "pools", "a", "nodes"])),
        ListKind::Set
    );
    assert_eq!(
        l.kind(&path(&["spec", "steps", r#"k:{"id":"1"}"#, "env"])),
        ListKind::Map(vec!["name".into()])
    );
    assert_eq!(l.kind(&path(&["spec", "unknown", "x"])), ListKind::Atomic);
}
