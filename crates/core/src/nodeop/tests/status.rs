//! Tests of the node counts and of which nodes a large operation's status lists.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{NodePhase, NodeStatus};

use crate::nodeop::status::{Counts, MAX_LISTED_NODES, count, listed};

fn status(phase: NodePhase, order: i32) -> NodeStatus {
    NodeStatus {
        phase,
        order,
        ..NodeStatus::default()
    }
}

fn nodes(phases: &[NodePhase]) -> BTreeMap<String, NodeStatus> {
    phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let order = i32::try_from(i).expect("small");
            (format!("n{i:04}"), status(*p, order))
        })
        .collect()
}

#[test]
fn nodes_are_counted_by_phase() {
    use NodePhase as P;
    let k = count(&nodes(&[
        P::Pending,
        P::Pending,
        P::Cordoning,
        P::Rebooting,
        P::Uncordoning,
        P::Completed,
        P::Skipped,
        P::Failed,
        P::RolledBack,
        P::Stopped,
    ]));
    assert_eq!(
        k,
        Counts {
            total: 10,
            completed: 2,
            failed: 2,
            skipped: 1,
            in_progress: 3,
            stopped: 1,
            pending: 2,
        }
    );
}

#[test]
fn an_operation_without_nodes_counts_zero_everywhere() {
    assert_eq!(count(&BTreeMap::new()), Counts::default());
}

#[test]
fn a_small_operation_lists_every_node() {
    let all = nodes(&[NodePhase::Completed; MAX_LISTED_NODES]);
    assert_eq!(listed(&all), all);
}

#[test]
fn a_large_operation_lists_nodes_in_flight_then_failed_ones() {
    use NodePhase as P;
    let mut phases = vec![P::Completed; MAX_LISTED_NODES];
    phases[10] = P::Draining;
    phases[20] = P::Failed;
    phases[30] = P::Pending;
    phases[40] = P::RolledBack;
    phases.push(P::Verifying);
    let got = listed(&nodes(&phases));
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    assert_eq!(names, ["n0010", "n0020", "n0040", "n0100"]);
}

#[test]
fn a_huge_rollout_lists_the_first_nodes_in_flight_by_order_before_any_failure() {
    let mut all = BTreeMap::new();
    // Names in the reverse of the rollout order, so that name order cannot pass for it.
    for order in 0..150 {
        all.insert(
            format!("n{:04}", 1000 - order),
            status(NodePhase::Running, order),
        );
    }
    all.insert("failed".to_owned(), status(NodePhase::Failed, 0));
    let got = listed(&all);
    assert_eq!(got.len(), MAX_LISTED_NODES);
    assert!(!got.contains_key("failed"));
    let mut orders: Vec<i32> = got.values().map(|s| s.order).collect();
    orders.sort_unstable();
    assert_eq!(orders, (0..100).collect::<Vec<_>>());
}
