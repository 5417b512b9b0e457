//! Table tests of how the per-node planner follows an upgrade NodeOp (its own or a fleet's):
//! engine phases, the node's report after the reboot, and the verify timeout.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kairos_api::names::conditions;
use kairos_api::v1alpha1::{BootState, NodeOp, NodePhase, OperationPhase, UpgradeState};

use super::fixtures::*;
use super::node::{OP_361, after, at, cond, cond_is, n4, own, plan, plan_at};
use crate::upgrade::{JobOutcome, job_outcome};

#[test]
fn engine_phases_map_to_upgrade_states() {
    // The agent already reports the target after a new boot: the engine's phase decides.
    let mut k = n4("v3.6.1", BootState::Active, Some("v3.6.1"));
    k.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    let table = [
        (NodePhase::Pending, UpgradeState::Pending),
        (NodePhase::Preflight, UpgradeState::Pending),
        (NodePhase::Cordoning, UpgradeState::InProgress),
        (NodePhase::Draining, UpgradeState::InProgress),
        (NodePhase::Running, UpgradeState::InProgress),
        (NodePhase::Rebooting, UpgradeState::Rebooting),
        (NodePhase::Verifying, UpgradeState::Rebooting),
        (NodePhase::Uncordoning, UpgradeState::Rebooting),
        (NodePhase::Completed, UpgradeState::Completed),
        (NodePhase::Skipped, UpgradeState::Completed),
        (NodePhase::Failed, UpgradeState::Failed),
        (NodePhase::Stopped, UpgradeState::Failed),
        (NodePhase::RolledBack, UpgradeState::RolledBack),
    ];
    for (phase, state) in table {
        let p = plan(&k, Some(own(at(phase))), None);
        assert_eq!(p.upgrade.state, state, "{phase:?}");
        assert_eq!(
            p.upgrade.node_op.as_deref(),
            Some("kairos-system/kn-n4-v3.6.1")
        );
        let upgrading = matches!(
            state,
            UpgradeState::Pending | UpgradeState::InProgress | UpgradeState::Rebooting
        );
        assert_eq!(
            cond(&p, conditions::UPGRADING).status == "True",
            upgrading,
            "{phase:?}"
        );
        assert_eq!(
            p.upgrade.finished_at.is_some(),
            phase.is_terminal(),
            "{phase:?}"
        );
        assert!(p.delete_nodeop.is_none());
    }
}

#[test]
fn after_the_reboot_the_report_decides() {
    // Rolled back: the new boot came up on the passive system.
    let mut k = n4("v3.6.0", BootState::Passive, Some("v3.6.1"));
    k.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    let p = plan(&k, Some(own(at(NodePhase::Verifying))), None);
    assert_eq!(p.upgrade.state, UpgradeState::RolledBack);
    assert!(p.upgrade.message.as_deref().unwrap().contains("passive"));
    cond_is(&p, conditions::UP_TO_DATE, "False", "RolledBack");

    // No new boot reported: Rebooting until the timeout, then Failed (stable finish time).
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let early = plan_at(&k, Some(own(at(NodePhase::Verifying))), None, 600);
    assert_eq!(early.upgrade.state, UpgradeState::Rebooting);
    let late = plan_at(&k, Some(own(at(NodePhase::Verifying))), None, 700);
    assert_eq!(late.upgrade.state, UpgradeState::Failed);
    assert!(
        late.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("within 600s")
    );
    assert_eq!(late.upgrade.finished_at, Some(Time(t(650))));

    // Completed: the node runs the target from the active system.
    let mut k = n4("v3.6.1", BootState::Active, Some("v3.6.1"));
    k.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    let p = plan(&k, Some(own(at(NodePhase::Completed))), None);
    assert_eq!(p.upgrade.state, UpgradeState::Completed);
    cond_is(&p, conditions::UP_TO_DATE, "True", "AtVersion");
    cond_is(&p, conditions::UPGRADING, "False", "Completed");
}

/// The fleet NodeOp `ops/up` with n4 in `phase`.
fn fleet(phase: NodePhase) -> NodeOp {
    let up = upgrade(serde_json::json!({"image": IMAGE_360}));
    let nodes = vec![node("n4", false, "v3.5.0")];
    let observed = crate::upgrade::fleet::FleetObserved {
        nodes,
        nodeop: None,
    };
    let op = crate::upgrade::fleet::plan_fleet(&up, &observed, t(0))
        .unwrap()
        .nodeop_to_apply
        .unwrap();
    let op_phase = if phase.is_terminal() {
        OperationPhase::Completed
    } else {
        OperationPhase::Running
    };
    with_status(
        op,
        op_phase,
        &[("n4", entry_since(phase, 60, Some(BOOT_A)))],
    )
}

#[test]
fn a_fleet_upgrade_on_the_node_is_shown_and_never_raced() {
    // No spec.version: the KairosNode shows the fleet's progress and result.
    let k = n4("v3.5.0", BootState::Active, None);
    let p = plan(&k, None, Some(fleet(NodePhase::Draining)));
    assert_eq!(p.upgrade.state, UpgradeState::InProgress);
    assert_eq!(p.upgrade.node_op.as_deref(), Some("ops/up"));
    assert_eq!(p.upgrade.target_version.as_deref(), Some("v3.6.0"));
    // The engine finished, but the agent has not reported the new version yet.
    let k = after(&k, &p);
    let p = plan(&k, None, Some(fleet(NodePhase::Completed)));
    assert_eq!(p.upgrade.state, UpgradeState::Rebooting);
    assert!(
        p.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("waiting for the node's agent")
    );
    // It has (after a new boot): Completed, still the first attempt.
    let mut k6 = n4("v3.6.0", BootState::Active, None);
    k6.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    k6.status.as_mut().unwrap().upgrade = k.status.as_ref().unwrap().upgrade.clone();
    let p = plan(&k6, None, Some(fleet(NodePhase::Completed)));
    assert_eq!(
        (p.upgrade.state, p.upgrade.attempts),
        (UpgradeState::Completed, 1)
    );

    // spec.version set while the fleet still runs on the node: wait for it.
    let k = n4("v3.5.0", BootState::Active, Some("v3.6.1"));
    let p = plan(&k, None, Some(fleet(NodePhase::Pending)));
    assert!(p.nodeop_to_apply.is_none());
    assert!(
        p.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("waits for the fleet upgrade")
    );
    // ... and start once it finished.
    let p = plan(&k, None, Some(fleet(NodePhase::Completed)));
    assert_eq!(
        p.nodeop_to_apply.unwrap().metadata.name.as_deref(),
        Some(OP_361)
    );
}

#[test]
fn an_up_to_date_job_completes_without_reboot_and_is_not_restarted() {
    // The engine maps the up-to-date termination message to Completed without rebooting.
    let term = format!(
        "{}\nhost already runs v3.6.1+k3sv1.33.1+k3s1\n",
        crate::upgrade::script::UP_TO_DATE_MARKER
    );
    assert!(matches!(
        job_outcome(Some(&term)),
        JobOutcome::UpToDate { .. }
    ));
    // No reboot (same boot ID) and the agent reports the target: Completed, up to date.
    let k = n4("v3.6.1", BootState::Active, Some("v3.6.1"));
    let p = plan(&k, Some(own(at(NodePhase::Completed))), None);
    assert_eq!(p.upgrade.state, UpgradeState::Completed);
    cond_is(&p, conditions::UP_TO_DATE, "True", "AtVersion");
    // A stale report (still v3.6.0) waits for the agent; the NodeOp is not started again.
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let p = plan(&k, Some(own(at(NodePhase::Completed))), None);
    assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
    assert_eq!(p.upgrade.state, UpgradeState::Rebooting);
}

#[test]
fn the_engines_completed_counts_only_with_the_agents_report() {
    // Reported passive after a new boot: RolledBack, even if the engine says Completed.
    let mut k = n4("v3.6.0", BootState::Passive, Some("v3.6.1"));
    k.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    let p = plan(&k, Some(own(at(NodePhase::Completed))), None);
    assert_eq!(p.upgrade.state, UpgradeState::RolledBack);
    assert_eq!(
        p.upgrade.finished_at,
        Some(Time(t(50))),
        "a stable finish time"
    );
    // Nothing reported: Rebooting, then Failed once verify_timeout passed.
    let k = n4("v3.6.0", BootState::Active, Some("v3.6.1"));
    let waiting = plan_at(&k, Some(own(at(NodePhase::Completed))), None, 640);
    assert_eq!(
        (waiting.upgrade.state, waiting.upgrade.finished_at),
        (UpgradeState::Rebooting, None)
    );
    let late = plan_at(&k, Some(own(at(NodePhase::Completed))), None, 651);
    assert_eq!(late.upgrade.state, UpgradeState::Failed);
    assert!(
        late.upgrade
            .message
            .as_deref()
            .unwrap()
            .contains("did not report v3.6.1")
    );
    assert_eq!(late.upgrade.finished_at, Some(Time(t(650))));
    // The engine's Rebooting has its own reboot timeout: no verdict from silence there.
    let rebooting = plan_at(&k, Some(own(at(NodePhase::Rebooting))), None, 5000);
    assert_eq!(rebooting.upgrade.state, UpgradeState::Rebooting);
}

#[test]
fn a_recorded_end_is_history_that_later_reports_do_not_rewrite() {
    // n4 completed a fleet upgrade to v3.6.0 (recorded), and later runs v3.6.1 from a newer boot.
    let k = n4("v3.6.0", BootState::Active, None);
    let p = plan(&k, None, Some(fleet(NodePhase::Completed)));
    assert_eq!(p.upgrade.state, UpgradeState::Completed);
    let mut later = after(&k, &p);
    let status = later.status.as_mut().unwrap();
    status.kairos.as_mut().unwrap().version = Some("v3.6.1".into());
    status.boot_id = Some("33333333-3333-3333-3333-333333333333".into());
    let again = plan(&later, None, Some(fleet(NodePhase::Completed)));
    assert_eq!(
        again.upgrade, p.upgrade,
        "still the recorded Completed, not a version mismatch"
    );
}

#[test]
fn planning_again_from_the_written_status_changes_nothing() {
    use NodePhase as P;
    let phases = [
        P::Pending,
        P::Preflight,
        P::Cordoning,
        P::Draining,
        P::Running,
        P::Rebooting,
        P::Verifying,
        P::Uncordoning,
        P::Completed,
        P::Skipped,
        P::Failed,
        P::Stopped,
        P::RolledBack,
    ];
    let reports = [
        ("v3.6.0", BootState::Active, BOOT_A),
        ("v3.6.1", BootState::Active, BOOT_B),
        ("v3.6.0", BootState::Passive, BOOT_B),
    ];
    for (version, boot, boot_id) in reports {
        let mut k = n4(version, boot, Some("v3.6.1"));
        k.status.as_mut().unwrap().boot_id = Some(boot_id.into());
        let mut cases: Vec<Option<NodeOp>> = phases.iter().map(|p| Some(own(at(*p)))).collect();
        cases.push(None);
        for op in cases {
            let first = plan_at(&k, op.clone(), None, 100);
            let second = plan_at(&after(&k, &first), op.clone(), None, 120);
            let ctx = format!(
                "{version} {boot:?} {:?}",
                op.as_ref().map(|o| o.status.clone())
            );
            assert_eq!(second.upgrade, first.upgrade, "{ctx}");
            assert_eq!(second.conditions, first.conditions, "{ctx}");
        }
    }
}
