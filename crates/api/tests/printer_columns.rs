//! The generated CRDs in `deploy/crds/` show what DESIGN.md section 3 promises in `kubectl get`:
//! printer columns, short name, scope, status subresource; and every column points at a field
//! the schema has (a column on a missing field would show `<none>` forever). Reads the CRD files:
//! test-only I/O.

mod support;

use serde_json::Value;
use support::crd_for_kind;

/// The only (served) version of a CRD.
fn version(crd: &Value) -> &Value {
    let versions = crd["spec"]["versions"].as_array().expect("spec.versions");
    assert_eq!(versions.len(), 1, "one version expected");
    &versions[0]
}

/// The columns `kubectl get` shows by default (priority 0), upper-cased as kubectl prints them.
fn default_columns(crd: &Value) -> Vec<String> {
    columns_of_priority(crd, 0)
}

/// The columns of `priority`, upper-cased as kubectl prints them (`-o wide` adds priority 1).
fn columns_of_priority(crd: &Value, priority: i64) -> Vec<String> {
    version(crd)["additionalPrinterColumns"]
        .as_array()
        .expect("additionalPrinterColumns")
        .iter()
        .filter(|c| c["priority"].as_i64().unwrap_or(0) == priority)
        .map(|c| c["name"].as_str().expect("column name").to_uppercase())
        .collect()
}

/// The schema node a simple JSON path (`.status.kairos.version`) points to, if the schema has it.
fn schema_at<'a>(schema: &'a Value, json_path: &str) -> Option<&'a Value> {
    json_path
        .trim_start_matches('.')
        .split('.')
        .try_fold(schema, |node, field| node["properties"].get(field))
}

/// Every column reads a field the schema declares, with a matching type.
fn assert_columns_point_at_fields(kind: &str) {
    let crd = crd_for_kind(kind);
    let v = version(&crd);
    let schema = &v["schema"]["openAPIV3Schema"];
    for column in v["additionalPrinterColumns"].as_array().expect("columns") {
        let path = column["jsonPath"].as_str().expect("jsonPath");
        if path.starts_with(".metadata.") {
            continue; // metadata is the API server's, not in the CRD schema
        }
        let field = schema_at(schema, path)
            .unwrap_or_else(|| panic!("{kind}: column {column} reads {path}, not in the schema"));
        let column_type = column["type"].as_str().expect("column type");
        let field_type = field["type"].as_str();
        // An enum of strings is a string column; integers are integer columns; a date column
        // reads a date-time string.
        let date = column_type == "date"
            && field_type == Some("string")
            && field["format"].as_str() == Some("date-time");
        assert!(
            field_type == Some(column_type)
                || (field_type.is_none() && column_type == "string")
                || date,
            "{kind}: column {} is {column_type} but {path} is {field_type:?}",
            column["name"]
        );
    }
}

#[test]
fn nodeop_columns_are_phase_nodes_done_failed_held_upgrade_age() {
    let crd = crd_for_kind("NodeOp");
    assert_eq!(
        default_columns(&crd),
        ["PHASE", "NODES", "DONE", "FAILED", "HELD", "UPGRADE", "AGE"]
    );
    assert_eq!(columns_of_priority(&crd, 1), ["SKIPPED", "NODE UPGRADE"]);
    assert_columns_point_at_fields("NodeOp");
}

/// The NodeOps of upgrades are told apart by the labels the operator puts on them.
#[test]
fn nodeop_upgrade_columns_read_the_upgrade_labels() {
    let crd = crd_for_kind("NodeOp");
    let paths: Vec<&str> = version(&crd)["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["jsonPath"].as_str())
        .collect();
    for label in [
        kairos_api::names::LABEL_NODEOP_UPGRADE,
        kairos_api::names::LABEL_KAIROSNODE,
    ] {
        let path = format!(".metadata.labels.{}", label.replace('.', "\\."));
        assert!(paths.contains(&path.as_str()), "{path} not in {paths:?}");
    }
}

#[test]
fn nodeop_upgrade_shows_skipped_nodes_apart_from_done() {
    let upgrade = crd_for_kind("NodeOpUpgrade");
    assert_eq!(
        default_columns(&upgrade),
        ["PHASE", "NODES", "DONE", "SKIPPED", "FAILED", "HELD", "AGE"]
    );
    assert_columns_point_at_fields("NodeOpUpgrade");
}

#[test]
fn nodeop_config_shows_applied_skipped_failed_and_drifted_nodes() {
    let crd = crd_for_kind("NodeOpConfig");
    assert_eq!(
        default_columns(&crd),
        [
            "PHASE", "NODES", "APPLIED", "SKIPPED", "FAILED", "DRIFTED", "AGE"
        ]
    );
    assert_eq!(columns_of_priority(&crd, 1), ["PATH", "OPERATION"]);
    assert_columns_point_at_fields("NodeOpConfig");
    let short_names = crd["spec"]["names"]["shortNames"]
        .as_array()
        .expect("shortNames");
    assert!(short_names.contains(&Value::from("noc")), "{short_names:?}");
}

#[test]
fn kairos_node_columns_are_version_desired_state_boot_trusted_os_age() {
    let crd = crd_for_kind("KairosNode");
    assert_eq!(
        default_columns(&crd),
        [
            "VERSION", "DESIRED", "STATE", "BOOT", "TRUSTED", "OS", "AGE"
        ]
    );
    assert_eq!(
        columns_of_priority(&crd, 1),
        ["PAUSED", "OPERATION", "LAST SEEN", "MESSAGE", "CONFIG"]
    );
    assert_columns_point_at_fields("KairosNode");
}

#[test]
fn kairos_node_is_cluster_scoped_with_short_name_kn() {
    let crd = crd_for_kind("KairosNode");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    let short_names = crd["spec"]["names"]["shortNames"]
        .as_array()
        .expect("shortNames");
    assert!(short_names.contains(&Value::from("kn")), "{short_names:?}");
}

#[test]
fn operations_are_namespaced() {
    for kind in ["NodeOp", "NodeOpUpgrade", "NodeOpConfig"] {
        assert_eq!(crd_for_kind(kind)["spec"]["scope"], "Namespaced", "{kind}");
    }
}

#[test]
fn every_kind_has_a_status_subresource_and_is_served_and_stored() {
    for kind in ["NodeOp", "NodeOpUpgrade", "NodeOpConfig", "KairosNode"] {
        let crd = crd_for_kind(kind);
        assert_eq!(crd["spec"]["group"], "operator.kairos.io", "{kind}");
        let v = version(&crd);
        assert_eq!(v["name"], "v1alpha1", "{kind}");
        assert_eq!(v["served"], true, "{kind}");
        assert_eq!(v["storage"], true, "{kind}");
        assert!(
            v["subresources"]["status"].is_object(),
            "{kind}: no status subresource"
        );
    }
}
