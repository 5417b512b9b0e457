//! Tests of server-side apply: owned fields, fieldsV1, conflicts and updates.

use super::*;

const T: &str = "2026-01-01T00:00:00Z";
const L: Lists<'static> = Lists::new_const();

#[test]
fn apply_removes_omitted_labels_and_detects_conflicts() {
    let a1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
    let o1 = apply(None, &a1, &L, "m1", false, "", false, T).unwrap();
    let a2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
    let o2 = apply(Some(&o1), &a2, &L, "m1", false, "", false, T).unwrap();
    assert!(o2["metadata"]["labels"].get("b").is_none());
    let a3 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "other"}});
    let err = apply(Some(&o2), &a3, &L, "m2", false, "", false, T).unwrap_err();
    assert_eq!(err.code, 409);
    let o3 = apply(Some(&o2), &a3, &L, "m2", true, "", false, T).unwrap();
    assert_eq!(o3["data"]["k"], "other");
    let es = entries(&o3);
    assert!(es.iter().any(|e| e.manager == "m2"));
}

#[test]
fn a_field_removed_by_an_update_is_nobodys_and_applies_without_conflict() {
    let lists = L;
    let first = json!({"apiVersion": "v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "renewTime": "t1"}});
    let live = apply(None, &first, &lists, "a", false, "", false, T).unwrap();
    // Another writer clears the holder with a plain update (a merge patch with null).
    let mut cleared = live.clone();
    cleared["spec"]
        .as_object_mut()
        .unwrap()
        .remove("holderIdentity");
    record_update(Some(&live), &mut cleared, &lists, "b", "", T);
    let owned: Vec<_> = entries(&cleared)
        .into_iter()
        .flat_map(|e| e.fields)
        .collect();
    assert!(
        !owned
            .iter()
            .any(|p| p.last().map(String::as_str) == Some("holderIdentity"))
    );
    // A third manager now takes the lease with a non-forced apply: no conflict on the
    // field that is gone; renewTime, still owned by `a` with another value, does conflict.
    let take = json!({"apiVersion": "v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {"holderIdentity": "c"}});
    let taken = apply(Some(&cleared), &take, &lists, "c", false, "", false, T).unwrap();
    assert_eq!(taken["spec"]["holderIdentity"], "c");
    let renew = json!({"apiVersion": "v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {"renewTime": "t2"}});
    assert!(apply(Some(&taken), &renew, &lists, "c", false, "", false, T).is_err());
}

#[test]
fn fields_v1_round_trips() {
    let set = leaves(
        &json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["f"]}, "spec": {"x": [1], "y": {"z": true}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        &L,
    );
    let mut back = BTreeSet::new();
    from_fields_v1(&to_fields_v1(&set), vec![], &mut back);
    assert_eq!(set, back);
}

#[test]
fn conditions_are_owned_per_element() {
    let doc = |conds: Value| json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"conditions": conds}});
    let a = apply(
        None,
        &doc(json!([{"type": "A", "status": "True"}])),
        &L,
        "ma",
        false,
        "",
        false,
        T,
    )
    .unwrap();
    let b = apply(
        Some(&a),
        &doc(json!([{"type": "B", "status": "False"}])),
        &L,
        "mb",
        false,
        "",
        false,
        T,
    )
    .unwrap();
    let types: Vec<&str> = b["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["A", "B"], "two managers' conditions merge by type");
    let a2 = apply(Some(&b), &doc(json!([])), &L, "ma", false, "", false, T).unwrap();
    let types: Vec<&str> = a2["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["B"],
        "a condition its manager stops applying goes; the other stays"
    );
    let clash = apply(
        Some(&a2),
        &doc(json!([{"type": "B", "status": "True"}])),
        &L,
        "ma",
        false,
        "",
        false,
        T,
    );
    assert_eq!(
        clash.unwrap_err().code,
        409,
        "changing another manager's condition conflicts"
    );
}

#[test]
fn server_set_metadata_is_never_owned() {
    let set = leaves(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "c", "namespace": "ns", "uid": "u", "resourceVersion": "7", "generation": 1,
            "creationTimestamp": T, "managedFields": [], "labels": {"a": "1"}, "annotations": {"b": "2"},
        }}),
        &L,
    );
    let paths: Vec<String> = set.iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["metadata.annotations.b", "metadata.labels.a"]);
}

#[test]
fn fields_v1_names_fields_and_marks_keyed_elements() {
    let set = leaves(
        &json!({"spec": {"x": 1}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        &L,
    );
    assert_eq!(
        to_fields_v1(&set),
        json!({
            "f:spec": {"f:x": {}},
            "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {
                ".": {}, "f:status": {}, "f:type": {},
            }}},
        })
    );
}

#[test]
fn set_elements_are_owned_by_value_and_atomic_lists_whole() {
    let set = leaves(
        &json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"command": ["sh", "-c"]}}),
        &L,
    );
    assert_eq!(
        to_fields_v1(&set),
        json!({
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}},
            "f:spec": {"f:command": {}},
        })
    );
}

#[test]
fn empty_maps_and_lists_are_owned_as_one_field() {
    let set = leaves(&json!({"spec": {"selector": {}, "taints": []}}), &L);
    let paths: Vec<String> = set.iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["spec.selector", "spec.taints"]);
}

#[test]
fn a_keyed_list_element_without_its_key_makes_the_list_one_field() {
    let set = leaves(
        &json!({"spec": {"containers": [{"name": "a"}, {"image": "x"}]}}),
        &L,
    );
    let paths: Vec<String> = set.iter().map(|p| p.join(".")).collect();
    assert_eq!(paths, ["spec.containers"]);
}
