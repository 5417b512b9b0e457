//! The seed document's NodeOp example run end to end against the fake cluster: five nodes,
//! two of them control plane, concurrency 1. Test-only; no I/O.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{NodeOp, NodePhase, OperationPhase};

use super::fake_cluster::World;
use super::fixtures::{op, t};
use crate::nodeop::{Action, Config, plan};

#[test]
fn the_seed_example_goes_one_node_at_a_time_control_plane_first_and_reboots_each_once() {
    let seed: NodeOp = serde_yaml::from_str(include_str!("testdata/seed-nodeop.yaml")).unwrap();
    let mut op = op(seed.spec);
    let mut world = World::new(&[(false, false); 5], 2, None);
    for n in &mut world.nodes {
        n.labels.insert("kairos.io/managed".into(), "true".into());
    }
    let outcomes: BTreeMap<String, (bool, u32)> = world
        .nodes
        .iter()
        .map(|n| (n.name.clone(), (true, 3)))
        .collect();
    let mut cordoned = Vec::new();
    for round in 0..500 {
        let p = plan(&op, &world.observe(), &Config::default(), t(round * 10)).unwrap();
        for a in &p.acquire {
            world.acquire(a).unwrap();
        }
        world.write_targets(&p.targets);
        assert!(p.status.in_progress <= 1, "concurrency 1");
        for a in &p.actions {
            if let Action::Cordon { node, .. } = a
                && !cordoned.contains(node)
            {
                cordoned.push(node.clone());
            }
        }
        for a in p.actions {
            world.apply(a).unwrap();
        }
        op.status = Some(p.status.clone());
        if p.status.phase == Some(OperationPhase::Completed) {
            break;
        }
        world.tick(&outcomes);
    }
    let status = op.status.unwrap();
    assert_eq!(status.phase, Some(OperationPhase::Completed), "{status:?}");
    assert_eq!(cordoned, ["cp0", "cp1", "w2", "w3", "w4"]);
    for n in &world.nodes {
        assert!(
            !n.unschedulable && n.cordoned_by.is_none(),
            "{} uncordoned",
            n.name
        );
        assert!(
            world.boot_ids[&n.name].starts_with('f'),
            "{} rebooted",
            n.name
        );
        assert_eq!(world.jobs_created[&n.name], 1, "one Job on {}", n.name);
        let pods = &world.node_pods[&n.name];
        assert!(
            pods.iter().all(|p| !p.name.starts_with("web-")),
            "{} drained",
            n.name
        );
        assert_eq!(status.node_statuses[&n.name].phase, NodePhase::Completed);
    }
    assert_eq!(world.pods.len(), 5, "one reboot pod per node");
}
