//! Tests of the OpenAPI v3 documents kubectl reads.

use serde_json::json;

use super::*;

fn with_nodeop() -> Registry {
    let mut reg = Registry::with_builtins();
    reg.register_crd(&json!({"spec": {"group": "operator.kairos.io", "scope": "Namespaced",
        "names": {"kind": "NodeOp", "plural": "nodeops"},
        "versions": [{"name": "v1alpha1", "served": true, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "description": "What to run."}}}}}]}}));
    reg
}

#[test]
fn the_root_lists_every_group_version_once() {
    let root = root(&with_nodeop());
    let paths = root["paths"].as_object().expect("paths");
    assert_eq!(
        paths["apis/operator.kairos.io/v1alpha1"]["serverRelativeURL"],
        "/openapi/v3/apis/operator.kairos.io/v1alpha1?hash=kube-sim"
    );
    assert!(paths.contains_key("api/v1"));
    assert!(paths.contains_key("apis/batch/v1"));
}

#[test]
fn schema_names_follow_the_api_servers_convention() {
    let reg = with_nodeop();
    let nodeop = reg
        .find("operator.kairos.io", "v1alpha1", "nodeops")
        .expect("nodeops");
    assert_eq!(schema_name(nodeop), "io.kairos.operator.v1alpha1.NodeOp");
    let pod = reg.find("", "v1", "pods").expect("pods");
    assert_eq!(schema_name(pod), "io.k8s.api.core.v1.Pod");
    let lease = reg
        .find("coordination.k8s.io", "v1", "leases")
        .expect("leases");
    assert_eq!(schema_name(lease), "io.k8s.api.coordination.v1.Lease");
}

#[test]
fn a_custom_kind_keeps_its_crd_schema_with_the_common_fields_added() {
    let doc = group_version(&with_nodeop(), "operator.kairos.io", "v1alpha1").expect("served");
    let schema = &doc["components"]["schemas"]["io.kairos.operator.v1alpha1.NodeOp"];
    assert_eq!(schema["properties"]["spec"]["description"], "What to run.");
    assert_eq!(schema["properties"]["kind"]["type"], "string");
    assert_eq!(
        schema["x-kubernetes-group-version-kind"],
        json!([{"group": "operator.kairos.io", "version": "v1alpha1", "kind": "NodeOp"}])
    );
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths.contains_key(
            "/apis/operator.kairos.io/v1alpha1/namespaces/{namespace}/nodeops/{name}"
        )
    );
    assert!(paths.contains_key("/apis/operator.kairos.io/v1alpha1/namespaces/{namespace}/nodeops"));
}

#[test]
fn only_built_in_kinds_take_strategic_merge_patches() {
    let reg = with_nodeop();
    let custom = group_version(&reg, "operator.kairos.io", "v1alpha1").expect("served");
    let content = &custom["paths"]["/apis/operator.kairos.io/v1alpha1/namespaces/{namespace}/nodeops/{name}"]
        ["patch"]["requestBody"]["content"];
    assert!(
        content
            .get("application/strategic-merge-patch+json")
            .is_none()
    );
    assert!(content.get("application/merge-patch+json").is_some());
    let core = group_version(&reg, "", "v1").expect("served");
    let content = &core["paths"]["/api/v1/nodes/{name}"]["patch"]["requestBody"]["content"];
    assert!(
        content
            .get("application/strategic-merge-patch+json")
            .is_some()
    );
}

#[test]
fn built_in_kinds_have_an_open_schema_and_unserved_versions_no_document() {
    let reg = Registry::with_builtins();
    let core = group_version(&reg, "", "v1").expect("served");
    let pod = &core["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(pod["x-kubernetes-preserve-unknown-fields"], true);
    assert!(group_version(&reg, "", "v2").is_none());
}
