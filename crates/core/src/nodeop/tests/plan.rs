//! Table tests of the `NodeOp` planner: one transition or rule per test, written as given /
//! when / then. Test-only; no I/O.

use kairos_api::v1alpha1::{NodePhase as P, OperationPhase};

use super::drain::draining_op;
use super::fixtures::*;
use crate::nodeop::{Action, EnginePod, EngineRole, JobCondition, PodPhase};

#[test]
fn no_matching_node_completes_with_a_clear_message() {
    let mut s = spec();
    s.node_selector = serde_yaml::from_str("matchLabels: {kairos.io/managed: \"true\"}").unwrap();
    let mut op = op(s);
    let obs = observed(vec![node("w1")]);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(p.status.phase, Some(OperationPhase::Completed));
    assert_eq!(
        p.status.message.as_deref(),
        Some("no node matches the NodeOp's targetNodes/nodeSelector")
    );
    assert!(p.actions.is_empty());
    // A node that matches later is not picked up: the targets were fixed at start.
    let mut later = node("w2");
    later
        .labels
        .insert("kairos.io/managed".into(), "true".into());
    let again = step(&mut op, &observed(vec![later]), t(60));
    assert_eq!(again.status, p.status);
}

#[test]
fn invalid_selector_fails_the_operation() {
    let mut s = spec();
    s.node_selector =
        serde_yaml::from_str("matchExpressions: [{key: a, operator: Gt, values: [\"1\"]}]")
            .unwrap();
    let p = step(&mut op(s), &observed(vec![node("w1")]), t(0));
    assert_eq!(p.status.phase, Some(OperationPhase::Failed));
    assert!(p.status.message.unwrap().contains("unknown operator"));
}

#[test]
fn a_selector_kubernetes_refuses_fails_the_operation() {
    for expr in [
        "{key: a, operator: Exists, values: [\"1\"]}",
        "{key: a, operator: DoesNotExist, values: [\"1\"]}",
        "{key: a, operator: In, values: []}",
    ] {
        let mut s = spec();
        s.node_selector = serde_yaml::from_str(&format!("matchExpressions: [{expr}]")).unwrap();
        let p = step(&mut op(s), &observed(vec![node("w1")]), t(0));
        assert_eq!(p.status.phase, Some(OperationPhase::Failed), "{expr}");
        let msg = p.status.message.unwrap();
        assert!(
            msg.starts_with("failed to select nodes: invalid nodeSelector expression on \"a\""),
            "{msg}"
        );
        assert!(p.actions.is_empty() && p.targets.is_empty(), "{expr}");
    }
}

#[test]
fn targets_are_fixed_at_start_with_control_plane_first_and_operator_node_last() {
    let mut op = op(spec());
    let mut obs = observed(vec![
        node("w2"),
        node("w1"),
        cp("cp2"),
        cp("cp1"),
        node("w0"),
    ]);
    obs.operator_node = Some("w0".into());
    let p = step(&mut op, &obs, t(0));
    let order: Vec<(&str, i32, bool)> = p
        .status
        .node_statuses
        .iter()
        .map(|(n, s)| (n.as_str(), s.order, s.control_plane))
        .collect();
    assert_eq!(
        order,
        [
            ("cp1", 0, true),
            ("cp2", 1, true),
            ("w0", 4, false),
            ("w1", 2, false),
            ("w2", 3, false)
        ]
    );
    obs.nodes.push(node("w9"));
    let p = step(&mut op, &obs, t(10));
    assert!(!p.status.node_statuses.contains_key("w9"));
    assert_eq!(p.status.total, 5);
}

#[test]
fn target_nodes_take_precedence_and_a_missing_one_fails_clearly() {
    let mut s = spec();
    s.target_nodes = Some(vec!["w1".into(), "ghost".into()]);
    s.node_selector = serde_yaml::from_str("matchLabels: {x: y}").unwrap();
    let p = step(&mut op(s), &observed(vec![node("w1"), node("w2")]), t(0));
    assert_eq!(p.status.total, 2);
    assert_eq!(phase_of(&p, "ghost"), P::Failed);
    assert_eq!(
        p.status.node_statuses["ghost"].message.as_deref(),
        Some("node ghost not found")
    );
    assert_eq!(phase_of(&p, "w1"), P::Running);
}

#[test]
fn editing_the_targets_of_a_started_operation_is_reported_and_changes_nothing() {
    use kairos_api::names::conditions::SPEC_APPLIED;
    let mut s = spec();
    s.target_nodes = Some(vec!["w1".into()]);
    s.concurrency = 1;
    let mut op = op(s);
    let obs = observed(vec![node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    let applied = |p: &crate::nodeop::Plan| {
        let c = p
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == SPEC_APPLIED)
            .unwrap();
        (c.status.clone(), c.reason.clone(), c.message.clone())
    };
    assert_eq!(applied(&p).0, "True");
    // An edit of the targets: reported, and the targets stay as fixed.
    op.spec.target_nodes = Some(vec!["w1".into(), "w2".into()]);
    op.metadata.generation = Some(2);
    let p = step(&mut op, &obs, t(1));
    let (status, reason, message) = applied(&p);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "TargetsFixed")
    );
    assert!(message.contains("targetNodes or nodeSelector"), "{message}");
    assert_eq!(p.status.total, 1);
    assert!(!p.status.node_statuses.contains_key("w2"));
    // Putting them back clears it.
    op.spec.target_nodes = Some(vec!["w1".into()]);
    let p = step(&mut op, &obs, t(2));
    assert_eq!(applied(&p).1, "Applied");
}

#[test]
fn concurrency_limits_nodes_in_flight_and_zero_means_all() {
    for (concurrency, started) in [(1, 1), (2, 2), (0, 4), (9, 4)] {
        let mut s = spec();
        s.concurrency = concurrency;
        let obs = observed(vec![node("a"), node("b"), node("c"), node("d")]);
        let p = step(&mut op(s), &obs, t(0));
        assert_eq!(
            creates_job_for(&p).len(),
            started,
            "concurrency {concurrency}"
        );
        assert_eq!(p.status.in_progress, i32::try_from(started).unwrap());
    }
}

#[test]
fn control_plane_goes_one_at_a_time_before_any_worker() {
    let mut op = op(spec()); // concurrency 0: all at once, except the control plane
    let mut obs = observed(vec![cp("cp1"), cp("cp2"), node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(creates_job_for(&p), ["cp1"]);
    obs.jobs.push(job("cp1", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "cp1"), P::Completed);
    assert_eq!(creates_job_for(&p), ["cp2"]);
    obs.jobs.push(job("cp2", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(20));
    assert_eq!(creates_job_for(&p), ["w1", "w2"]);
}

#[test]
fn cordon_then_record_it_and_an_admin_cordon_is_left_alone() {
    let mut s = spec();
    s.cordon = Some(true);
    s.concurrency = 2;
    let mut admin = node("w2");
    admin.unschedulable = true;
    let mut obs = observed(vec![node("w1"), admin]);
    let mut op = op(s);
    let p = step(&mut op, &obs, t(0));
    // w2 is already cordoned by someone else: no Cordon, it goes straight to its Job.
    assert_eq!(
        p.actions[0],
        Action::Cordon {
            node: "w1".into(),
            cordoned_by: ours()
        }
    );
    assert_eq!(p.actions.len(), 2);
    assert_eq!(creates_job_for(&p), ["w2"]);
    assert_eq!(phase_of(&p, "w1"), P::Cordoning);
    assert_eq!(phase_of(&p, "w2"), P::Running);
    assert!(reasons(&p).contains(&"AlreadyCordoned"));
    obs.nodes[0].unschedulable = true;
    obs.nodes[0].cordoned_by = Some(ours());
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Running);
    assert!(p.status.node_statuses["w1"].cordoned);
    obs.jobs = vec![
        job("w1", Some(JobCondition::Complete)),
        job("w2", Some(JobCondition::Complete)),
    ];
    let p = step(&mut op, &obs, t(20));
    assert_eq!(
        p.actions,
        [
            Action::Uncordon {
                node: "w1".into(),
                cordoned_by: ours()
            },
            Action::Release {
                node: "w2".into(),
                holder: ours()
            }
        ],
        "w2 is done and lets go of its lock"
    );
    assert_eq!(phase_of(&p, "w1"), P::Uncordoning);
    assert_eq!(
        phase_of(&p, "w2"),
        P::Completed,
        "never uncordoned: not ours"
    );
    obs.nodes[0].unschedulable = false;
    obs.nodes[0].cordoned_by = None;
    let p = step(&mut op, &obs, t(30));
    assert_eq!(phase_of(&p, "w1"), P::Completed);
    assert_eq!(p.status.phase, Some(OperationPhase::Completed));
    assert_eq!(
        p.actions,
        [Action::Release {
            node: "w1".into(),
            holder: ours()
        }]
    );
}

#[test]
fn failed_job_fails_the_node_and_uncordon_on_failure_decides_the_cordon() {
    for uncordon in [false, true] {
        let (mut op, mut obs) = draining_op();
        op.spec.drain_options = None;
        op.spec.uncordon_on_failure = Some(uncordon);
        op.spec.backoff_limit = Some(2);
        let mut j = job(
            "w1",
            Some(JobCondition::Failed {
                reason: "BackoffLimitExceeded".into(),
                message: "Job has reached the specified backoff limit".into(),
            }),
        );
        j.failed = 3;
        obs.jobs.push(j);
        let p = step(&mut op, &obs, t(0));
        let st = &p.status.node_statuses["w1"];
        assert_eq!(st.phase, P::Failed);
        assert_eq!(st.attempts, Some(3));
        assert!(
            st.message
                .as_deref()
                .unwrap()
                .contains("failed after 3 attempt(s): BackoffLimitExceeded")
        );
        let uncordons = p
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Uncordon { .. }))
            .count();
        assert_eq!(uncordons, usize::from(uncordon));
        assert_eq!(p.status.phase, Some(OperationPhase::Failed));
        assert!(reasons(&p).contains(&"JobFailed"));
    }
}

#[test]
fn a_job_whose_pod_cannot_start_fails_the_node_at_once() {
    let (mut op, mut obs) = draining_op();
    op.spec.drain_options = None;
    let mut j = job("w1", None);
    j.cannot_start = Some("ImagePullBackOff: Back-off pulling image \"nope:1\"".into());
    obs.jobs.push(j);
    let p = step(&mut op, &obs, t(0));
    let st = &p.status.node_statuses["w1"];
    assert_eq!(st.phase, P::Failed);
    let msg = st.message.as_deref().unwrap();
    assert!(
        msg.contains("cannot start on node w1: ImagePullBackOff: Back-off pulling image"),
        "{msg}"
    );
    assert!(reasons(&p).contains(&"JobCannotStart"));
    assert!(
        p.actions
            .iter()
            .any(|a| matches!(a, Action::DeleteJob { name, .. } if *name == job_name("w1"))),
        "{:?}",
        p.actions
    );
}

#[test]
fn a_seen_job_is_never_created_again() {
    let mut op = op(spec());
    let mut obs = observed(vec![node("w1")]);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(creates_job_for(&p), ["w1"]);
    // Same observation again (the cache has not seen the Job yet): the same deterministic
    // name is requested again, which the API answers with AlreadyExists.
    let p = step(&mut op, &obs, t(5));
    assert_eq!(creates_job_for(&p), ["w1"]);
    obs.jobs.push(job("w1", None));
    let p = step(&mut op, &obs, t(10));
    assert!(creates_job_for(&p).is_empty());
    assert_eq!(p.status.node_statuses["w1"].attempts, Some(1));
    obs.jobs.clear();
    let p = step(&mut op, &obs, t(20));
    assert!(creates_job_for(&p).is_empty());
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    assert!(reasons(&p).contains(&"JobLost"));
}

#[test]
fn reboot_waits_for_a_new_boot_id_and_ready_before_uncordoning() {
    let (mut op, mut obs) = draining_op();
    op.spec.drain_options = None;
    op.spec.reboot_on_success = Some(true);
    obs.agent_boot_ids.insert("w1".into(), BOOT_A.into());
    let p = step(&mut op, &obs, t(0));
    assert_eq!(
        p.status.node_statuses["w1"].boot_id_before.as_deref(),
        Some(BOOT_A)
    );
    let mut j = job("w1", Some(JobCondition::Complete));
    j.termination_message = Some(format!("{BOOT_A}\n"));
    obs.jobs.push(j);
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    let [Action::CreateRebootPod(pod)] = p.actions.as_slice() else {
        panic!("{:?}", p.actions)
    };
    let env = pod.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert_eq!(env[0].value.as_deref(), Some(BOOT_A));
    obs.engine_pods.push(EnginePod {
        name: pod.metadata.name.clone().unwrap(),
        node: "w1".into(),
        role: EngineRole::Reboot,
        phase: PodPhase::Running,
        termination_message: None,
        cannot_start: None,
        deleting: false,
    });
    let p = step(&mut op, &obs, t(20));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    assert!(
        p.actions.is_empty(),
        "the reboot pod exists: {:?}",
        p.actions
    );
    obs.agent_boot_ids.insert("w1".into(), BOOT_B.into());
    obs.nodes[0].boot_id = Some(BOOT_B.into());
    obs.nodes[0].ready = false;
    let p = step(&mut op, &obs, t(30));
    assert_eq!(phase_of(&p, "w1"), P::Verifying);
    obs.nodes[0].ready = true;
    let p = step(&mut op, &obs, t(40));
    assert_eq!(phase_of(&p, "w1"), P::Uncordoning);
    assert!(reasons(&p).contains(&"RebootConfirmed"));
    assert_eq!(
        p.actions,
        [Action::Uncordon {
            node: "w1".into(),
            cordoned_by: ours()
        }]
    );
}

#[test]
fn reboot_without_a_new_boot_id_times_out() {
    let mut op = op(spec());
    op.spec.reboot_on_success = Some(true);
    let mut obs = observed(vec![node("w1")]);
    step(&mut op, &obs, t(0));
    obs.jobs.push(job("w1", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    let p = step(&mut op, &obs, t(10 + 899));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    let p = step(&mut op, &obs, t(10 + 900));
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    assert!(reasons(&p).contains(&"RebootTimedOut"));
}

#[test]
fn an_agent_report_from_an_older_boot_never_confirms_a_reboot() {
    const OLD: &str = "0ld00000-0000-4000-8000-000000000000";
    let mut op = op(spec());
    op.spec.reboot_on_success = Some(true);
    let mut obs = observed(vec![node("w1")]);
    // The agent was down across an earlier reboot: its report shows that older boot, while the
    // kubelet shows the running one (BOOT_A).
    obs.agent_boot_ids.insert("w1".into(), OLD.into());
    let p = step(&mut op, &obs, t(0));
    assert_eq!(
        p.status.node_statuses["w1"].boot_id_before.as_deref(),
        Some(BOOT_A)
    );
    obs.jobs.push(job("w1", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    let [Action::CreateRebootPod(pod)] = p.actions.as_slice() else {
        panic!("the reboot pod must be created: {:?}", p.actions)
    };
    let env = pod.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap();
    assert_eq!(env[0].value.as_deref(), Some(BOOT_A));
    // The node rebooted (the kubelet shows BOOT_B) but the agent has not reported since.
    obs.nodes[0].boot_id = Some(BOOT_B.into());
    let p = step(&mut op, &obs, t(20));
    assert_eq!(phase_of(&p, "w1"), P::Rebooting);
    let p = step(&mut op, &obs, t(10 + 900));
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    let msg = p.status.node_statuses["w1"].message.clone().unwrap();
    assert!(
        msg.contains(BOOT_B) && msg.contains("agent did not report it") && msg.contains(OLD),
        "{msg}"
    );
    // Once the agent reports the new boot, it is confirmed.
    let mut op2 = op.clone();
    op2.status = None;
    let mut obs2 = observed(vec![node("w1")]);
    obs2.agent_boot_ids.insert("w1".into(), OLD.into());
    step(&mut op2, &obs2, t(0));
    obs2.jobs.push(job("w1", Some(JobCondition::Complete)));
    step(&mut op2, &obs2, t(10));
    obs2.nodes[0].boot_id = Some(BOOT_B.into());
    obs2.agent_boot_ids.insert("w1".into(), BOOT_B.into());
    let p = step(&mut op2, &obs2, t(20));
    assert!(reasons(&p).contains(&"Rebooted"), "{:?}", reasons(&p));
    assert_eq!(phase_of(&p, "w1"), P::Completed);
}

#[test]
fn without_an_agent_the_kubelet_confirms_the_reboot() {
    let mut op = op(spec());
    op.spec.reboot_on_success = Some(true);
    let mut obs = observed(vec![node("w1")]);
    step(&mut op, &obs, t(0));
    obs.jobs.push(job("w1", Some(JobCondition::Complete)));
    step(&mut op, &obs, t(10));
    obs.nodes[0].boot_id = Some(BOOT_B.into());
    let p = step(&mut op, &obs, t(20));
    assert!(reasons(&p).contains(&"Rebooted"), "{:?}", reasons(&p));
    assert_eq!(phase_of(&p, "w1"), P::Completed);
}

/// The preflight pod `p` creates on w1, finished in `phase` with `message`.
fn finished_preflight(
    p: &crate::nodeop::Plan,
    phase: PodPhase,
    message: Option<&str>,
) -> EnginePod {
    let [Action::CreatePreflightPod(pod)] = p.actions.as_slice() else {
        panic!("one preflight pod: {:?}", p.actions)
    };
    EnginePod {
        name: pod.metadata.name.clone().unwrap(),
        node: "w1".into(),
        role: EngineRole::Preflight,
        phase,
        termination_message: message.map(str::to_owned),
        cannot_start: None,
        deleting: false,
    }
}

/// A cordoning NodeOp with a preflight over `w1`, planned once: `w1` is in Preflight.
fn in_preflight() -> (
    kairos_api::v1alpha1::NodeOp,
    crate::nodeop::Observed,
    crate::nodeop::Plan,
) {
    let mut s = spec();
    s.cordon = Some(true);
    s.preflight = serde_yaml::from_str("command: [check]").unwrap();
    let mut op = op(s);
    let obs = observed(vec![node("w1")]);
    let p = step(&mut op, &obs, t(0));
    (op, obs, p)
}

#[test]
fn preflight_termination_message_skips_the_node() {
    for (message, phase, expected) in [
        (Some("already patched"), PodPhase::Succeeded, P::Skipped),
        (None, PodPhase::Succeeded, P::Cordoning),
        (None, PodPhase::Failed, P::Failed),
    ] {
        let (mut op, mut obs, p) = in_preflight();
        assert_eq!(phase_of(&p, "w1"), P::Preflight);
        obs.engine_pods.push(finished_preflight(&p, phase, message));
        let p = step(&mut op, &obs, t(10));
        assert_eq!(phase_of(&p, "w1"), expected, "{message:?} {phase:?}");
    }
}

#[test]
fn a_preflight_pod_that_cannot_start_fails_the_node_before_the_cordon() {
    let (mut op, mut obs, p) = in_preflight();
    let mut pod = finished_preflight(&p, PodPhase::Pending, None);
    pod.cannot_start = Some("ErrImagePull: not found".into());
    let name = pod.name.clone();
    obs.engine_pods.push(pod);
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    let msg = p.status.node_statuses["w1"].message.clone().unwrap();
    assert!(
        msg.contains("cannot start on node w1: ErrImagePull: not found; nothing was cordoned"),
        "{msg}"
    );
    assert!(reasons(&p).contains(&"PreflightCannotStart"));
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a, Action::Cordon { .. } | Action::Uncordon { .. })),
        "{:?}",
        p.actions
    );
    assert!(
        p.actions
            .iter()
            .any(|a| matches!(a, Action::DeletePod { name: n, .. } if *n == name))
    );
}

#[test]
fn paused_holds_a_node_that_passed_its_preflight_before_the_cordon() {
    let (mut op, mut obs, p) = in_preflight();
    obs.engine_pods
        .push(finished_preflight(&p, PodPhase::Succeeded, None));
    op.spec.paused = Some(true);
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Preflight);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert!(
        p.status.node_statuses["w1"]
            .message
            .as_deref()
            .unwrap()
            .contains("paused")
    );
    // Resumed, it goes on; the preflight's wait is no timeout.
    op.spec.paused = Some(false);
    let p = step(&mut op, &obs, t(100_000));
    assert_eq!(phase_of(&p, "w1"), P::Cordoning);
}

#[test]
fn deletion_deletes_jobs_and_pods_uncordons_and_then_removes_the_finalizer() {
    let (mut op, mut obs) = draining_op();
    step(&mut op, &obs, t(0));
    obs.jobs.push(job("w1", None));
    obs.deleting = true;
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Stopped);
    assert_eq!(p.status.phase, Some(OperationPhase::Stopped));
    assert!(p.actions.contains(&Action::DeleteJob {
        namespace: "default".into(),
        name: job_name("w1")
    }));
    assert!(p.actions.contains(&Action::Uncordon {
        node: "w1".into(),
        cordoned_by: ours()
    }));
    assert!(!p.actions.contains(&Action::RemoveFinalizer));
    obs.jobs.clear();
    obs.nodes[0].cordoned_by = None;
    obs.nodes[0].unschedulable = false;
    let p = step(&mut op, &obs, t(20));
    assert_eq!(p.actions, [Action::RemoveFinalizer]);
}

#[test]
fn status_is_identical_when_nothing_changed() {
    let mut op = op(spec());
    let mut obs = observed(vec![node("w1"), node("w2")]);
    step(&mut op, &obs, t(0));
    obs.jobs = vec![job("w1", None), job("w2", None)];
    let first = step(&mut op, &obs, t(10));
    let second = step(&mut op, &obs, t(500));
    assert_eq!(first.status, second.status);
    assert!(second.events.is_empty());
}

#[test]
fn a_vanished_node_fails_with_a_clear_message() {
    let mut op = op(spec());
    let mut obs = observed(vec![node("w1")]);
    step(&mut op, &obs, t(0));
    obs.nodes.clear();
    let p = step(&mut op, &obs, t(10));
    let st = &p.status.node_statuses["w1"];
    assert_eq!(st.phase, P::Failed);
    assert_eq!(st.message.as_deref(), Some("node w1 no longer exists"));
}

#[test]
fn paused_starts_nothing_new() {
    let mut s = spec();
    s.paused = Some(true);
    let p = step(&mut op(s), &observed(vec![node("w1")]), t(0));
    assert_eq!(p.status.phase, Some(OperationPhase::Pending));
    assert!(p.actions.is_empty());
    assert!(p.status.message.unwrap().ends_with("paused"));
}

#[test]
fn the_seed_nodeop_example_runs_one_node_at_a_time_control_plane_first() {
    let doc = include_str!("testdata/seed-nodeop.yaml");
    let parsed: kairos_api::v1alpha1::NodeOp = serde_yaml::from_str(doc).unwrap();
    let mut op = op(parsed.spec);
    let managed = |mut n: crate::nodeop::NodeInfo| {
        n.labels.insert("kairos.io/managed".into(), "true".into());
        n
    };
    let nodes = vec![
        managed(cp("cp1")),
        managed(cp("cp2")),
        managed(node("w1")),
        managed(node("w2")),
        managed(node("w3")),
        node("other"),
    ];
    let obs = observed(nodes);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(p.status.total, 5, "the non-Kairos node is not targeted");
    assert_eq!(
        p.actions,
        [Action::Cordon {
            node: "cp1".into(),
            cordoned_by: ours()
        }]
    );
    let pending: Vec<_> = phases(&p)
        .into_iter()
        .filter(|(_, s)| *s == P::Pending)
        .collect();
    assert_eq!(pending.len(), 4);
}
