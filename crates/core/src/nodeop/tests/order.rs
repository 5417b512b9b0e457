//! Tests of target selection and start order: which nodes a `NodeOp` targets, in which order,
//! and how many may start at once.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::{NodeOpSpec, NodePhase, NodeStatus};

use super::fixtures::{cp, node, spec};
use crate::nodeop::NodeInfo;
use crate::nodeop::order::{Hold, SelectError, is_control_plane, pick_starts, select_targets};

fn names(spec: &NodeOpSpec, nodes: &[NodeInfo], operator_node: Option<&str>) -> Vec<String> {
    select_targets(spec, nodes, operator_node)
        .expect("valid selector")
        .into_iter()
        .map(|t| t.name)
        .collect()
}

fn with_selector(yaml: &str) -> NodeOpSpec {
    let mut s = spec();
    s.node_selector = Some(serde_yaml::from_str(yaml).expect("selector"));
    s
}

fn labelled(name: &str, labels: &[(&str, &str)]) -> NodeInfo {
    let mut n = node(name);
    for (k, v) in labels {
        n.labels.insert((*k).to_owned(), (*v).to_owned());
    }
    n
}

#[test]
fn control_plane_nodes_go_first_then_workers_each_by_name() {
    let nodes = [node("w2"), cp("cp2"), node("w1"), cp("cp1")];
    assert_eq!(names(&spec(), &nodes, None), ["cp1", "cp2", "w1", "w2"]);
}

#[test]
fn the_operators_own_node_goes_last_in_its_group() {
    let nodes = [node("a"), node("b"), node("c"), cp("cp1"), cp("cp2")];
    assert_eq!(
        names(&spec(), &nodes, Some("a")),
        ["cp1", "cp2", "b", "c", "a"]
    );
    assert_eq!(
        names(&spec(), &nodes, Some("cp1")),
        ["cp2", "cp1", "a", "b", "c"],
        "a control-plane operator node stays before the workers"
    );
}

#[test]
fn the_legacy_master_label_counts_as_control_plane() {
    let master = labelled("m", &[("node-role.kubernetes.io/master", "")]);
    assert!(is_control_plane(&master.labels));
    let worker = labelled("w", &[("node-role.kubernetes.io/worker", "")]);
    assert!(!is_control_plane(&worker.labels));
    assert_eq!(names(&spec(), &[worker, master], None), ["m", "w"]);
}

#[test]
fn target_nodes_win_over_the_selector_and_unknown_names_are_kept() {
    let mut s = with_selector("matchLabels: {pool: a}");
    s.target_nodes = Some(vec!["w2".into(), "ghost".into(), "w2".into()]);
    let nodes = [labelled("w1", &[("pool", "a")]), node("w2")];
    let targets = select_targets(&s, &nodes, None).expect("valid");
    assert_eq!(
        targets
            .iter()
            .map(|t| (t.name.as_str(), t.control_plane))
            .collect::<Vec<_>>(),
        [("ghost", false), ("w2", false)],
        "duplicates collapse; a name that is no Node stays so that it fails visibly"
    );
}

#[test]
fn an_empty_target_list_falls_back_to_the_selector() {
    let mut s = with_selector("matchLabels: {pool: a}");
    s.target_nodes = Some(vec![]);
    let nodes = [labelled("w1", &[("pool", "a")]), node("w2")];
    assert_eq!(names(&s, &nodes, None), ["w1"]);
}

#[test]
fn a_selector_picks_matching_nodes_only() {
    let s = with_selector(
        "matchExpressions: [{key: zone, operator: In, values: [a, b]}, {key: gpu, operator: DoesNotExist}]",
    );
    let nodes = [
        labelled("n1", &[("zone", "a")]),
        labelled("n2", &[("zone", "c")]),
        labelled("n3", &[("zone", "b"), ("gpu", "1")]),
        labelled("n4", &[("zone", "b")]),
    ];
    assert_eq!(names(&s, &nodes, None), ["n1", "n4"]);
}

#[test]
fn a_selector_matching_nothing_selects_no_node() {
    let s = with_selector("matchLabels: {pool: none}");
    assert!(names(&s, &[node("a"), cp("b")], None).is_empty());
}

#[test]
fn an_invalid_selector_expression_is_an_error_naming_its_key() {
    let table = [
        (
            "matchExpressions: [{key: zone, operator: In}]",
            "failed to select nodes: invalid nodeSelector expression on \"zone\": values must not be empty",
        ),
        (
            "matchExpressions: [{key: zone, operator: Exists, values: [a]}]",
            "failed to select nodes: invalid nodeSelector expression on \"zone\": operator Exists takes no values",
        ),
        (
            "matchExpressions: [{key: zone, operator: Gt, values: ['1']}]",
            "failed to select nodes: invalid nodeSelector expression on \"zone\": unknown operator \"Gt\"",
        ),
    ];
    for (yaml, message) in table {
        let err = select_targets(&with_selector(yaml), &[node("a")], None).expect_err(yaml);
        assert!(matches!(err, SelectError::InvalidSelector { .. }));
        assert_eq!(err.to_string(), message);
    }
}

fn status(phase: NodePhase, order: i32, control_plane: bool) -> NodeStatus {
    NodeStatus {
        phase,
        order,
        control_plane,
        ..NodeStatus::default()
    }
}

fn fleet(entries: &[(&str, NodePhase, i32, bool)]) -> BTreeMap<String, NodeStatus> {
    entries
        .iter()
        .map(|(name, phase, order, cp)| ((*name).to_owned(), status(*phase, *order, *cp)))
        .collect()
}

#[test]
fn control_plane_nodes_start_one_at_a_time_whatever_the_concurrency() {
    let nodes = fleet(&[
        ("cp1", NodePhase::Pending, 0, true),
        ("cp2", NodePhase::Pending, 1, true),
        ("w1", NodePhase::Pending, 2, false),
    ]);
    assert_eq!(pick_starts(&nodes, 5, None), ["cp1"]);
    assert_eq!(pick_starts(&nodes, 0, None), ["cp1"]);
}

#[test]
fn no_worker_starts_while_a_control_plane_node_is_open() {
    let nodes = fleet(&[
        ("cp1", NodePhase::Completed, 0, true),
        ("cp2", NodePhase::Draining, 1, true),
        ("w1", NodePhase::Pending, 2, false),
    ]);
    assert!(pick_starts(&nodes, 3, None).is_empty());
}

#[test]
fn workers_start_in_their_order_up_to_the_concurrency() {
    let nodes = fleet(&[
        ("cp1", NodePhase::Completed, 0, true),
        ("w-a", NodePhase::Pending, 3, false),
        ("w-b", NodePhase::Pending, 1, false),
        ("w-c", NodePhase::Pending, 2, false),
        ("w-d", NodePhase::Running, 4, false),
    ]);
    assert_eq!(
        pick_starts(&nodes, 3, None),
        ["w-b", "w-c"],
        "one of three slots is taken by the running node"
    );
}

#[test]
fn a_concurrency_of_zero_or_below_starts_every_worker() {
    let nodes = fleet(&[
        ("a", NodePhase::Pending, 0, false),
        ("b", NodePhase::Pending, 1, false),
        ("c", NodePhase::Pending, 2, false),
    ]);
    assert_eq!(pick_starts(&nodes, 0, None), ["a", "b", "c"]);
    assert_eq!(pick_starts(&nodes, -1, None), ["a", "b", "c"]);
}

#[test]
fn a_full_fleet_starts_nobody() {
    let nodes = fleet(&[
        ("a", NodePhase::Cordoning, 0, false),
        ("b", NodePhase::Verifying, 1, false),
        ("c", NodePhase::Pending, 2, false),
    ]);
    assert!(pick_starts(&nodes, 2, None).is_empty());
    assert!(pick_starts(&nodes, 1, None).is_empty(), "over the limit");
}

#[test]
fn finished_nodes_free_their_slots() {
    let nodes = fleet(&[
        ("a", NodePhase::Failed, 0, false),
        ("b", NodePhase::Skipped, 1, false),
        ("c", NodePhase::RolledBack, 2, false),
        ("d", NodePhase::Pending, 3, false),
    ]);
    assert_eq!(pick_starts(&nodes, 1, None), ["d"]);
}

#[test]
fn a_hold_starts_nobody() {
    let nodes = fleet(&[("a", NodePhase::Pending, 0, false)]);
    for hold in [Hold::Paused, Hold::StoppedOnFailure, Hold::Gate] {
        assert!(pick_starts(&nodes, 0, Some(hold)).is_empty(), "{hold:?}");
    }
}
