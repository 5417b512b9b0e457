//! Tests of the server-side Table output.

use serde_json::{Value, json};

use super::*;
use crate::registry::{PrinterColumn, builtins};

fn builtin(group: &str, plural: &str) -> ResourceType {
    builtins()
        .into_iter()
        .find(|rt| rt.group == group && rt.plural == plural)
        .expect("built-in resource")
}

fn ago(secs: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn column_names(table: &Value) -> Vec<&str> {
    table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn ages_are_written_as_kubectl_writes_them() {
    // Each age sits well inside its range so that a second passing does not change it.
    let table = [
        (5 * 3600 + 30 * 60 + 20, "5h30m"),
        (20 * 60 + 30, "20m"),
        (12 * 3600 + 30 * 60, "12h"),
        (3 * 86400 + 4 * 3600 + 30 * 60, "3d4h"),
        (30 * 86400 + 3600, "30d"),
    ];
    for (secs, want) in table {
        assert_eq!(human_age(&ago(secs)), json!(want), "{secs}");
    }
}

#[test]
fn short_ages_show_minutes_and_seconds() {
    let age = human_age(&ago(200));
    let age = age.as_str().expect("age");
    assert!(["3m20s", "3m21s", "3m22s"].contains(&age), "{age}");
}

#[test]
fn a_timestamp_in_the_future_is_zero_seconds_old() {
    assert_eq!(human_age(&ago(-3600)), json!("0s"));
}

#[test]
fn a_missing_or_malformed_timestamp_has_no_age() {
    assert_eq!(human_age(""), Value::Null);
    assert_eq!(human_age("yesterday"), Value::Null);
}

#[test]
fn node_rows_show_readiness_cordon_roles_and_version() {
    let node = json!({
        "metadata": {"name": "n1", "creationTimestamp": ago(20 * 60 + 30), "labels": {
            "node-role.kubernetes.io/worker": "",
            "node-role.kubernetes.io/control-plane": "",
            "kubernetes.io/hostname": "n1",
        }},
        "spec": {"unschedulable": true},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.33.1"}},
    });
    let t = table(&builtin("", "nodes"), &[node], "7", "None");
    assert_eq!(
        column_names(&t),
        ["Name", "Status", "Roles", "Age", "Version"]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "n1",
            "Ready,SchedulingDisabled",
            "control-plane,worker",
            "20m",
            "v1.33.1"
        ])
    );
    assert_eq!(t["metadata"]["resourceVersion"], "7");
    assert!(t["rows"][0].get("object").is_none());
}

#[test]
fn a_node_without_ready_condition_is_unknown_and_without_roles_none() {
    let unknown = json!({"metadata": {"name": "a"}, "status": {}});
    let not_ready = json!({"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let t = table(&builtin("", "nodes"), &[unknown, not_ready], "1", "None");
    assert_eq!(t["rows"][0]["cells"][1], "Unknown");
    assert_eq!(t["rows"][0]["cells"][2], "<none>");
    assert_eq!(t["rows"][1]["cells"][1], "NotReady");
}

#[test]
fn a_deleted_pod_shows_terminating() {
    let pod = |deleting: bool| {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!(ago(1));
        }
        p
    };
    let t = table(&builtin("", "pods"), &[pod(false), pod(true)], "1", "None");
    assert_eq!(column_names(&t), ["Name", "Status", "Node", "Age"]);
    assert_eq!(t["rows"][0]["cells"], json!(["p", "Running", "n1", null]));
    assert_eq!(t["rows"][1]["cells"][1], "Terminating");
}

#[test]
fn printer_columns_read_their_paths_and_age_their_dates() {
    let mut rt = builtin("", "configmaps");
    rt.printer_columns = vec![
        PrinterColumn {
            name: "Phase".into(),
            type_: "string".into(),
            json_path: ".status.phase".into(),
            priority: 0,
        },
        PrinterColumn {
            name: "Nodes".into(),
            type_: "integer".into(),
            json_path: ".status.nodes.total".into(),
            priority: 1,
        },
        PrinterColumn {
            name: "Started".into(),
            type_: "date".into(),
            json_path: ".status.startedAt".into(),
            priority: 0,
        },
    ];
    let obj = json!({"metadata": {"name": "op"}, "status": {"phase": "Running", "nodes": {"total": 3}, "startedAt": ago(12 * 3600 + 1800)}});
    let missing = json!({"metadata": {"name": "new"}});
    let t = table(&rt, &[obj, missing], "1", "None");
    assert_eq!(column_names(&t), ["Name", "Phase", "Nodes", "Started"]);
    assert_eq!(t["columnDefinitions"][2]["priority"], 1);
    assert_eq!(t["rows"][0]["cells"], json!(["op", "Running", 3, "12h"]));
    assert_eq!(t["rows"][1]["cells"], json!(["new", null, null, null]));
}

#[test]
fn other_kinds_show_name_and_age() {
    let cm = json!({"metadata": {"name": "cm", "creationTimestamp": ago(20 * 60 + 30)}});
    let t = table(&builtin("", "configmaps"), &[cm], "1", "None");
    assert_eq!(column_names(&t), ["Name", "Age"]);
    assert_eq!(t["rows"][0]["cells"], json!(["cm", "20m"]));
}

#[test]
fn rows_carry_the_object_or_its_metadata_as_asked() {
    let cm = json!({"metadata": {"name": "cm"}, "data": {"a": "1"}});
    let rt = builtin("", "configmaps");
    let whole = table(&rt, std::slice::from_ref(&cm), "1", "Object");
    assert_eq!(whole["rows"][0]["object"], cm);
    let meta = table(&rt, std::slice::from_ref(&cm), "1", "Metadata");
    assert_eq!(
        meta["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "cm"}})
    );
    let default = table(&rt, std::slice::from_ref(&cm), "1", "");
    assert_eq!(default["rows"][0]["object"], meta["rows"][0]["object"]);
}
