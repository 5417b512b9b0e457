//! Tests of the legacy discovery documents.

use serde_json::{Value, json};

use super::*;

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

#[test]
fn pods_list_their_status_and_eviction_subresources() {
    let core = resource_list(&Registry::with_builtins(), "", "v1").expect("core/v1");
    assert_eq!(core["groupVersion"], "v1");
    let pods = entry(&core, "pods");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["verbs"].as_array().map(Vec::len), Some(8));
    assert_eq!(
        entry(&core, "pods/status")["verbs"],
        json!(["get", "patch", "update"])
    );
    let eviction = entry(&core, "pods/eviction");
    assert_eq!(
        (&eviction["group"], &eviction["version"], &eviction["kind"]),
        (&json!("policy"), &json!("v1"), &json!("Eviction"))
    );
    assert_eq!(
        entry(&core, "serviceaccounts/token")["kind"],
        "TokenRequest"
    );
}

#[test]
fn review_kinds_can_only_be_created() {
    let authn = resource_list(&Registry::with_builtins(), "authentication.k8s.io", "v1")
        .expect("authentication.k8s.io/v1");
    assert_eq!(entry(&authn, "tokenreviews")["verbs"], json!(["create"]));
}

#[test]
fn an_unknown_group_or_version_has_no_document() {
    let reg = Registry::with_builtins();
    assert!(resource_list(&reg, "", "v2").is_none());
    assert!(resource_list(&reg, "example.com", "v1").is_none());
    assert!(group(&reg, "example.com").is_none());
}

#[test]
fn the_group_list_names_each_named_group_once_without_the_core_group() {
    let list = group_list(&Registry::with_builtins());
    let names: Vec<&str> = list["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["name"].as_str().expect("a name"))
        .collect();
    assert!(!names.contains(&""));
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(names.contains(&"batch") && names.contains(&"apps"));
    assert!(list["groups"][0].get("kind").is_none());
}

#[test]
fn a_registered_crd_is_discovered_in_its_group() {
    let mut reg = Registry::with_builtins();
    reg.register_crd(
        &json!({"spec": {"group": "operator.kairos.io", "scope": "Namespaced",
        "names": {"kind": "NodeOp", "plural": "nodeops"},
        "versions": [{"name": "v1alpha1", "served": true, "schema": {"openAPIV3Schema": {}}}]}}),
    );
    let g = group(&reg, "operator.kairos.io").expect("a group");
    assert_eq!(
        g["preferredVersion"],
        json!({"groupVersion": "operator.kairos.io/v1alpha1", "version": "v1alpha1"})
    );
    let list = resource_list(&reg, "operator.kairos.io", "v1alpha1").expect("a list");
    assert_eq!(entry(&list, "nodeops")["kind"], "NodeOp");
}
