//! The user journey at the planner level: a fleet upgrade of six nodes, then one
//! node's own upgrade through its KairosNode, with the engine's part simulated by hand.

use std::time::Duration;

use kairos_api::names::conditions;
use kairos_api::v1alpha1::{
    BootState, KairosNode, NodeOp, NodePhase, OperationPhase, UpgradeState,
};
use serde_json::json;

use super::fixtures::*;
use crate::conditions::find;
use crate::upgrade::fleet::{FleetObserved, plan_fleet};
use crate::upgrade::node::{NodeConfig, NodeObserved, plan_node};

fn config() -> NodeConfig {
    NodeConfig {
        namespace: "kairos-system".into(),
        verify_timeout: Duration::from_secs(600),
        gates: kairos_api::v1alpha1::Gates::default(),
    }
}

/// The KairosNode of `name` after its agent reported `version` from a new boot.
fn rebooted(name: &str, version: &str) -> KairosNode {
    let mut k = kn(name, version, BootState::Active);
    k.status.as_mut().unwrap().boot_id = Some(BOOT_B.into());
    k
}

#[test]
fn six_nodes_upgrade_through_the_fleet_then_one_through_its_kairosnode() {
    // Given six nodes on v3.5.0 and a NodeOpUpgrade to v3.6.0 with concurrency 2.
    let up = upgrade(json!({"image": IMAGE_360, "concurrency": 2}));
    let nodes = six("v3.5.0");
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let observed = FleetObserved {
        nodes,
        nodeop: None,
    };
    let first = plan_fleet(&up, &observed, t(0)).unwrap();
    let op = first.nodeop_to_apply.unwrap();
    assert_eq!(op.spec.target_nodes.as_ref().unwrap(), &names);
    assert_eq!(op.spec.concurrency, 2);

    // When the engine completed every node (each rebooted, boot ID before = BOOT_A) ...
    let done: Vec<(&str, _)> = names
        .iter()
        .map(|n| {
            (
                n.as_str(),
                entry_since(NodePhase::Completed, 500, Some(BOOT_A)),
            )
        })
        .collect();
    let op: NodeOp = with_status(op, OperationPhase::Completed, &done);
    // ... and every agent reported v3.6.0 from the active system after a new boot,
    for name in &names {
        let k = rebooted(name, "v3.6.0");
        let observed = NodeObserved {
            own_nodeop: None,
            fleet_nodeop: Some(op.clone()),
            ..NodeObserved::default()
        };
        let p = plan_node(&k, &observed, t(600), &config()).unwrap();
        // then `kubectl get kairosnodes` shows each Completed, no per-node NodeOp.
        assert_eq!(p.upgrade.state, UpgradeState::Completed, "{name}");
        assert_eq!(p.upgrade.target_version.as_deref(), Some("v3.6.0"));
        assert!(p.nodeop_to_apply.is_none());
        assert_eq!(
            find(&p.conditions, conditions::UP_TO_DATE).unwrap().status,
            "True"
        );
    }
    let fleet_done = plan_fleet(
        &up,
        &FleetObserved {
            nodes: six("v3.6.0"),
            nodeop: Some(op.clone()),
        },
        t(600),
    )
    .unwrap();
    assert_eq!(fleet_done.status.phase, Some(OperationPhase::Completed));
    assert_eq!(
        (fleet_done.status.total, fleet_done.status.completed),
        (6, 6)
    );

    // When an admin patches w1's KairosNode to v3.6.1, only w1 gets a NodeOp.
    for name in &names {
        let mut k = rebooted(name, "v3.6.0");
        if name == "w1" {
            k.spec.version = Some("v3.6.1".into());
        }
        let observed = NodeObserved {
            own_nodeop: None,
            fleet_nodeop: Some(op.clone()),
            ..NodeObserved::default()
        };
        let p = plan_node(&k, &observed, t(700), &config()).unwrap();
        let started = p.nodeop_to_apply.map(|o| o.spec.image);
        if name == "w1" {
            let want = format!("{REPO}:{}", label("v3.6.1"));
            assert_eq!(started, Some(want));
            assert_eq!(p.upgrade.state, UpgradeState::Pending);
        } else {
            assert_eq!(started, None, "{name}");
        }
    }
}

#[test]
fn planning_a_fleet_again_from_its_written_status_changes_nothing() {
    let mut up = upgrade(json!({"image": IMAGE_360, "concurrency": 2}));
    let mut nodes = six("v3.5.0");
    nodes[5] = node("w3", false, "v3.6.0");
    let first = plan_fleet(
        &up,
        &FleetObserved {
            nodes: nodes.clone(),
            nodeop: None,
        },
        t(0),
    )
    .unwrap();
    let op = first.nodeop_to_apply.clone().unwrap();
    let running = with_status(
        op.clone(),
        OperationPhase::Running,
        &[("cp1", entry_since(NodePhase::Running, 10, Some(BOOT_A)))],
    );
    let done_entries: Vec<(&str, _)> = ["cp1", "cp2", "cp3", "w1", "w2"]
        .iter()
        .map(|n| (*n, entry_since(NodePhase::Completed, 90, Some(BOOT_A))))
        .collect();
    let done = with_status(op, OperationPhase::Completed, &done_entries);
    for nodeop in [None, Some(running), Some(done)] {
        up.status = None;
        let observed = FleetObserved {
            nodes: nodes.clone(),
            nodeop,
        };
        let a = plan_fleet(&up, &observed, t(100)).unwrap();
        up.status = Some(a.status.clone());
        let b = plan_fleet(&up, &observed, t(130)).unwrap();
        assert_eq!(b.status, a.status);
        let json = |p: &crate::upgrade::fleet::FleetPlan| {
            serde_json::to_value(&p.nodeop_to_apply).unwrap()
        };
        assert_eq!(json(&b), json(&a));
    }
}
