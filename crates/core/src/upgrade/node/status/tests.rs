//! Tests of the small pieces of a node's upgrade status: attempts, messages, and which of the
//! node's operations counts.

use std::time::Duration;

use kairos_api::v1alpha1::{Gates, NodeOpSpec};

use super::*;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).expect("in range")
}

fn config() -> NodeConfig {
    NodeConfig {
        namespace: "kairos-system".into(),
        verify_timeout: Duration::from_secs(600),
        gates: Gates::default(),
    }
}

fn ctx<'a>(
    status: &'a KairosNodeStatus,
    prev: Option<&'a UpgradeStatus>,
    config: &'a NodeConfig,
) -> MapCtx<'a> {
    MapCtx {
        status,
        prev,
        now: at(100),
        config,
    }
}

fn prev(state: UpgradeState, version: &str, node_op: Option<&str>, attempts: i32) -> UpgradeStatus {
    UpgradeStatus {
        state,
        target_version: Some(version.into()),
        node_op: node_op.map(str::to_owned),
        started_at: Some(Time(at(0))),
        attempts,
        ..UpgradeStatus::default()
    }
}

#[test]
fn a_first_start_is_attempt_one_stamped_now() {
    let (status, config) = (KairosNodeStatus::default(), config());
    let got = starting(
        &ctx(&status, None, &config),
        "v3.6.0",
        "img".into(),
        "kairos-system/up-n1".into(),
        "starting".into(),
    );
    assert_eq!(got.attempts, 1);
    assert_eq!(got.started_at, Some(Time(at(100))));
    assert_eq!(got.state, UpgradeState::Pending);
    assert_eq!(got.node_op.as_deref(), Some("kairos-system/up-n1"));
}

#[test]
fn repeating_the_same_creation_keeps_the_attempt_and_its_start() {
    let (status, config) = (KairosNodeStatus::default(), config());
    let before = prev(
        UpgradeState::Pending,
        "v3.6.0",
        Some("kairos-system/up-n1"),
        2,
    );
    let got = starting(
        &ctx(&status, Some(&before), &config),
        "v3.6.0",
        "img".into(),
        "kairos-system/up-n1".into(),
        "starting".into(),
    );
    assert_eq!(got.attempts, 2);
    assert_eq!(got.started_at, Some(Time(at(0))));
}

#[test]
fn a_new_start_for_the_same_version_counts_one_more_attempt() {
    let (status, config) = (KairosNodeStatus::default(), config());
    let failed = prev(
        UpgradeState::Failed,
        "3.6.0",
        Some("kairos-system/up-n1-a"),
        2,
    );
    let got = starting(
        &ctx(&status, Some(&failed), &config),
        "v3.6.0",
        "img".into(),
        "kairos-system/up-n1-b".into(),
        "again".into(),
    );
    assert_eq!(got.attempts, 3, "v3.6.0 and 3.6.0 are the same version");
    assert_eq!(got.started_at, Some(Time(at(100))));
}

#[test]
fn a_new_version_starts_counting_again() {
    let (status, config) = (KairosNodeStatus::default(), config());
    let failed = prev(
        UpgradeState::Failed,
        "v3.5.0",
        Some("kairos-system/up-n1"),
        4,
    );
    let c = ctx(&status, Some(&failed), &config);
    assert_eq!(
        starting(
            &c,
            "v3.6.0",
            "img".into(),
            "kairos-system/up-n1-b".into(),
            "x".into()
        )
        .attempts,
        1
    );
    assert_eq!(pending(&c, "v3.6.0", None, "waiting".into()).attempts, 0);
    assert_eq!(pending(&c, "v3.5.0", None, "waiting".into()).attempts, 4);
}

#[test]
fn an_idle_node_says_what_it_runs() {
    assert_eq!(
        idle(Some("v3.6.0")).message.as_deref(),
        Some("the node runs v3.6.0")
    );
    assert_eq!(
        idle(None).message.as_deref(),
        Some("the node runs an unknown version")
    );
    assert_eq!(idle(None).state, UpgradeState::Idle);
}

#[test]
fn a_note_is_appended_once() {
    let mut u = UpgradeStatus {
        message: Some("waiting".into()),
        ..UpgradeStatus::default()
    };
    note(&mut u, "held: window");
    note(&mut u, "held: window");
    assert_eq!(u.message.as_deref(), Some("waiting; held: window"));
    let mut empty = UpgradeStatus::default();
    note(&mut empty, "held: window");
    assert_eq!(empty.message.as_deref(), Some("held: window"));
}

fn op(name: &str, phase: Option<OperationPhase>, created: i64) -> NodeOp {
    let spec: NodeOpSpec = serde_json::from_str("{\"command\": [\"true\"]}").expect("spec");
    let mut op = NodeOp::new(name, spec);
    op.metadata.namespace = Some("kairos-system".into());
    op.metadata.creation_timestamp = Some(Time(at(created)));
    op.status = phase.map(|phase| kairos_api::v1alpha1::NodeOpStatus {
        phase: Some(phase),
        ..Default::default()
    });
    op
}

fn node_status(phase: NodePhase, finished: Option<i64>) -> NodeStatus {
    NodeStatus {
        phase,
        finished_at: finished.map(|s| Time(at(s))),
        ..NodeStatus::default()
    }
}

#[test]
fn an_operation_is_finished_for_a_node_by_its_entry_or_else_by_its_phase() {
    let running = op("a", Some(OperationPhase::Running), 0);
    assert!(is_finished(
        &running,
        Some(&node_status(NodePhase::Failed, Some(5)))
    ));
    assert!(!is_finished(
        &running,
        Some(&node_status(NodePhase::Draining, None))
    ));
    assert!(!is_finished(&running, None));
    assert!(is_finished(
        &op("b", Some(OperationPhase::Completed), 0),
        None
    ));
    assert!(!is_finished(&op("c", None, 0), None), "not started yet");
    assert!(in_flight(Some((&running, None))).is_some());
    assert!(
        in_flight(Some((
            &running,
            Some(&node_status(NodePhase::Completed, Some(1)))
        )))
        .is_none()
    );
}

#[test]
fn the_newest_finished_operation_wins_and_the_nodes_own_on_a_tie() {
    let own = op("own", Some(OperationPhase::Completed), 0);
    let fleet = op("fleet", Some(OperationPhase::Completed), 0);
    let early = node_status(NodePhase::Completed, Some(10));
    let late = node_status(NodePhase::Completed, Some(20));
    let pick = |o: Option<&NodeStatus>, f: Option<&NodeStatus>| {
        newest(Some((&own, o)), Some((&fleet, f)))
            .map(|(op, _)| op.metadata.name.clone().unwrap_or_default())
    };
    assert_eq!(pick(Some(&early), Some(&late)).as_deref(), Some("fleet"));
    assert_eq!(pick(Some(&late), Some(&early)).as_deref(), Some("own"));
    assert_eq!(pick(Some(&late), Some(&late)).as_deref(), Some("own"));
    assert_eq!(
        newest(None, Some((&fleet, None)))
            .map(|(op, _)| qualified(op))
            .as_deref(),
        Some("kairos-system/fleet")
    );
    assert!(newest(None, None).is_none());
}

#[test]
fn every_upgrade_state_has_its_own_reason() {
    let states = [
        UpgradeState::Idle,
        UpgradeState::Pending,
        UpgradeState::InProgress,
        UpgradeState::Rebooting,
        UpgradeState::Completed,
        UpgradeState::Failed,
        UpgradeState::RolledBack,
    ];
    for state in states {
        assert_eq!(
            serde_json::to_value(state).expect("serializes"),
            serde_json::json!(state_reason(state)),
            "the condition reason is the state as the API writes it"
        );
    }
}
