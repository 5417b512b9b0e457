//! Gauges computed from the caches at scrape time: Kairos nodes by upgrade state and by boot
//! state, NodeOp nodes by phase, and the objects left out because they do not decode. Labels
//! are bounded enums. Reads only process memory.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{BootState, NodePhase, UpgradeState};
use kairos_api::{KairosNode, NodeOpTarget};
use kube::runtime::reflector::Store;

use crate::controllers::Undecodable;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// The fleet's gauges, read from the controllers' caches.
#[derive(Debug)]
pub(crate) struct FleetMetrics {
    /// Every KairosNode.
    pub(crate) kairos_nodes: Store<KairosNode>,
    /// Every NodeOpTarget (the nodes of every NodeOp).
    pub(crate) targets: Store<NodeOpTarget>,
    /// The custom objects the caches leave out because they do not decode.
    pub(crate) undecodable: Undecodable,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

fn encode_counts(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counts: BTreeMap<String, i64>,
) -> Result<(), std::fmt::Error> {
    let family = Family::<StateLabel, Gauge>::default();
    for (state, count) in counts {
        family.get_or_create(&StateLabel { state }).set(count);
    }
    family.encode(encoder.encode_descriptor(name, help, None, family.metric_type())?)
}

fn label<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Collector for FleetMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut upgrade = BTreeMap::new();
        let mut boot = BTreeMap::new();
        for kn in self.kairos_nodes.state() {
            let status = kn.status.as_ref();
            let state = status
                .and_then(|s| s.upgrade.as_ref())
                .map_or(UpgradeState::Idle, |u| u.state);
            *upgrade.entry(label(&state)).or_insert(0) += 1;
            let booted = status
                .and_then(|s| s.boot_state)
                .unwrap_or(BootState::Unknown);
            *boot.entry(label(&booted)).or_insert(0) += 1;
        }
        let mut phases = BTreeMap::new();
        for target in self.targets.state() {
            let phase = target
                .status
                .as_ref()
                .map_or(NodePhase::Pending, |s| s.phase);
            if phase != NodePhase::Completed {
                *phases.entry(label(&phase)).or_insert(0) += 1;
            }
        }
        encode_counts(
            &mut encoder,
            "nodes_by_upgrade_state",
            "Kairos nodes by upgrade state",
            upgrade,
        )?;
        encode_counts(
            &mut encoder,
            "nodes_by_boot_state",
            "Kairos nodes by booted image",
            boot,
        )?;
        encode_counts(
            &mut encoder,
            "nodeop_nodes",
            "Nodes of NodeOps by phase (completed ones left out: they only grow)",
            phases,
        )?;
        let undecodable = Family::<KindLabel, Gauge>::default();
        let mut counts: BTreeMap<&'static str, usize> =
            ["KairosNode", "NodeOp", "NodeOpTarget", "NodeOpUpgrade"]
                .into_iter()
                .map(|kind| (kind, 0))
                .collect();
        counts.extend(self.undecodable.counts());
        for (kind, count) in counts {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            undecodable.get_or_create(&KindLabel { kind }).set(count);
        }
        undecodable.encode(encoder.encode_descriptor(
            "undecodable_objects",
            "Objects the operator ignores because it cannot decode them, by kind",
            None,
            undecodable.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests;
