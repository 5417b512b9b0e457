//! Tests of the served types: built-ins, CRD versions and their registration.

use serde_json::{Value, json};

use super::*;

fn crd(versions: Value, scope: &str) -> Value {
    json!({"spec": {
        "group": "operator.kairos.io", "scope": scope,
        "names": {"kind": "NodeOp", "plural": "nodeops", "shortNames": ["nop"], "categories": ["kairos"]},
        "versions": versions,
    }})
}

fn version(name: &str, served: bool) -> Value {
    json!({"name": name, "served": served, "storage": true,
    "schema": {"openAPIV3Schema": {"type": "object"}},
    "subresources": {"status": {}},
    "additionalPrinterColumns": [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "priority": 1},
        {"name": "Untyped", "jsonPath": ".spec.x"},
    ]})
}

#[test]
fn only_served_versions_become_types() {
    let types = from_crd(&crd(
        json!([
            version("v1alpha1", true),
            version("v1alpha2", false),
            version("v1beta1", true)
        ]),
        "Namespaced",
    ));
    let versions: Vec<&str> = types.iter().map(|t| t.version.as_str()).collect();
    assert_eq!(versions, ["v1alpha1", "v1beta1"]);
}

#[test]
fn a_crd_type_carries_its_names_scope_status_and_columns() {
    let types = from_crd(&crd(json!([version("v1alpha1", true)]), "Cluster"));
    let t = &types[0];
    assert_eq!(t.api_version(), "operator.kairos.io/v1alpha1");
    assert_eq!(t.store_key(), "operator.kairos.io/nodeops");
    assert_eq!(t.singular, "nodeop", "the kind lower-cased when not given");
    assert!(!t.namespaced);
    assert!(t.status_subresource && t.generation && t.is_custom());
    assert_eq!(t.short_names, ["nop"]);
    assert_eq!(t.categories, ["kairos"]);
    let cols: Vec<(&str, &str, i64)> = t
        .printer_columns
        .iter()
        .map(|c| (c.name.as_str(), c.type_.as_str(), c.priority))
        .collect();
    assert_eq!(
        cols,
        [
            ("Phase", "string", 0),
            ("Age", "date", 1),
            ("Untyped", "string", 0)
        ]
    );
}

#[test]
fn registering_a_crd_again_replaces_all_its_versions() {
    let mut r = Registry::with_builtins();
    r.register_crd(&crd(
        json!([version("v1alpha1", true), version("v1beta1", true)]),
        "Namespaced",
    ));
    assert!(r.find("operator.kairos.io", "v1beta1", "nodeops").is_some());
    r.register_crd(&crd(json!([version("v1", true)]), "Namespaced"));
    assert!(r.find("operator.kairos.io", "v1beta1", "nodeops").is_none());
    assert!(r.find("operator.kairos.io", "v1", "nodeops").is_some());
    r.unregister("operator.kairos.io", "nodeops");
    assert!(r.by_store_key("operator.kairos.io/nodeops").is_none());
}

#[test]
fn core_types_have_a_bare_version_and_a_leading_slash_key() {
    let r = Registry::with_builtins();
    let pods = r.find("", "v1", "pods").expect("pods");
    assert_eq!(pods.api_version(), "v1");
    assert_eq!(pods.store_key(), "/pods");
    assert!(!pods.is_custom());
    assert_eq!(
        r.by_store_key("/pods").map(|t| t.kind.as_str()),
        Some("Pod")
    );
    assert!(r.find("", "v2", "pods").is_none());
}

#[test]
fn the_subresources_the_simulator_serves_are_declared_on_their_types() {
    let r = Registry::with_builtins();
    let pods = r.find("", "v1", "pods").expect("pods");
    assert!(pods.extra_subresources.contains(&"eviction"));
    let sa = r
        .find("", "v1", "serviceaccounts")
        .expect("serviceaccounts");
    assert!(sa.extra_subresources.contains(&"token"));
}
