use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::v1alpha1::{KairosInfo, KairosNodeStatus, NodeOpStatus, NodeOpUpgradeStatus};
use kube::runtime::reflector::store;
use kube::runtime::watcher::Event;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::*;

fn kairos_node(name: &str, version: Option<&str>, reporting: Option<&str>) -> KairosNode {
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
fn scrape(nodes: Vec<KairosNode>, nodeops: Vec<NodeOp>, upgrades: Vec<NodeOpUpgrade>) -> String {
    fn filled<K>(objects: Vec<K>) -> Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let (reader, mut writer) = store();
        for o in objects {
            writer.apply_watcher_event(&Event::Apply(o));
        }
        reader
    }
    let mut registry = Registry::with_prefix("kairos");
    registry.register_collector(Box::new(FleetMetrics {
        kairos_nodes: filled(nodes),
        targets: filled(vec![]),
        nodeops: filled(nodeops),
        upgrades: filled(upgrades),
        undecodable: Undecodable::default(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

#[test]
fn nodes_are_counted_by_version_and_reporting_condition() {
    let text = scrape(
        vec![
            kairos_node("a", Some("v3.6.0"), Some("True")),
            kairos_node("b", Some("v3.6.0"), Some("False")),
            kairos_node("c", Some("v3.5.0"), Some("True")),
            kairos_node("d", None, None),
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
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
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
    let text = scrape(vec![], vec![failed, new], vec![running]);
    for line in [
        "kairos_operations{kind=\"NodeOp\",phase=\"Failed\"} 1",
        "kairos_operations{kind=\"NodeOp\",phase=\"Pending\"} 1",
        "kairos_operations{kind=\"NodeOp\",phase=\"Stopped\"} 0",
        "kairos_operations{kind=\"NodeOpUpgrade\",phase=\"Running\"} 1",
        "kairos_operations{kind=\"NodeOpUpgrade\",phase=\"Failed\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
