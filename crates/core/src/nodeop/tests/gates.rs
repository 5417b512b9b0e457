//! Tests of the gates in the planner: a closed window, the pacing after a finished node,
//! blocking pods and alerts hold new starts (nodes in flight go on), and the pods' resources.
//! Test-only; no I/O.

use kairos_api::names::conditions::HELD;
use kairos_api::v1alpha1::{AlertGate, MaintenanceWindow, NodeOp, NodePhase as P};

use super::fixtures::*;
use crate::gates::GateInputs;
use crate::gates::alerts::Alert;
use crate::nodeop::lock::NodeLock;
use crate::nodeop::{JobCondition, Observed, Plan};

/// `t(0)` is 2027-01-15T08:00:00Z.
fn window(start: &str, end: &str) -> MaintenanceWindow {
    MaintenanceWindow {
        days: vec![],
        start_time: start.into(),
        end_time: end.into(),
        time_zone: Some("UTC".into()),
    }
}

fn held_condition(p: &Plan) -> (String, String, String) {
    let c = p
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == HELD)
        .expect("a Held condition");
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

/// Our locks of the nodes the plan takes, so the next plan sees them.
fn lock_taken(obs: &mut Observed, p: &Plan) {
    for a in &p.acquire {
        obs.locks.insert(
            a.node.clone(),
            NodeLock {
                holder: a.holder.clone(),
                control_plane: a.control_plane,
            },
        );
    }
}

#[test]
fn a_closed_window_holds_every_start_until_it_opens_or_the_spec_opens_it() {
    let mut s = spec();
    s.gates.window = Some(window("01:00", "02:00"));
    let mut op = op(s);
    let obs = observed(vec![node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    assert!(
        p.acquire.is_empty() && creates_job_for(&p).is_empty(),
        "{p:?}"
    );
    assert_eq!(p.status.held.as_deref(), Some("Window"));
    let (status, reason, message) = held_condition(&p);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Window"));
    assert!(message.contains("2027-01-16T01:00:00Z"), "{message}");
    // It looks again when the window opens (17 h from now), not before.
    let wait = p.requeue_after.expect("a requeue");
    assert!(
        wait.as_secs() >= 17 * 3600 && wait.as_secs() <= 17 * 3600 + 2,
        "{wait:?}"
    );
    // At the opening, nodes start.
    let p = step(&mut op, &obs, t(17 * 3600));
    assert_eq!(p.acquire.len(), 2, "{p:?}");
    assert_eq!(p.status.held, None);
    assert_eq!(held_condition(&p).0, "False");
}

#[test]
fn a_window_opened_by_an_edit_lets_nodes_start_and_one_closing_leaves_nodes_in_flight() {
    let mut s = spec();
    s.gates.window = Some(window("01:00", "02:00"));
    let mut op = op(s);
    let mut obs = observed(vec![node("w1"), node("w2")]);
    assert!(step(&mut op, &obs, t(0)).acquire.is_empty());
    op.spec.gates.window = Some(window("07:30", "09:00"));
    op.spec.concurrency = 1;
    let p = step(&mut op, &obs, t(10));
    assert_eq!(p.acquire.len(), 1);
    lock_taken(&mut obs, &p);
    // The window closes while w1 runs: w1 finishes, w2 waits.
    op.spec.gates.window = Some(window("01:00", "02:00"));
    obs.jobs.push(job("w1", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(20));
    assert_eq!(phase_of(&p, "w1"), P::Completed);
    assert_eq!(phase_of(&p, "w2"), P::Pending);
    assert!(p.acquire.is_empty());
    assert_eq!(p.status.held.as_deref(), Some("Window"));
}

#[test]
fn post_complete_delay_spaces_the_starts_after_each_finished_node() {
    let mut s = spec();
    s.concurrency = 1;
    s.gates.post_complete_delay = Some("5m".into());
    let mut op = op(s);
    let mut obs = observed(vec![node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(p.acquire.len(), 1, "nothing finished yet: no wait");
    lock_taken(&mut obs, &p);
    obs.jobs.push(job("w1", Some(JobCondition::Complete)));
    // w1 finishes at t(60); w2 does not start in the same plan, nor before t(360).
    let p = step(&mut op, &obs, t(60));
    assert_eq!(phase_of(&p, "w1"), P::Completed);
    assert!(p.acquire.is_empty(), "{:?}", p.acquire);
    assert_eq!(p.status.held.as_deref(), Some("PostCompleteDelay"));
    // It looks again by the end of the delay (sooner when something else asks).
    let wait = p.requeue_after.expect("a requeue");
    assert!(wait.as_secs() <= 301, "{wait:?}");
    assert!(step(&mut op, &obs, t(359)).acquire.is_empty());
    let p = step(&mut op, &obs, t(360));
    assert_eq!(p.acquire.len(), 1, "{p:?}");
    assert_eq!(p.acquire[0].node, "w2");
}

#[test]
fn a_node_with_a_blocking_pod_waits_and_the_others_go_first() {
    let mut s = spec();
    s.concurrency = 1;
    s.gates.blocking_pod_selector =
        Some(serde_yaml::from_str("matchLabels: {app: backup}").unwrap());
    let mut op = op(s);
    let mut obs = observed(vec![node("w1"), node("w2")]);
    obs.gates = GateInputs {
        blocking_pods: [("w1".to_owned(), vec!["db/backup-0".to_owned()])].into(),
        ..GateInputs::default()
    };
    let p = step(&mut op, &obs, t(0));
    assert_eq!(p.acquire.len(), 1);
    assert_eq!(
        p.acquire[0].node, "w2",
        "w1 is blocked, its slot goes to w2"
    );
    let w1 = &p.status.node_statuses["w1"];
    assert_eq!(w1.phase, P::Pending);
    assert!(
        w1.message
            .as_deref()
            .is_some_and(|m| m.contains("db/backup-0")),
        "{w1:?}"
    );
    // The pod goes: w1 starts once w2 is done.
    lock_taken(&mut obs, &p);
    obs.gates.blocking_pods.clear();
    obs.jobs.push(job("w2", Some(JobCondition::Complete)));
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w2"), P::Completed);
    assert_eq!(p.acquire.len(), 1);
    assert_eq!(p.acquire[0].node, "w1");
}

#[test]
fn an_active_alert_holds_and_says_which_and_its_end_releases() {
    let mut s = spec();
    s.gates.alert_gate = Some(AlertGate {
        alert_names: "KubeNode.*".into(),
        firing_only: None,
    });
    let mut op: NodeOp = op(s);
    let mut obs = observed(vec![node("w1")]);
    obs.gates.alerts = Some(Ok(vec![Alert {
        name: "KubeNodeNotReady".into(),
        firing: true,
    }]));
    let p = step(&mut op, &obs, t(0));
    assert!(p.acquire.is_empty());
    let (_, reason, message) = held_condition(&p);
    assert_eq!(reason, "Alert");
    assert!(message.contains("KubeNodeNotReady"), "{message}");
    assert!(
        p.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("held"))
    );
    obs.gates.alerts = Some(Err(
        "Prometheus at http://p/api/v1/alerts cannot be read".into()
    ));
    let p = step(&mut op, &obs, t(10));
    assert!(p.acquire.is_empty());
    assert_eq!(held_condition(&p).1, "AlertsUnknown");
    obs.gates.alerts = Some(Ok(vec![]));
    let p = step(&mut op, &obs, t(20));
    assert_eq!(p.acquire.len(), 1);
}

#[test]
fn the_pods_carry_their_resources_with_upstreams_defaults() {
    let mut s = spec();
    s.reboot_on_success = Some(true);
    s.preflight = Some(serde_yaml::from_str("command: [\"true\"]").unwrap());
    s.resources = Some(serde_yaml::from_str("limits: {cpu: '1'}").unwrap());
    s.reboot_resources = Some(serde_yaml::from_str("{}").unwrap());
    let cfg = crate::nodeop::Config::default();
    let job = crate::nodeop::build::build_job(&op_ref(), &s, "w1", &cfg);
    let container = &job.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(container.resources, s.resources);
    let pre = crate::nodeop::build::build_preflight_pod(&op_ref(), &s, "w1", &cfg);
    let r = pre.spec.unwrap().containers[0]
        .resources
        .clone()
        .expect("defaults");
    let amount = |m: &Option<std::collections::BTreeMap<_, _>>, k: &str| {
        m.as_ref()
            .and_then(|m| m.get(k))
            .map(|q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| q.0.clone())
    };
    assert_eq!(amount(&r.requests, "cpu").as_deref(), Some("200m"));
    assert_eq!(amount(&r.limits, "memory").as_deref(), Some("128Mi"));
    let reboot = crate::nodeop::build::build_reboot_pod(&op_ref(), &s, "w1", BOOT_A, &cfg);
    assert_eq!(
        reboot.spec.unwrap().containers[0].resources,
        None,
        "{{}} is none"
    );
    // Without the field the reboot pod gets the default.
    let reboot = crate::nodeop::build::build_reboot_pod(&op_ref(), &spec(), "w1", BOOT_A, &cfg);
    assert!(reboot.spec.unwrap().containers[0].resources.is_some());
}

#[test]
fn the_reboot_pod_tolerates_no_execute_taints_so_a_not_ready_node_cannot_evict_it() {
    let reboot = crate::nodeop::build::build_reboot_pod(
        &op_ref(),
        &spec(),
        "w1",
        BOOT_A,
        &crate::nodeop::Config::default(),
    );
    let tolerations = reboot.spec.unwrap().tolerations.unwrap_or_default();
    // A toleration with no key and no effect, operator Exists, tolerates every taint,
    // `node.kubernetes.io/not-ready:NoExecute` included.
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "{tolerations:?}"
    );
}

#[test]
fn a_node_skipped_by_its_preflight_does_not_start_the_delay() {
    let mut s = spec();
    s.concurrency = 1;
    s.gates.post_complete_delay = Some("5m".into());
    let mut op = op(s);
    let mut obs = observed(vec![node("w1"), node("w2")]);
    let p = step(&mut op, &obs, t(0));
    lock_taken(&mut obs, &p);
    // w1 is recorded Skipped after it started (its preflight said so).
    let st = op.status.as_mut().unwrap();
    let w1 = st.node_statuses.get_mut("w1").unwrap();
    w1.phase = P::Skipped;
    w1.finished_at = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(5)));
    obs.targets = records(&op);
    let p = step(&mut op, &obs, t(10));
    assert_eq!(p.status.held, None, "{:?}", p.status.conditions);
    assert_eq!(p.acquire.len(), 1, "{p:?}");
    assert_eq!(p.acquire[0].node, "w2");
}
