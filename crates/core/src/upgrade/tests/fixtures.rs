//! Small builders for the upgrade planner tests.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::CONTROL_PLANE_LABELS;
use kairos_api::v1alpha1::{
    BootState, KairosInfo, KairosNode, KairosNodeSpec, KairosNodeStatus, NodeOp, NodeOpStatus,
    NodeOpUpgrade, NodeOpUpgradeSpec, NodePhase, NodeStatus, OperationPhase,
};

use crate::upgrade::fleet::ObservedNode;

pub(super) const BOOT_A: &str = "11111111-1111-1111-1111-111111111111";
pub(super) const BOOT_B: &str = "22222222-2222-2222-2222-222222222222";
pub(super) const REPO: &str = "quay.io/kairos/ubuntu";
pub(super) const IMAGE_360: &str =
    "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1";

pub(super) fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

pub(super) fn label(version: &str) -> String {
    format!("24.04-standard-amd64-generic-{version}-k3sv1.33.1-k3s1")
}

/// A NodeOpUpgrade `ops/up` (uid `uid-up`, generation 1) from a JSON spec.
pub(super) fn upgrade(spec: serde_json::Value) -> NodeOpUpgrade {
    let spec: NodeOpUpgradeSpec = serde_json::from_value(spec).unwrap();
    NodeOpUpgrade {
        metadata: ObjectMeta {
            name: Some("up".into()),
            namespace: Some("ops".into()),
            uid: Some("uid-up".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// The KairosNode of a node that reports `version`, booted `boot`.
pub(super) fn kn(name: &str, version: &str, boot: BootState) -> KairosNode {
    KairosNode {
        metadata: ObjectMeta {
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: KairosNodeSpec::default(),
        status: Some(KairosNodeStatus {
            kairos: Some(KairosInfo {
                version: Some(version.into()),
                image_repo: Some(REPO.into()),
                image_label: Some(label(version)),
                software_version: Some("v1.33.1+k3s1".into()),
                software_version_prefix: Some("k3s".into()),
                ..KairosInfo::default()
            }),
            boot_state: Some(boot),
            boot_id: Some(BOOT_A.into()),
            ..KairosNodeStatus::default()
        }),
    }
}

/// `kn` with `spec.version` set.
pub(super) fn pinned(mut k: KairosNode, version: &str) -> KairosNode {
    k.spec.version = Some(version.into());
    k
}

/// A Kairos node on `version`, booted active.
pub(super) fn node(name: &str, control_plane: bool, version: &str) -> ObservedNode {
    bare_node(
        name,
        control_plane,
        Some(kn(name, version, BootState::Active)),
    )
}

pub(super) fn bare_node(name: &str, control_plane: bool, k: Option<KairosNode>) -> ObservedNode {
    let mut labels = BTreeMap::new();
    if control_plane {
        labels.insert(CONTROL_PLANE_LABELS[0].to_owned(), String::new());
    }
    ObservedNode {
        name: name.into(),
        labels,
        kairos_node: k,
    }
}

/// Six nodes on `version`: cp1..cp3 control plane, w1..w3 workers.
pub(super) fn six(version: &str) -> Vec<ObservedNode> {
    ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
        .iter()
        .map(|n| node(n, n.starts_with("cp"), version))
        .collect()
}

pub(super) fn entry(phase: NodePhase) -> NodeStatus {
    NodeStatus {
        phase,
        ..NodeStatus::default()
    }
}

/// `op` with a status: `phase` and per-node entries.
pub(super) fn with_status(
    mut op: NodeOp,
    phase: OperationPhase,
    nodes: &[(&str, NodeStatus)],
) -> NodeOp {
    let node_statuses: std::collections::BTreeMap<String, NodeStatus> = nodes
        .iter()
        .map(|(n, s)| ((*n).to_owned(), s.clone()))
        .collect();
    // The counts as the engine writes them.
    let k = crate::nodeop::status::count(&node_statuses);
    op.status = Some(NodeOpStatus {
        phase: Some(phase),
        node_statuses,
        total: k.total,
        completed: k.completed,
        failed: k.failed,
        skipped: k.skipped,
        in_progress: k.in_progress,
        ..NodeOpStatus::default()
    });
    op.metadata.creation_timestamp = Some(Time(t(0)));
    op
}

/// A status entry in `phase` that entered it at `since` (seconds after [`t`]'s origin).
pub(super) fn entry_since(phase: NodePhase, since: i64, boot_before: Option<&str>) -> NodeStatus {
    NodeStatus {
        phase,
        started_at: Some(Time(t(0))),
        last_transition_time: Some(Time(t(since))),
        boot_id_before: boot_before.map(str::to_owned),
        finished_at: phase.is_terminal().then(|| Time(t(since))),
        ..NodeStatus::default()
    }
}
