//! `KairosNode.spec.version` is checked at apply time: the CRD as generated into `deploy/crds/`
//! refuses anything that is not a Kairos version (`banana`, `latest`, empty) with a message
//! naming the field, and accepts the versions Kairos releases carry. Reads the CRD files:
//! test-only I/O.

mod support;

use kairos_api::names::KAIROS_VERSION_PATTERN;
use serde_json::{Value, json};
use support::Schemas;

fn kairos_node(version: &str) -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "KairosNode",
        "metadata": {"name": "worker-2"},
        "spec": {"version": version},
    })
}

#[test]
fn kairos_versions_are_accepted() {
    let schemas = Schemas::load();
    for version in [
        "v3.6.0",
        "3.6.0",
        "v3.6.0-rc1",
        "v3.6.0-rc.1",
        "v3.6.0-beta.2",
        "v3.6.0-alpha",
        "v10.20.300",
    ] {
        assert_eq!(
            schemas.validate(&kairos_node(version)),
            Ok(()),
            "{version} must be accepted"
        );
    }
}

#[test]
fn nonsense_versions_are_refused_naming_the_field() {
    let schemas = Schemas::load();
    for version in [
        "banana",
        "latest",
        "",
        "v3.6",
        "v3.6.0.1",
        "V3.6.0",
        " v3.6.0",
        "v3.6.0 ",
        "v3.6.0-k3sv1.33.1",
        "v3.6.0-rc1-extra",
        "v3.6.0-rc.",
        "vv3.6.0",
        "v3.6.0; rm -rf /",
    ] {
        let errors = match schemas.validate(&kairos_node(version)) {
            Ok(()) => panic!("spec.version {version:?} must be refused"),
            Err(errors) => errors.join("; "),
        };
        assert!(
            errors.contains("spec.version"),
            "the refusal of {version:?} must name spec.version: {errors}"
        );
    }
}

#[test]
fn the_generated_rule_uses_the_shared_pattern() {
    let crd = support::crd_for_kind("KairosNode");
    let version = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["version"];
    let rules = version["x-kubernetes-validations"]
        .as_array()
        .expect("spec.version has CEL rules");
    let escaped = KAIROS_VERSION_PATTERN.replace('\\', "\\\\");
    assert!(
        rules.iter().any(|r| r["rule"]
            .as_str()
            .is_some_and(|rule| rule == format!("self.matches('{escaped}')"))),
        "spec.version's rule is not built from KAIROS_VERSION_PATTERN: {rules:?}"
    );
}
