//! Tests of merge, JSON and strategic merge patches.

use serde_json::{Value, json};

use super::*;

fn patched(kind: PatchKind, target: Value, patch: Value) -> Value {
    apply_patch(kind, &target, patch.to_string().as_bytes()).expect("patch applies")
}

fn strategic(mut target: Value, patch: Value) -> Value {
    strategic_merge(&mut target, &patch, "");
    target
}

#[test]
fn strategic_merges_conditions_by_type() {
    let t = strategic(
        json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "A", "status": "True"}]}}),
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    assert_eq!(t["status"]["conditions"][0]["status"], "True");
    assert_eq!(t["status"]["conditions"][1]["type"], "A");
}

#[test]
fn json_patch_failure_is_invalid() {
    let err = apply_patch(
        PatchKind::Json,
        &json!({}),
        br#"[{"op":"test","path":"/a","value":1}]"#,
    )
    .unwrap_err();
    assert_eq!(err.code, 422);
    assert_eq!(err.reason, "Invalid");
}

#[test]
fn content_types_are_recognised_with_parameters() {
    let table = [
        ("application/merge-patch+json", Some(PatchKind::Merge)),
        (
            "application/merge-patch+json; charset=utf-8",
            Some(PatchKind::Merge),
        ),
        ("application/json-patch+json", Some(PatchKind::Json)),
        (
            "application/strategic-merge-patch+json",
            Some(PatchKind::Strategic),
        ),
        ("application/apply-patch+yaml", Some(PatchKind::Apply)),
        ("application/apply-patch+json", Some(PatchKind::Apply)),
        ("application/json", None),
        ("", None),
    ];
    for (ct, kind) in table {
        assert_eq!(PatchKind::from_content_type(ct), kind, "{ct}");
    }
}

#[test]
fn a_merge_patch_null_removes_a_key_and_maps_merge() {
    let out = patched(
        PatchKind::Merge,
        json!({"metadata": {"labels": {"a": "1", "b": "2"}, "name": "x"}}),
        json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
    );
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"b": "2", "c": "3"}, "name": "x"}})
    );
}

#[test]
fn a_merge_patch_replaces_lists_whole() {
    let out = patched(
        PatchKind::Merge,
        json!({"spec": {"taints": [{"key": "a"}, {"key": "b"}]}}),
        json!({"spec": {"taints": [{"key": "c"}]}}),
    );
    assert_eq!(out, json!({"spec": {"taints": [{"key": "c"}]}}));
}

#[test]
fn a_json_patch_applies_its_operations_in_order() {
    let out = apply_patch(
        PatchKind::Json,
        &json!({"spec": {"unschedulable": false}, "metadata": {"labels": {"a": "1"}}}),
        br#"[{"op":"replace","path":"/spec/unschedulable","value":true},
             {"op":"add","path":"/metadata/labels/b","value":"2"},
             {"op":"remove","path":"/metadata/labels/a"}]"#,
    )
    .expect("patch applies");
    assert_eq!(
        out,
        json!({"spec": {"unschedulable": true}, "metadata": {"labels": {"b": "2"}}})
    );
}

#[test]
fn a_failing_json_patch_leaves_nothing_half_applied_in_the_target() {
    let target = json!({"a": 1});
    let err = apply_patch(
        PatchKind::Json,
        &target,
        br#"[{"op":"add","path":"/b","value":2},{"op":"remove","path":"/missing"}]"#,
    )
    .expect_err("second operation fails");
    assert_eq!(err.code, 422);
    assert_eq!(target, json!({"a": 1}));
}

#[test]
fn a_json_patch_that_is_not_a_list_of_operations_is_a_bad_request() {
    let err = apply_patch(PatchKind::Json, &json!({}), br#"{"op":"add"}"#).expect_err("not a list");
    assert_eq!(err.code, 400);
    assert!(
        err.message.starts_with("error decoding json patch"),
        "{}",
        err.message
    );
}

#[test]
fn a_body_that_is_not_json_is_a_bad_request() {
    for kind in [PatchKind::Merge, PatchKind::Json, PatchKind::Strategic] {
        let err = apply_patch(kind, &json!({}), b"{not json").expect_err("bad body");
        assert_eq!(err.code, 400, "{kind:?}");
        assert!(err.message.starts_with("error decoding patch"), "{kind:?}");
    }
}

#[test]
fn an_apply_patch_is_not_applied_as_a_plain_patch() {
    let err = apply_patch(PatchKind::Apply, &json!({}), b"{}").expect_err("apply");
    assert_eq!(err.code, 500);
}

#[test]
fn strategic_finalizers_are_a_set_union() {
    let out = strategic(
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["b", "c"]}}),
    );
    assert_eq!(out, json!({"metadata": {"finalizers": ["a", "b", "c"]}}));
}

#[test]
fn strategic_containers_merge_by_name_and_new_ones_are_appended() {
    let out = strategic(
        json!({"spec": {"containers": [
            {"name": "app", "image": "app:1", "args": ["x"]},
            {"name": "side", "image": "side:1"},
        ]}}),
        json!({"spec": {"containers": [
            {"name": "side", "image": "side:2"},
            {"name": "new", "image": "new:1"},
        ]}}),
    );
    assert_eq!(
        out,
        json!({"spec": {"containers": [
            {"name": "app", "image": "app:1", "args": ["x"]},
            {"name": "side", "image": "side:2"},
            {"name": "new", "image": "new:1"},
        ]}})
    );
}

#[test]
fn strategic_nested_keyed_lists_merge_too() {
    let out = strategic(
        json!({"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}),
        json!({"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "3"}]}]}}),
    );
    assert_eq!(
        out["spec"]["containers"][0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
    );
}

#[test]
fn strategic_taints_merge_by_key_and_owner_references_by_uid() {
    let out = strategic(
        json!({
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]},
            "metadata": {"ownerReferences": [{"uid": "1", "name": "x"}]},
        }),
        json!({
            "spec": {"taints": [{"key": "a", "effect": "NoExecute"}, {"key": "b", "effect": "NoSchedule"}]},
            "metadata": {"ownerReferences": [{"uid": "2", "name": "y"}]},
        }),
    );
    assert_eq!(
        out["spec"]["taints"],
        json!([{"key": "a", "effect": "NoExecute"}, {"key": "b", "effect": "NoSchedule"}])
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "1", "name": "x"}, {"uid": "2", "name": "y"}])
    );
}

#[test]
fn strategic_lists_without_a_merge_key_are_replaced() {
    let out = strategic(
        json!({"spec": {"containers": [{"name": "app", "args": ["a", "b"]}]}}),
        json!({"spec": {"containers": [{"name": "app", "args": ["c"]}]}}),
    );
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["c"]));
}

#[test]
fn strategic_elements_without_their_key_are_appended() {
    let out = strategic(
        json!({"status": {"conditions": [{"type": "Ready"}]}}),
        json!({"status": {"conditions": [{"status": "True"}]}}),
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready"}, {"status": "True"}])
    );
}

#[test]
fn strategic_null_removes_a_key_and_directives_are_ignored() {
    let out = strategic(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"a": null}, "$setElementOrder/finalizers": ["x"]}, "$patch": "replace"}),
    );
    assert_eq!(out, json!({"metadata": {"labels": {"b": "2"}}}));
}

#[test]
fn strategic_a_map_patch_replaces_a_scalar_and_a_scalar_patch_replaces_a_map() {
    assert_eq!(
        strategic(json!({"spec": "x"}), json!({"spec": {"a": 1}})),
        json!({"spec": {"a": 1}})
    );
    assert_eq!(
        strategic(json!({"spec": {"a": 1}}), json!({"spec": 2})),
        json!({"spec": 2})
    );
}
