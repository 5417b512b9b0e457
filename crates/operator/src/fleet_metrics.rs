//! Gauges computed from the caches at scrape time: Kairos nodes by upgrade state, boot state,
//! reported version and `Reporting` condition, NodeOp nodes by phase, operations by kind and
//! phase, and the objects left out because they do not decode. Labels are bounded enums, except
//! `version`, which takes one value per Kairos version the fleet runs. Reads only process memory.

use std::collections::BTreeMap;

use kairos_api::names::conditions::REPORTING;
use kairos_api::v1alpha1::{BootState, NodePhase, OperationPhase, UpgradeState};
use kairos_api::{KairosNode, NodeOp, NodeOpTarget, NodeOpUpgrade};
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
    /// Every NodeOp.
    pub(crate) nodeops: Store<NodeOp>,
    /// Every NodeOpUpgrade.
    pub(crate) upgrades: Store<NodeOpUpgrade>,
    /// The custom objects the caches leave out because they do not decode.
    pub(crate) undecodable: Undecodable,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    kind: &'static str,
    phase: String,
}

/// Encodes one gauge family with a sample per key of `counts`, labelled by `label(key)`.
fn encode_counts<K, L>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counts: BTreeMap<K, i64>,
    label: impl Fn(K) -> L,
) -> Result<(), std::fmt::Error>
where
    L: EncodeLabelSet + Clone + std::fmt::Debug + std::hash::Hash + Eq,
{
    let family = Family::<L, Gauge>::default();
    for (key, count) in counts {
        family.get_or_create(&label(key)).set(count);
    }
    family.encode(encoder.encode_descriptor(name, help, None, family.metric_type())?)
}

fn state(state: String) -> StateLabel {
    StateLabel { state }
}

/// The status of the `Reporting` condition of a KairosNode (`Unknown` without one).
fn reporting(kn: &KairosNode) -> String {
    kn.status
        .iter()
        .flat_map(|s| &s.conditions)
        .find(|c| c.type_ == REPORTING)
        .map_or_else(|| "Unknown".to_owned(), |c| c.status.clone())
}

/// Operations of one kind counted by phase (every phase present, so a phase that empties
/// reads 0 rather than vanishing).
fn count_phases(
    kind: &'static str,
    phases: impl Iterator<Item = Option<OperationPhase>>,
    into: &mut BTreeMap<(&'static str, String), i64>,
) {
    for phase in [
        OperationPhase::Pending,
        OperationPhase::Running,
        OperationPhase::Completed,
        OperationPhase::Failed,
        OperationPhase::Stopped,
    ] {
        into.entry((kind, label(&phase))).or_insert(0);
    }
    for phase in phases {
        *into
            .entry((kind, label(&phase.unwrap_or_default())))
            .or_insert(0) += 1;
    }
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
        let mut versions = BTreeMap::new();
        let mut reporting_counts = BTreeMap::new();
        for kn in self.kairos_nodes.state() {
            *reporting_counts.entry(reporting(&kn)).or_insert(0) += 1;
            let status = kn.status.as_ref();
            let state = status
                .and_then(|s| s.upgrade.as_ref())
                .map_or(UpgradeState::Idle, |u| u.state);
            *upgrade.entry(label(&state)).or_insert(0) += 1;
            let booted = status
                .and_then(|s| s.boot_state)
                .unwrap_or(BootState::Unknown);
            *boot.entry(label(&booted)).or_insert(0) += 1;
            let version = status
                .and_then(|s| s.kairos.as_ref())
                .and_then(|k| k.version.clone())
                .unwrap_or_else(|| "unknown".to_owned());
            *versions.entry(version).or_insert(0) += 1;
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
            state,
        )?;
        encode_counts(
            &mut encoder,
            "nodes_by_boot_state",
            "Kairos nodes by booted image",
            boot,
            state,
        )?;
        encode_counts(
            &mut encoder,
            "nodes_by_version",
            "Kairos nodes by the Kairos version they report",
            versions,
            |version| VersionLabel { version },
        )?;
        encode_counts(
            &mut encoder,
            "nodes_by_reporting",
            "Kairos nodes by the status of their Reporting condition (False: the agent went silent)",
            reporting_counts,
            state,
        )?;
        encode_counts(
            &mut encoder,
            "nodeop_nodes",
            "Nodes of NodeOps by phase (completed ones left out: they only grow)",
            phases,
            state,
        )?;
        let mut operations = BTreeMap::new();
        count_phases(
            "NodeOp",
            self.nodeops
                .state()
                .iter()
                .map(|o| o.status.as_ref().and_then(|s| s.phase)),
            &mut operations,
        );
        count_phases(
            "NodeOpUpgrade",
            self.upgrades
                .state()
                .iter()
                .map(|o| o.status.as_ref().and_then(|s| s.phase)),
            &mut operations,
        );
        encode_counts(
            &mut encoder,
            "operations",
            "NodeOps and NodeOpUpgrades by kind and phase",
            operations,
            |(kind, phase)| OperationLabels { kind, phase },
        )?;
        let undecodable = Family::<KindLabel, Gauge>::default();
        let mut counts: BTreeMap<&'static str, usize> = [
            "KairosNode",
            "NodeOp",
            "NodeOpConfig",
            "NodeOpTarget",
            "NodeOpUpgrade",
        ]
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
