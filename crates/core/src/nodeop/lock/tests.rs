//! Tests of node locks: holders, the control-plane rule, the disruption budget and Lease names.

use super::*;

fn lock(holder: &str, cp: bool) -> NodeLock {
    NodeLock {
        holder: format!("{holder}@uid-{holder}"),
        control_plane: cp,
    }
}

#[test]
fn a_node_held_by_another_operation_waits_for_it() {
    let locks = BTreeMap::from([("w1".to_owned(), lock("ns/a", false))]);
    let none = BTreeSet::new();
    let wait = admit(&locks, &none, "w1", false, "ns/b@uid-b", Limits::default());
    assert_eq!(
        wait.unwrap_err().to_string(),
        "waiting for ns/a, which holds the node"
    );
    assert_eq!(
        admit(
            &locks,
            &none,
            "w1",
            false,
            "ns/a@uid-ns/a",
            Limits::default()
        ),
        Ok(())
    );
    assert_eq!(
        admit(&locks, &none, "w2", false, "ns/b@uid-b", Limits::default()),
        Ok(())
    );
}

#[test]
fn one_control_plane_node_at_a_time_across_operations() {
    let locks = BTreeMap::from([("cp1".to_owned(), lock("ns/a", true))]);
    let none = BTreeSet::new();
    let wait = admit(&locks, &none, "cp2", true, "ns/b@uid-b", Limits::default());
    assert!(matches!(wait, Err(Wait::ControlPlaneBusy { ref node, .. }) if node == "cp1"));
    // Workers are not held back by a control-plane node of another operation.
    assert_eq!(
        admit(&locks, &none, "w1", false, "ns/b@uid-b", Limits::default()),
        Ok(())
    );
}

#[test]
fn the_budget_counts_held_and_still_cordoned_nodes_once() {
    let limits = Limits {
        max_disrupted_nodes: Some(2),
    };
    let locks = BTreeMap::from([("w1".to_owned(), lock("ns/a", false))]);
    let cordoned = BTreeSet::from(["w1".to_owned()]);
    assert_eq!(
        admit(&locks, &cordoned, "w2", false, "ns/b@x", limits),
        Ok(())
    );
    let cordoned = BTreeSet::from(["w1".to_owned(), "w9".to_owned()]);
    assert_eq!(
        admit(&locks, &cordoned, "w2", false, "ns/b@x", limits),
        Err(Wait::Budget {
            disrupted: 2,
            limit: 2
        })
    );
}

#[test]
fn lease_names_are_valid_for_any_node_name() {
    assert_eq!(lease_name("w1"), "kairos-node-w1");
    let long = format!("{}.example.com", "n".repeat(250));
    let name = lease_name(&long);
    assert!(name.len() <= MAX_NAME, "{}", name.len());
    assert!(name.starts_with("kairos-node-n"));
    assert_ne!(lease_name(&long), lease_name(&format!("{long}x")));
}

#[test]
fn holder_names_drop_the_uid() {
    assert_eq!(holder_name("ns/op@1234"), "ns/op");
    assert_eq!(lock("ns/a", false).holder_name(), "ns/a");
}

/// Whether `holder` may take worker `node` with nothing cordoned.
fn admit_worker(
    locks: &BTreeMap<String, NodeLock>,
    node: &str,
    holder: &str,
    limits: Limits,
) -> Result<(), Wait> {
    admit(locks, &BTreeSet::new(), node, false, holder, limits)
}

#[test]
fn a_worker_may_start_while_a_control_plane_node_is_held() {
    let locks = BTreeMap::from([("cp1".to_owned(), lock("ns/a", true))]);
    assert_eq!(
        admit_worker(&locks, "w1", "ns/b@uid-b", Limits::default()),
        Ok(())
    );
}

#[test]
fn the_holder_keeps_its_node_even_over_the_budget() {
    let locks = BTreeMap::from([
        ("w1".to_owned(), lock("ns/a", false)),
        ("w2".to_owned(), lock("ns/b", false)),
    ]);
    let limits = Limits {
        max_disrupted_nodes: Some(1),
    };
    assert_eq!(admit_worker(&locks, "w1", "ns/a@uid-ns/a", limits), Ok(()));
    assert_eq!(
        admit_worker(&locks, "w3", "ns/a@uid-ns/a", limits),
        Err(Wait::Budget {
            disrupted: 2,
            limit: 1
        })
    );
}

#[test]
fn a_budget_of_zero_takes_no_node() {
    let limits = Limits {
        max_disrupted_nodes: Some(0),
    };
    let err = admit(
        &BTreeMap::new(),
        &BTreeSet::new(),
        "w1",
        false,
        "ns/a@u",
        limits,
    )
    .expect_err("no room");
    assert_eq!(
        err.to_string(),
        "waiting: 0 node(s) are disrupted by operations (--max-disrupted-nodes 0)"
    );
}

#[test]
fn long_node_names_sharing_a_head_get_distinct_leases() {
    let head = "n".repeat(260);
    let a = lease_name(&format!("{head}a"));
    let b = lease_name(&format!("{head}b"));
    assert_ne!(a, b);
    assert_eq!(a.len(), 253);
    assert!(a.starts_with("kairos-node-nnn"));
}

#[test]
fn a_short_node_name_is_kept_whole() {
    assert_eq!(
        lease_name("worker-1.example"),
        "kairos-node-worker-1.example"
    );
    let longest = "a".repeat(253 - "kairos-node-".len());
    assert_eq!(lease_name(&longest), format!("kairos-node-{longest}"));
}
