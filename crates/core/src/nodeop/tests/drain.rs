//! Table tests of the `NodeOp` planner's drain: what is evicted, skipped, refused, and the
//! timeout. Test-only; no I/O.

use kairos_api::v1alpha1::{NodePhase as P, OperationPhase};

use super::fixtures::*;
use crate::nodeop::{Action, PodPhase};

pub(super) fn draining_op() -> (kairos_api::v1alpha1::NodeOp, crate::nodeop::Observed) {
    let mut s = spec();
    s.cordon = Some(true);
    let mut opts = drain_opts();
    opts.grace_period_seconds = Some(30);
    s.drain_options = Some(opts);
    let mut n = node("w1");
    n.unschedulable = true;
    n.cordoned_by = Some(ours());
    (op(s), observed(vec![n]))
}

#[test]
fn drain_evicts_managed_pods_and_skips_daemonsets_mirrors_engine_and_finished_pods() {
    let (mut op, mut obs) = draining_op();
    let mut mirror = pod("kube-system", "etcd-w1", Some("Node"));
    mirror.is_mirror = true;
    let mut engine = pod("default", "other-job", Some("Job"));
    engine
        .labels
        .insert("operator.kairos.io/role".into(), "job".into());
    let mut done = pod("default", "finished", None);
    done.phase = PodPhase::Succeeded;
    let pods = vec![
        pod("default", "web-1", Some("ReplicaSet")),
        pod("kube-system", "agent-x", Some("DaemonSet")),
        mirror,
        engine,
        done,
    ];
    obs.node_pods.insert("w1".into(), pods);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(phase_of(&p, "w1"), P::Draining);
    let evict = Action::Evict {
        namespace: "default".into(),
        pod: "web-1".into(),
        grace_period_seconds: Some(30),
    };
    assert_eq!(p.actions, [evict]);
    assert!(reasons(&p).contains(&"DrainStarted") || reasons(&p).contains(&"NodeCordoned"));
    obs.node_pods.get_mut("w1").unwrap().remove(0);
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "w1"), P::Running);
    assert_eq!(creates_job_for(&p), ["w1"]);
}

#[test]
fn drain_refuses_unmanaged_and_emptydir_pods_unless_allowed() {
    let mut emptydir = pod("default", "cache", Some("ReplicaSet"));
    emptydir.has_empty_dir = true;
    let cases = [
        (pod("default", "bare", None), false, false, true),
        (pod("default", "bare", None), true, false, false),
        (emptydir.clone(), false, false, true),
        (emptydir, false, true, false),
    ];
    for (p0, force, empty_dir_ok, refused) in cases {
        let (mut op, mut obs) = draining_op();
        let opts = op.spec.drain_options.as_mut().unwrap();
        opts.force = Some(force);
        opts.delete_empty_dir_data = empty_dir_ok;
        obs.node_pods.insert("w1".into(), vec![p0.clone()]);
        let p = step(&mut op, &obs, t(0));
        if refused {
            assert_eq!(phase_of(&p, "w1"), P::Failed, "{p0:?}");
            let msg = p.status.node_statuses["w1"].message.clone().unwrap();
            assert!(msg.starts_with("cannot drain: default/"), "{msg}");
            assert!(p.actions.iter().all(|a| !matches!(a, Action::Evict { .. })));
        } else {
            assert_eq!(phase_of(&p, "w1"), P::Draining, "{p0:?}");
        }
    }
}

#[test]
fn drain_refuses_daemonset_pods_when_not_ignored() {
    let (mut op, mut obs) = draining_op();
    op.spec.drain_options.as_mut().unwrap().ignore_daemon_sets = false;
    obs.node_pods.insert(
        "w1".into(),
        vec![pod("kube-system", "ds", Some("DaemonSet"))],
    );
    let p = step(&mut op, &obs, t(0));
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    assert!(reasons(&p).contains(&"DrainRefused"));
}

#[test]
fn drain_timeout_fails_the_node_naming_the_blocking_pods_and_stop_on_failure_holds() {
    let (mut op, mut obs) = draining_op();
    op.spec.stop_on_failure = Some(true);
    op.spec.concurrency = 1;
    op.spec.drain_options.as_mut().unwrap().timeout_seconds = Some(60);
    obs.nodes.push(node("w2"));
    obs.node_pods
        .insert("w1".into(), vec![pod("shop", "db-0", Some("StatefulSet"))]);
    let p = step(&mut op, &obs, t(0));
    assert_eq!(phase_of(&p, "w1"), P::Draining);
    // The PDB refuses the eviction: the pod stays. Before the timeout the node keeps waiting.
    let p = step(&mut op, &obs, t(59));
    assert_eq!(phase_of(&p, "w1"), P::Draining);
    let p = step(&mut op, &obs, t(60));
    let st = &p.status.node_statuses["w1"];
    assert_eq!(st.phase, P::Failed);
    assert_eq!(
        st.message.as_deref(),
        Some("drain timed out after 60s; blocked by pods: shop/db-0")
    );
    assert_eq!(phase_of(&p, "w2"), P::Stopped);
    assert!(creates_job_for(&p).is_empty());
    assert_eq!(p.status.phase, Some(OperationPhase::Stopped));
    // The failed node stays cordoned (uncordonOnFailure is off).
    assert!(
        p.actions
            .iter()
            .all(|a| !matches!(a, Action::Uncordon { .. }))
    );
}

fn opts(yaml: &str) -> kairos_api::v1alpha1::DrainOptions {
    serde_yaml::from_str(yaml).expect("drain options")
}

fn names(pods: &[&crate::nodeop::NodePod]) -> Vec<String> {
    pods.iter()
        .map(|p| crate::nodeop::drain::pod_ref(p))
        .collect()
}

#[test]
fn a_terminating_pod_is_waited_for_even_when_it_would_refuse() {
    use crate::nodeop::drain::classify;
    let mut unmanaged = pod("a", "bare", None);
    unmanaged.deleting = true;
    let view = classify(std::slice::from_ref(&unmanaged), None);
    assert!(view.refused.is_empty());
    assert_eq!(names(&view.terminating), ["a/bare"]);
    assert!(!view.is_done());
}

#[test]
fn without_options_daemonsets_are_skipped_and_bare_or_emptydir_pods_refuse() {
    use crate::nodeop::drain::{Refusal, classify};
    let mut cache = pod("a", "cache", Some("ReplicaSet"));
    cache.has_empty_dir = true;
    let pods = [
        pod("kube-system", "proxy", Some("DaemonSet")),
        pod("a", "bare", None),
        cache,
        pod("a", "web", Some("ReplicaSet")),
    ];
    let view = classify(&pods, None);
    assert_eq!(names(&view.evict), ["a/web"]);
    let refused: Vec<(String, Refusal)> = view
        .refused
        .iter()
        .map(|(p, r)| (crate::nodeop::drain::pod_ref(p), *r))
        .collect();
    assert_eq!(
        refused,
        [
            ("a/bare".to_owned(), Refusal::Unmanaged),
            ("a/cache".to_owned(), Refusal::EmptyDir)
        ]
    );
}

#[test]
fn force_lets_a_bare_pod_go_but_not_its_emptydir() {
    use crate::nodeop::drain::{Refusal, classify};
    let mut bare = pod("a", "bare", None);
    bare.has_empty_dir = true;
    let o = opts("enabled: true\nforce: true");
    let view = classify(std::slice::from_ref(&bare), Some(&o));
    assert_eq!(view.refused.len(), 1);
    assert_eq!(view.refused[0].1, Refusal::EmptyDir);
    let o = opts("enabled: true\nforce: true\ndeleteEmptyDirData: true");
    assert_eq!(
        names(&classify(std::slice::from_ref(&bare), Some(&o)).evict),
        ["a/bare"]
    );
}

#[test]
fn blocking_pods_and_refusals_are_listed_sorted_with_their_hints() {
    use crate::nodeop::drain::classify;
    let mut leaving = pod("b", "old", Some("ReplicaSet"));
    leaving.deleting = true;
    let pods = [
        pod("z", "web", Some("ReplicaSet")),
        leaving,
        pod("a", "web", Some("StatefulSet")),
        pod("m", "bare", None),
        pod("c", "agent", Some("DaemonSet")),
    ];
    let o = opts("enabled: true\nignoreDaemonSets: false");
    let view = classify(&pods, Some(&o));
    assert_eq!(view.blocking(), ["a/web", "b/old", "z/web"]);
    assert_eq!(
        view.refusals(),
        [
            "c/agent (DaemonSet-managed; set drainOptions.ignoreDaemonSets)",
            "m/bare (not managed by a controller; set drainOptions.force)",
        ]
    );
}

#[test]
fn finished_pods_are_never_in_the_way() {
    use crate::nodeop::drain::classify;
    let mut done = pod("a", "done", None);
    done.phase = PodPhase::Succeeded;
    let mut crashed = pod("a", "crashed", None);
    crashed.phase = PodPhase::Failed;
    let pods = [done, crashed];
    let view = classify(&pods, None);
    assert!(view.is_done());
}

#[test]
fn a_negative_grace_period_keeps_the_pods_own() {
    use crate::nodeop::drain::grace_period;
    assert_eq!(grace_period(None), None);
    assert_eq!(grace_period(Some(&opts("enabled: true"))), None);
    assert_eq!(
        grace_period(Some(&opts("enabled: true\ngracePeriodSeconds: -1"))),
        None
    );
    assert_eq!(
        grace_period(Some(&opts("enabled: true\ngracePeriodSeconds: 0"))),
        Some(0)
    );
}

#[test]
fn the_drain_timeout_defaults_to_five_minutes() {
    use crate::nodeop::drain::timeout_seconds;
    assert_eq!(timeout_seconds(None), 300);
    assert_eq!(timeout_seconds(Some(&opts("enabled: true"))), 300);
    assert_eq!(
        timeout_seconds(Some(&opts("enabled: true\ntimeoutSeconds: 30"))),
        30
    );
}
