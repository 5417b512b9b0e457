//! Table tests of the per-node planner: given a KairosNode and the NodeOps touching its node,
//! when planned, then which NodeOp is applied or deleted and what `status.upgrade` and the
//! `UpToDate`/`Upgrading` conditions say.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kairos_api::names::{LABEL_KAIROSNODE, conditions};
use kairos_api::v1alpha1::{
    BootState, KairosNode, NodeOp, NodePhase, OperationPhase, UpgradeState, UpgradeStatus,
};

use super::fixtures::*;
use crate::conditions::find;
use crate::upgrade::ANNOTATION_TARGET_VERSION;
use crate::upgrade::node::{NodeConfig, NodeObserved, NodePlan, plan_node};

pub(super) const NS: &str = "kairos-system";
pub(super) const OP_361: &str = "kn-n4-v3.6.1";

pub(super) fn config() -> NodeConfig {
    NodeConfig {
        namespace: NS.into(),
        verify_timeout: Duration::from_secs(600),
        gates: kairos_api::v1alpha1::Gates::default(),
    }
}

/// Node n4 reporting `reported`, booted `boot`, asking for `wanted`.
pub(super) fn n4(reported: &str, boot: BootState, wanted: Option<&str>) -> KairosNode {
    let k = kn("n4", reported, boot);
    match wanted {
        Some(v) => pinned(k, v),
        None => k,
    }
}

pub(super) fn plan_at(
    k: &KairosNode,
    own: Option<NodeOp>,
    fleet: Option<NodeOp>,
    secs: i64,
) -> NodePlan {
    let observed = NodeObserved {
        own_nodeop: own,
        fleet_nodeop: fleet,
        ..NodeObserved::default()
    };
    plan_node(k, &observed, t(secs), &config()).unwrap()
}

pub(super) fn plan(k: &KairosNode, own: Option<NodeOp>, fleet: Option<NodeOp>) -> NodePlan {
    plan_at(k, own, fleet, 100)
}

pub(super) fn cond<'a>(p: &'a NodePlan, ty: &str) -> &'a Condition {
    find(&p.conditions, ty).unwrap()
}

pub(super) fn cond_is(p: &NodePlan, ty: &str, status: &str, reason: &str) {
    let c = cond(p, ty);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        (status, reason),
        "{ty}: {}",
        c.message
    );
}

/// `k` after `p` was written to its status.
pub(super) fn after(k: &KairosNode, p: &NodePlan) -> KairosNode {
    let mut k = k.clone();
    p.apply_to(k.status.as_mut().unwrap());
    k
}

/// The NodeOp a first plan creates for n4 -> v3.6.1, with `phase` as its node entry.
pub(super) fn own(phase: NodeStatusSpec) -> NodeOp {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let op = plan(&k, None, None).nodeop_to_apply.unwrap();
    let op_phase = if phase.0.is_terminal() {
        OperationPhase::Completed
    } else {
        OperationPhase::Running
    };
    with_status(op, op_phase, &[("n4", phase.1)])
}

pub(super) type NodeStatusSpec = (NodePhase, kairos_api::v1alpha1::NodeStatus);

pub(super) fn at(phase: NodePhase) -> NodeStatusSpec {
    (phase, entry_since(phase, 50, Some(BOOT_A)))
}

#[test]
fn without_a_requested_version_nothing_happens() {
    let p = plan(&n4("v3.6.0", BootState::Active, None), None, None);
    assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Idle);
    cond_is(&p, conditions::UP_TO_DATE, "True", "NoVersionRequested");
    cond_is(&p, conditions::UPGRADING, "False", "Idle");
}

#[test]
fn nothing_is_said_of_a_new_kairos_node_before_its_first_report() {
    use crate::upgrade::node::awaits_first_report;
    let mut fresh = n4("v3.6.0", BootState::Active, None);
    fresh.status = None;
    assert!(awaits_first_report(&fresh));
    // Once something is asked, recorded or reported, it is answered.
    assert!(!awaits_first_report(&pinned(fresh.clone(), "v3.6.1")));
    let mut recorded = fresh.clone();
    recorded.status = Some(kairos_api::v1alpha1::KairosNodeStatus {
        upgrade: Some(UpgradeStatus::default()),
        ..Default::default()
    });
    assert!(!awaits_first_report(&recorded));
    assert!(!awaits_first_report(&n4("v3.6.0", BootState::Active, None)));
}

#[test]
fn a_node_at_the_requested_version_is_up_to_date() {
    let p = plan(&n4("v3.6.1", BootState::Active, Some("3.6.1")), None, None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Idle);
    cond_is(&p, conditions::UP_TO_DATE, "True", "AtVersion");
}

#[test]
fn a_new_version_starts_a_single_node_upgrade_with_the_derived_image() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let p = plan(&k, None, None);
    let op = p.nodeop_to_apply.as_ref().unwrap();
    assert_eq!(op.metadata.name.as_deref(), Some(OP_361));
    assert_eq!(op.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(op.metadata.labels.as_ref().unwrap()[LABEL_KAIROSNODE], "n4");
    assert_eq!(
        op.metadata.annotations.as_ref().unwrap()[ANNOTATION_TARGET_VERSION],
        "v3.6.1"
    );
    let owner = &op.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("KairosNode", "uid-n4")
    );
    assert_eq!(op.spec.target_nodes.as_deref().unwrap(), ["n4"]);
    assert_eq!(op.spec.concurrency, 1);
    assert_eq!(op.spec.image, format!("{REPO}:{}", label("v3.6.1")));
    assert!(op.spec.cordon() && op.spec.drain() && op.spec.reboot_on_success());
    assert!(op.spec.command[2].contains("kairos-agent upgrade --source dir:/"));

    let u = &p.upgrade;
    assert_eq!(u.state, UpgradeState::Pending);
    assert_eq!(u.target_version.as_deref(), Some("v3.6.1"));
    assert_eq!(u.node_op.as_deref(), Some("kairos-system/kn-n4-v3.6.1"));
    assert_eq!((u.attempts, u.started_at.clone()), (1, Some(Time(t(100)))));
    cond_is(&p, conditions::UP_TO_DATE, "False", "UpgradePending");
    cond_is(&p, conditions::UPGRADING, "True", "Pending");

    // The cache has not caught up yet: same NodeOp again, nothing counted twice.
    let again = plan_at(&after(&k, &p), None, None, 130);
    assert_eq!(
        again
            .nodeop_to_apply
            .as_ref()
            .unwrap()
            .metadata
            .name
            .as_deref(),
        Some(OP_361)
    );
    assert_eq!(
        (again.upgrade.attempts, again.upgrade.started_at),
        (1, Some(Time(t(100))))
    );
}

#[test]
fn spec_image_recovery_and_force_reach_the_nodeop() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.spec.image = Some("registry.example/kairos:custom".into());
    k.spec.upgrade_recovery = Some(true);
    let op = plan(&k, None, None).nodeop_to_apply.unwrap();
    assert_eq!(op.spec.image, "registry.example/kairos:custom");
    assert!(op.spec.command[2].contains("upgrade --recovery --source dir:/"));
    assert_eq!(
        op.spec.preflight.unwrap().command[2],
        crate::upgrade::script::PULL_ONLY_PREFLIGHT,
        "recovery work is never skipped up front; the preflight only pulls the image"
    );

    // force on a node already at the version upgrades it once.
    let mut k = n4("v3.6.1", BootState::Active, Some("v3.6.1"));
    k.spec.force = Some(true);
    let op = plan(&k, None, None).nodeop_to_apply.unwrap();
    assert!(
        !op.spec.command[2].contains("UP_TO_DATE"),
        "force renders no version gate"
    );
    let done = with_status(
        op.clone(),
        OperationPhase::Completed,
        &[("n4", entry_since(NodePhase::Completed, 90, None))],
    );
    let p = plan(&k, Some(done), None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Completed);
    // Its NodeOp deleted later, the recorded completion keeps it from starting again.
    assert!(plan(&after(&k, &p), None, None).nodeop_to_apply.is_none());
}

#[test]
fn a_recovery_image_of_its_own_reaches_the_recovery_line_only() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let recovery = "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-recovery";
    k.spec.upgrade_recovery = Some(true);
    k.spec.recovery_image = Some(recovery.into());
    let op = plan(&k, None, None).nodeop_to_apply.unwrap();
    let script = &op.spec.command[2];
    assert!(
        script.contains(&format!("upgrade --recovery --source 'oci:{recovery}'")),
        "{script}"
    );
    assert!(
        script.contains("kairos-agent upgrade --source dir:/"),
        "{script}"
    );
    // Without upgradeRecovery it is not used (the CRD refuses that combination).
    k.spec.upgrade_recovery = None;
    let op = plan(&k, None, None).nodeop_to_apply.unwrap();
    assert!(!op.spec.command[2].contains("oci:"));
    // A recovery image for another system is refused like spec.image.
    k.spec.upgrade_recovery = Some(true);
    k.spec.recovery_image = Some("quay.io/kairos/alpine:3.21-core-arm64-rpi4-v3.6.1".into());
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    let upgrading = p
        .conditions
        .iter()
        .find(|c| c.type_ == "Upgrading")
        .unwrap();
    assert_eq!(upgrading.reason, "ImageMismatch");
    assert!(
        upgrading.message.contains("spec.recoveryImage"),
        "{}",
        upgrading.message
    );
}

#[test]
fn an_image_that_cannot_be_derived_is_reported_and_nothing_starts() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.status
        .as_mut()
        .unwrap()
        .kairos
        .as_mut()
        .unwrap()
        .image_label = None;
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UP_TO_DATE, "False", "ImageUnknown");
    cond_is(&p, conditions::UPGRADING, "False", "ImageUnknown");
    assert!(
        cond(&p, conditions::UP_TO_DATE)
            .message
            .contains("KAIROS_IMAGE_LABEL")
    );
    assert!(
        p.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("set spec.image")
    );
}

#[test]
fn paused_holds_a_new_upgrade_but_not_one_in_flight() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.spec.paused = Some(true);
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Pending);
    cond_is(&p, conditions::UP_TO_DATE, "False", "Paused");
    cond_is(&p, conditions::UPGRADING, "False", "Paused");

    let p = plan(&k, Some(own(at(NodePhase::Running))), None);
    assert_eq!(p.upgrade.state, UpgradeState::InProgress);
    assert!(
        p.nodeop_to_apply.is_some(),
        "the NodeOp in flight keeps being applied"
    );
}

#[test]
fn a_live_medium_is_not_upgraded() {
    let p = plan(&n4("v3.6.0", BootState::Livecd, Some("v3.6.1")), None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UP_TO_DATE, "False", "NotInstalled");
}

#[test]
fn a_failed_upgrade_is_not_retried_until_its_nodeop_is_deleted() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let first = plan(&k, None, None);
    let k = after(&k, &first);
    let p = plan(&k, Some(own(at(NodePhase::Failed))), None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Failed);
    assert!(
        p.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("delete NodeOp kairos-system/kn-n4-v3.6.1 to retry")
    );
    assert_eq!(p.upgrade.attempts, 1);

    let k = after(&k, &p);
    let same = plan(&k, Some(own(at(NodePhase::Failed))), None);
    assert_eq!(
        same.upgrade, p.upgrade,
        "a recorded failure stays byte-for-byte the same"
    );
    let retry = plan_at(&k, None, None, 200);
    assert_eq!(
        retry.nodeop_to_apply.unwrap().metadata.name.as_deref(),
        Some(OP_361)
    );
    assert_eq!(
        (retry.upgrade.state, retry.upgrade.attempts),
        (UpgradeState::Pending, 2)
    );
    assert_eq!(retry.upgrade.started_at, Some(Time(t(200))));
}

#[test]
fn a_new_version_replaces_a_finished_nodeop_and_waits_for_one_in_flight() {
    let k = n4("v3.6.1", BootState::Active, Some("v3.6.2"));
    let p = plan(&k, Some(own(at(NodePhase::Completed))), None);
    assert_eq!(p.delete_nodeop.as_deref(), Some(OP_361));
    assert!(
        p.nodeop_to_apply.is_none(),
        "the new one waits until the old one is gone"
    );
    assert_eq!(
        (p.upgrade.state, p.upgrade.target_version.as_deref()),
        (UpgradeState::Pending, Some("v3.6.2"))
    );

    let k = n4("v3.6.0", BootState::Active, Some("v3.6.2"));
    let p = plan(&k, Some(own(at(NodePhase::Running))), None);
    assert!(p.delete_nodeop.is_none() && p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::InProgress);
    assert!(
        p.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("spec.version now asks for v3.6.2")
    );
}

#[test]
fn apply_to_keeps_other_conditions_and_transition_times() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let reporting = Condition {
        type_: conditions::REPORTING.into(),
        status: "True".into(),
        reason: "Reported".into(),
        message: String::new(),
        observed_generation: Some(1),
        last_transition_time: Time(t(1)),
    };
    k.status.as_mut().unwrap().conditions = vec![reporting.clone()];
    let p = plan_at(&k, None, None, 10);
    let k = after(&k, &p);
    let types: Vec<&str> = k
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        [
            conditions::REPORTING,
            conditions::UP_TO_DATE,
            conditions::UPGRADING
        ]
    );
    let again = plan_at(&k, Some(own(at(NodePhase::Running))), None, 20);
    assert_eq!(
        cond(&again, conditions::UPGRADING).last_transition_time,
        Time(t(10))
    );
    let status = k.status.clone().unwrap();
    assert_eq!(status.upgrade, Some(p.upgrade.clone()));
    let _: Option<UpgradeStatus> = status.upgrade;
}

#[test]
fn a_missing_uid_is_an_error() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.metadata.uid = None;
    let err = plan_node(&k, &NodeObserved::default(), t(0), &config()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to plan the node upgrade: missing field .metadata.uid"
    );
}

#[test]
fn a_nodeop_being_deleted_is_followed_but_not_applied_again() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let mut op = own(at(NodePhase::Running));
    op.metadata.deletion_timestamp = Some(Time(t(60)));
    let p = plan(&k, Some(op), None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::InProgress);
}

fn observed(no_agent_report: bool, node_missing: bool) -> NodeObserved {
    NodeObserved {
        no_agent_report,
        node_missing,
        ..NodeObserved::default()
    }
}

#[test]
fn a_kairosnode_no_agent_reports_for_is_never_upgraded() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let p = plan_node(&k, &observed(true, false), t(100), &config()).unwrap();
    assert!(p.nodeop_to_apply.is_none());
    assert!(p.delete_nodeop.is_none());
    assert!(!p.delete_kairos_node);
    cond_is(&p, conditions::UPGRADING, "False", "NoAgentReport");
    cond_is(&p, conditions::UP_TO_DATE, "False", "NoAgentReport");
    assert!(
        cond(&p, conditions::UPGRADING)
            .message
            .contains("no agent reports for this node"),
        "{}",
        cond(&p, conditions::UPGRADING).message
    );
    // A hand-made object without any status is not acted on either.
    let mut bare = k.clone();
    bare.status = None;
    let p = plan_node(&bare, &observed(true, false), t(100), &config()).unwrap();
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UPGRADING, "False", "NoAgentReport");
    // The same KairosNode written by the report service is upgraded.
    assert!(plan(&k, None, None).nodeop_to_apply.is_some());
}

#[test]
fn reported_by_agent_reads_the_report_services_field_manager() {
    use crate::upgrade::node::reported_by_agent;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    let entry = |manager: &str| ManagedFieldsEntry {
        manager: Some(manager.into()),
        ..ManagedFieldsEntry::default()
    };
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    assert!(!reported_by_agent(&k));
    k.metadata.managed_fields = Some(vec![entry("kubectl-client-side-apply")]);
    assert!(!reported_by_agent(&k));
    k.metadata.managed_fields = Some(vec![
        entry("kubectl-patch"),
        entry(crate::kairos_node::REPORT_FIELD_MANAGER),
    ]);
    assert!(reported_by_agent(&k));
}

#[test]
fn a_kairosnode_without_its_node_is_deleted_and_starts_nothing() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    for no_agent_report in [false, true] {
        let p = plan_node(&k, &observed(no_agent_report, true), t(100), &config()).unwrap();
        assert!(p.delete_kairos_node);
        assert!(p.nodeop_to_apply.is_none());
        cond_is(&p, conditions::UPGRADING, "False", "NodeMissing");
    }
    assert!(!plan(&k, None, None).delete_kairos_node);
}

#[test]
fn a_version_that_is_not_a_kairos_version_starts_nothing() {
    for version in ["banana", "latest", "v3.6", "v3.6.1-k3s1"] {
        let k = n4("v3.6.0", BootState::Active, Some(version));
        let p = plan(&k, None, None);
        assert!(p.nodeop_to_apply.is_none(), "{version}");
        cond_is(&p, conditions::UPGRADING, "False", "InvalidVersion");
        assert_eq!(p.upgrade.state, UpgradeState::Pending, "{version}");
    }
    for version in ["3.6.1", "v3.6.1-rc1", "v3.6.1-beta.2"] {
        let k = n4("v3.6.0", BootState::Active, Some(version));
        assert!(plan(&k, None, None).nodeop_to_apply.is_some(), "{version}");
    }
}

#[test]
fn pausing_after_the_nodeop_exists_pauses_that_nodeop() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let created = plan(&k, None, None).nodeop_to_apply.unwrap();
    assert_eq!(created.spec.paused, None);
    k.spec.paused = Some(true);
    for phase in [NodePhase::Pending, NodePhase::Preflight, NodePhase::Running] {
        let p = plan(&k, Some(own(at(phase))), None);
        let applied = p.nodeop_to_apply.expect("the NodeOp is applied again");
        assert_eq!(applied.spec.paused, Some(true), "{phase:?}");
        assert!(
            p.upgrade.message.as_deref().unwrap().contains("paused"),
            "{:?}",
            p.upgrade.message
        );
    }
    // Unpausing removes the field again.
    k.spec.paused = Some(false);
    let p = plan(&k, Some(own(at(NodePhase::Pending))), None);
    assert_eq!(p.nodeop_to_apply.unwrap().spec.paused, None);
}

#[test]
fn a_spec_image_that_does_not_fit_the_node_is_reported_and_nothing_starts() {
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.spec.image = Some("quay.io/kairos/ubuntu:24.04-core-arm64-rpi4-v3.6.1".into());
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UPGRADING, "False", "ImageMismatch");
    let msg = &cond(&p, conditions::UPGRADING).message;
    // The node reports no variant or architecture: only what both sides say is judged.
    assert!(
        msg.contains("(Kubernetes distribution: image none, node k3s)"),
        "{msg}"
    );
    // Said on purpose: it runs.
    k.spec.allow_system_change = Some(true);
    assert!(plan(&k, None, None).nodeop_to_apply.is_some());
}

#[test]
fn a_per_node_upgrade_carries_the_operator_wide_gates() {
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let mut cfg = config();
    cfg.gates = serde_json::from_value(serde_json::json!({
        "window": {"days": ["sat"], "startTime": "22:00", "endTime": "04:00"},
        "blockingPodSelector": {"matchLabels": {"app": "backup"}},
        "alertGate": {"alertNames": "KubeNode.*"},
    }))
    .unwrap();
    let p = plan_node(&k, &NodeObserved::default(), t(100), &cfg).unwrap();
    let op = p.nodeop_to_apply.as_ref().unwrap();
    assert_eq!(op.spec.gates, cfg.gates);
}

#[test]
fn a_trusted_boot_node_is_upgraded_only_from_a_declared_uki_image() {
    let uki = "registry.local/edge/kairos-uki:v3.6.1";
    let mut k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    k.status.as_mut().unwrap().trusted_boot = Some(true);
    // The derived image is the node's base image: refused, naming both.
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UPGRADING, "False", "TrustedBootMismatch");
    let msg = &cond(&p, conditions::UPGRADING).message;
    assert!(
        msg.contains("node n4 boots trusted") && msg.contains("quay.io/kairos/ubuntu:"),
        "{msg}"
    );
    // trustedBoot without an image: nothing to derive.
    k.spec.trusted_boot = Some(true);
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UPGRADING, "False", "ImageUnknown");
    // The declared UKI image: the host's own agent installs it.
    k.spec.image = Some(uki.into());
    let p = plan(&k, None, None);
    let op = p.nodeop_to_apply.as_ref().expect("a NodeOp");
    assert_eq!(op.spec.host_pid, Some(true));
    assert!(
        op.spec
            .command
            .last()
            .unwrap()
            .contains(&format!("--source 'oci:{uki}'"))
    );
    // The Job runs in another image; the UKI image is what the status says is installed.
    assert_eq!(crate::upgrade::installed_image(op), uki);
    assert_eq!(p.upgrade.image.as_deref(), Some(uki));
    // The same image for a node that does not boot trusted: refused.
    k.status.as_mut().unwrap().trusted_boot = Some(false);
    let p = plan(&k, None, None);
    assert!(p.nodeop_to_apply.is_none());
    cond_is(&p, conditions::UPGRADING, "False", "TrustedBootMismatch");
    let msg = &cond(&p, conditions::UPGRADING).message;
    assert!(
        msg.contains(uki) && msg.contains("node n4 does not boot trusted"),
        "{msg}"
    );
}
