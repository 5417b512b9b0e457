//! Tests of the fleet gauges as a scrape renders them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::v1alpha1::{KairosInfo, KairosNodeStatus, NodeOpStatus, NodeOpUpgradeStatus};
use kube::runtime::watcher::Event;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use super::*;

fn filled<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = kube::runtime::reflector::store();
    for obj in objects {
        writer.apply_watcher_event(&Event::Apply(obj));
    }
    reader
}

fn store<K>(objects: Vec<Value>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Clone + 'static,
{
    filled(
        objects
            .into_iter()
            .map(|obj| serde_json::from_value(obj).expect("a valid object"))
            .collect(),
    )
}

fn kairos_node(name: &str, status: Value) -> Value {
    json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": name}, "spec": {}, "status": status,
    })
}

fn target(name: &str, status: Option<Value>) -> Value {
    let mut t = json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOpTarget",
        "metadata": {"name": name, "namespace": "ops"},
        "spec": {"nodeOp": "op", "node": name, "order": 0},
    });
    if let Some(status) = status {
        t["status"] = status;
    }
    t
}

/// Metrics over empty caches.
fn empty() -> FleetMetrics {
    FleetMetrics {
        kairos_nodes: store(vec![]),
        targets: store(vec![]),
        nodeops: store(vec![]),
        upgrades: store(vec![]),
        undecodable: Undecodable::default(),
    }
}

fn scrape(metrics: FleetMetrics) -> Vec<String> {
    let mut registry = Registry::with_prefix("kairos");
    registry.register_collector(Box::new(metrics));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn nodes_are_counted_by_upgrade_and_boot_state_with_defaults_for_the_unreported() {
    let metrics = FleetMetrics {
        kairos_nodes: store(vec![
            kairos_node(
                "a",
                json!({"bootState": "active", "upgrade": {"state": "InProgress"}}),
            ),
            kairos_node("b", json!({"bootState": "active"})),
            kairos_node(
                "c",
                json!({"bootState": "passive", "upgrade": {"state": "RolledBack"}}),
            ),
            kairos_node("d", json!({})),
        ]),
        ..empty()
    };
    let lines = scrape(metrics);
    for want in [
        "kairos_nodes_by_upgrade_state{state=\"Idle\"} 2",
        "kairos_nodes_by_upgrade_state{state=\"InProgress\"} 1",
        "kairos_nodes_by_upgrade_state{state=\"RolledBack\"} 1",
        "kairos_nodes_by_boot_state{state=\"active\"} 2",
        "kairos_nodes_by_boot_state{state=\"passive\"} 1",
        "kairos_nodes_by_boot_state{state=\"unknown\"} 1",
    ] {
        assert!(lines.iter().any(|l| l == want), "{want} in {lines:#?}");
    }
}

#[test]
fn nodeop_nodes_leave_completed_ones_out_and_count_new_ones_as_pending() {
    let metrics = FleetMetrics {
        targets: store(vec![
            target("n1", Some(json!({"phase": "Completed"}))),
            target("n2", Some(json!({"phase": "Draining"}))),
            target("n3", None),
            target("n4", Some(json!({"phase": "Failed"}))),
        ]),
        ..empty()
    };
    let mut nodeop: Vec<String> = scrape(metrics)
        .into_iter()
        .filter(|l| l.starts_with("kairos_nodeop_nodes"))
        .collect();
    nodeop.sort();
    assert_eq!(
        nodeop,
        [
            "kairos_nodeop_nodes{state=\"Draining\"} 1",
            "kairos_nodeop_nodes{state=\"Failed\"} 1",
            "kairos_nodeop_nodes{state=\"Pending\"} 1",
        ]
    );
}

#[test]
fn every_custom_kind_has_an_undecodable_gauge_even_at_zero() {
    let metrics = empty();
    let mut lines: Vec<String> = scrape(metrics)
        .into_iter()
        .filter(|l| l.starts_with("kairos_undecodable_objects"))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "kairos_undecodable_objects{kind=\"KairosNode\"} 0",
            "kairos_undecodable_objects{kind=\"NodeOp\"} 0",
            "kairos_undecodable_objects{kind=\"NodeOpConfig\"} 0",
            "kairos_undecodable_objects{kind=\"NodeOpTarget\"} 0",
            "kairos_undecodable_objects{kind=\"NodeOpUpgrade\"} 0",
        ]
    );
}

#[test]
fn an_empty_fleet_renders_no_node_series_and_every_operation_count_at_zero() {
    let metrics = empty();
    let lines = scrape(metrics);
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("kairos_undecodable_objects")
                || (l.starts_with("kairos_operations{") && l.ends_with(" 0"))
                || l.is_empty()
                || l == "# EOF"),
        "{lines:#?}"
    );
}

fn reported_node(name: &str, version: Option<&str>, reporting: Option<&str>) -> KairosNode {
    let mut kn: KairosNode =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {}})).unwrap();
    kn.status = Some(KairosNodeStatus {
        kairos: Some(KairosInfo {
            version: version.map(str::to_owned),
            ..KairosInfo::default()
        }),
        conditions: reporting
            .map(|status| {
                serde_json::from_value::<Condition>(json!({
                    "type": REPORTING, "status": status, "reason": "R", "message": "",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }))
                .unwrap()
            })
            .into_iter()
            .collect(),
        ..KairosNodeStatus::default()
    });
    kn
}

fn operation<K: serde::de::DeserializeOwned>(name: &str) -> K {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"image": "busybox", "command": ["true"]},
    }))
    .unwrap()
}

/// The exposition of the fleet's gauges over these objects.
fn scrape_fleet(
    nodes: Vec<KairosNode>,
    nodeops: Vec<NodeOp>,
    upgrades: Vec<NodeOpUpgrade>,
) -> Vec<String> {
    scrape(FleetMetrics {
        kairos_nodes: filled(nodes),
        nodeops: filled(nodeops),
        upgrades: filled(upgrades),
        ..empty()
    })
}

#[test]
fn nodes_are_counted_by_version_and_reporting_condition() {
    let lines = scrape_fleet(
        vec![
            reported_node("a", Some("v3.6.0"), Some("True")),
            reported_node("b", Some("v3.6.0"), Some("False")),
            reported_node("c", Some("v3.5.0"), Some("True")),
            reported_node("d", None, None),
        ],
        vec![],
        vec![],
    );
    for line in [
        "kairos_nodes_by_version{version=\"v3.6.0\"} 2",
        "kairos_nodes_by_version{version=\"v3.5.0\"} 1",
        "kairos_nodes_by_version{version=\"unknown\"} 1",
        "kairos_nodes_by_reporting{state=\"True\"} 2",
        "kairos_nodes_by_reporting{state=\"False\"} 1",
        "kairos_nodes_by_reporting{state=\"Unknown\"} 1",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} in {lines:#?}");
    }
}

#[test]
fn operations_are_counted_by_kind_and_phase_with_every_phase_present() {
    let mut failed: NodeOp = operation("failed");
    failed.status = Some(NodeOpStatus {
        phase: Some(OperationPhase::Failed),
        ..NodeOpStatus::default()
    });
    let new: NodeOp = operation("new");
    let mut running: NodeOpUpgrade = serde_json::from_value(json!({
        "metadata": {"name": "up", "namespace": "default"},
        "spec": {"image": "quay.io/kairos/ubuntu:v3.6.0"},
    }))
    .unwrap();
    running.status = Some(NodeOpUpgradeStatus {
        phase: Some(OperationPhase::Running),
        ..NodeOpUpgradeStatus::default()
    });
    let lines = scrape_fleet(vec![], vec![failed, new], vec![running]);
    for line in [
        "kairos_operations{kind=\"NodeOp\",phase=\"Failed\"} 1",
        "kairos_operations{kind=\"NodeOp\",phase=\"Pending\"} 1",
        "kairos_operations{kind=\"NodeOp\",phase=\"Stopped\"} 0",
        "kairos_operations{kind=\"NodeOpUpgrade\",phase=\"Running\"} 1",
        "kairos_operations{kind=\"NodeOpUpgrade\",phase=\"Failed\"} 0",
    ] {
        assert!(lines.iter().any(|l| l == line), "{line} in {lines:#?}");
    }
}
