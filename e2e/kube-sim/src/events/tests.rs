use serde_json::json;

use super::*;

fn new_api_event() -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "ns1"},
        "eventTime": "2026-01-02T03:04:05.000000Z",
        "regarding": {"kind": "ConfigMap", "name": "cm1", "namespace": "ns1"},
        "related": {"kind": "Pod", "name": "p1", "namespace": "ns1"},
        "note": "it happened",
        "reason": "Happened",
        "action": "Observe",
        "type": "Normal",
        "reportingController": "kairos.io/test",
        "reportingInstance": "test-1",
        "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:06.000000Z"},
    })
}

#[test]
fn the_new_api_maps_onto_the_core_fields() {
    let core = to_core(&new_api_event());
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["involvedObject"]["name"], "cm1");
    assert_eq!(core["message"], "it happened");
    assert_eq!(core["reportingComponent"], "kairos.io/test");
    assert_eq!(core["reportingInstance"], "test-1");
    assert_eq!(core["related"]["name"], "p1");
    assert_eq!(core["series"]["count"], 2);
    for gone in ["regarding", "note", "reportingController"] {
        assert!(core.get(gone).is_none(), "{gone} is not a core field");
    }
}

#[test]
fn the_core_fields_map_onto_the_new_api() {
    let core = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "e2", "namespace": "ns1"},
        "involvedObject": {"kind": "Node", "name": "n1"},
        "message": "old style",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:04:07Z",
        "count": 3,
        "reason": "Old",
        "type": "Warning",
    });
    let new = from_core(&core);
    assert_eq!(new["apiVersion"], "events.k8s.io/v1");
    assert_eq!(new["regarding"]["name"], "n1");
    assert_eq!(new["note"], "old style");
    assert_eq!(new["deprecatedSource"]["component"], "kubelet");
    assert_eq!(new["deprecatedFirstTimestamp"], "2026-01-02T03:04:05Z");
    assert_eq!(new["deprecatedLastTimestamp"], "2026-01-02T03:04:07Z");
    assert_eq!(new["deprecatedCount"], 3);
    assert_eq!(to_core(&new), core, "the round trip keeps every field");
}

#[test]
fn a_field_of_the_other_api_is_dropped() {
    let mut e = new_api_event();
    e["message"] = json!("not a field of events.k8s.io");
    assert_eq!(to_core(&e)["message"], "it happened");
}

#[test]
fn a_complete_new_api_event_is_valid() {
    assert_eq!(
        create_errors(&to_core(&new_api_event())),
        Vec::<String>::new()
    );
}

#[test]
fn the_new_api_requires_its_fields_and_refuses_the_deprecated_ones() {
    let mut e = new_api_event();
    for k in ["eventTime", "reportingController", "action"] {
        e.as_object_mut().expect("object").remove(k);
    }
    e["deprecatedCount"] = json!(4);
    e["type"] = json!("Odd");
    let errs = create_errors(&to_core(&e));
    for want in [
        "eventTime: Required value",
        "count: Invalid value: \"\": needs to be unset",
        "type: Invalid value: \"\": has invalid value: Odd",
    ] {
        assert!(errs.iter().any(|e| e == want), "{want} in {errs:?}");
    }
    // Without an eventTime the legacy rules do not ask for a reporter or an action.
    assert!(!errs.iter().any(|e| e.starts_with("action")), "{errs:?}");
}

#[test]
fn a_legacy_event_names_its_objects_namespace() {
    let core = json!({
        "metadata": {"name": "e", "namespace": "ns1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns2"},
    });
    assert_eq!(legacy_errors(&core).len(), 1);
    let cluster_scoped = json!({
        "metadata": {"name": "e", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "n"},
    });
    assert_eq!(legacy_errors(&cluster_scoped), Vec::<String>::new());
}
