//! End to end: the engine across operations and at fleet scale, with the real operator (as
//! installed) against the API server: one operation per node at a time, one control-plane node
//! at a time across operations, the cluster-wide disruption budget, and a NodeOp over 5,000
//! nodes whose objects stay small. Every assertion reads objects through the API, so the tests
//! hold on a real kube-apiserver too. Does API and process I/O.

mod common;
mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use kairos_api::NodeOpTarget;
use kairos_api::names::LABEL_NODE_LOCK;
use kairos_api::v1alpha1::{BootState, KairosNode, NodeOpUpgrade, UpgradeState};
use kairos_e2e::harness::{AutoAction, Cluster, NodeHandle, RebootChange, SimNode, wait_for};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use ops::*;

const FROM: &str = "v3.5.0";

fn nodeop(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": name}, "spec": spec})
}

/// Every message seen per `<nodeop>/<node>`.
type Messages = Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>;

/// Every message the target records of `ns` showed while it ran, per `<nodeop>/<node>`.
fn record_messages(c: &Cluster, ns: &str) -> (Messages, tokio::task::JoinHandle<()>) {
    let seen: Messages = Arc::default();
    let api: Api<NodeOpTarget> = Api::namespaced(c.client(), ns);
    let s = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Ok(list) = api.list(&ListParams::default()).await {
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                for t in list.items {
                    if let Some(m) = t.status.as_ref().and_then(|st| st.message.clone()) {
                        s.entry(format!("{}/{}", t.spec.node_op, t.spec.node))
                            .or_default()
                            .insert(m);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    (seen, task)
}

/// Waits until no node lock is left in the operator's namespace `ns` (an operation releases a
/// node's lock right after recording it done), else fails naming them.
async fn assert_locks_released(c: &Cluster, ns: &str) {
    let api = Api::<Lease>::namespaced(c.client(), ns);
    let left = || async {
        api.list(&ListParams::default().labels(LABEL_NODE_LOCK))
            .await
            .map(|l| l.items.iter().map(|l| l.name_any()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    if wait_for(Duration::from_secs(15), || async {
        left().await.is_empty().then_some(())
    })
    .await
    .is_err()
    {
        panic!("node locks left: {:?}", left().await);
    }
}

#[tokio::test]
async fn engine_two_nodeops_on_one_node_never_work_it_at_once() {
    let (c, ns) = common::cluster("engine-two-ops").await;
    workers(&c, &["w1", "w2"]).await;
    let opts = OperatorOpts::new();
    let op = start_operator(&c, &opts).await;
    let rec = Recorder::start(c.client(), &opts.namespace);
    let (messages, watcher) = record_messages(&c, &ns);
    let _kubelet = c.kubelet().run_auto(node_policy(
        Duration::from_millis(800),
        |_, _, _| None,
        |_| RebootChange::default(),
    ));
    let spec = |targets: &[&str], reboot: bool| {
        json!({"targetNodes": targets, "command": ["sh", "-c", "true"], "cordon": true,
            "rebootOnSuccess": reboot, "concurrency": 2})
    };
    create_nodeop(&c, &ns, nodeop("first", spec(&["w1"], true))).await;
    create_nodeop(&c, &ns, nodeop("second", spec(&["w1", "w2"], false))).await;
    for name in ["first", "second"] {
        wait_completed(&c, &op, &ns, name, 60).await;
    }
    watcher.abort();
    let t = rec.timeline();
    assert_eq!(
        t.max_active_jobs_on_a_node, 1,
        "two Jobs on one node at once: {t:#?}"
    );
    assert!(
        t.jobs_on_uncordoned_nodes.is_empty(),
        "a Job ran on an uncordoned node: {t:#?}"
    );
    assert_eq!(
        t.jobs_per_node["w1"].len(),
        2,
        "one Job per operation on w1: {t:#?}"
    );
    // Whichever took w1 second waited for the other, and said so.
    let messages = messages.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let waited = messages.iter().any(|(k, ms)| {
        k.ends_with("/w1")
            && ms
                .iter()
                .any(|m| m.starts_with(&format!("waiting for {ns}/")))
    });
    assert!(waited, "{messages:#?}");
    assert!(!unschedulable(
        &all_nodes(&c)
            .await
            .into_iter()
            .find(|n| n.name_any() == "w1")
            .expect("w1")
    ));
    assert_locks_released(&c, &opts.namespace).await;
}

/// The kubelet policy of two upgrades to different versions: a reboot installs the version of
/// the node's latest Job image.
fn installs_the_job_version() -> kairos_e2e::harness::Policy {
    let last: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let seen = last.clone();
    node_policy(
        Duration::from_millis(500),
        move |job: &Job, node: &str, _| -> Option<AutoAction> {
            let image = kairos_e2e::harness::job_image(job)?;
            let version = kairos_core::upgrade::version::target_version_from_image(&image)?;
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.to_owned(), version);
            None
        },
        move |n: &NodeHandle| {
            let version = last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(n.name())
                .cloned()
                .unwrap_or_else(|| FROM.to_owned());
            RebootChange {
                release: Some(n.release().with_version(&version)),
                boot_mode: None,
            }
        },
    )
}

#[tokio::test]
async fn engine_two_nodeopupgrades_on_one_node_never_work_it_at_once() {
    let (c, ns) = common::cluster("engine-two-upgrades").await;
    let nodes: Vec<(String, bool, &str)> = ["cp1", "cp2", "cp3"]
        .iter()
        .map(|n| ((*n).to_owned(), true, FROM))
        .collect();
    let op = fleet_of(&c, &nodes).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let _kubelet = c.kubelet().run_auto(installs_the_job_version());
    for (name, version) in [("to-360", "v3.6.0"), ("to-370", "v3.7.0")] {
        create_upgrade(
            &c,
            &ns,
            name,
            json!({"image": image(version), "targetNodes": ["cp2"], "concurrency": 1}),
        )
        .await;
    }
    for name in ["to-360", "to-370"] {
        let up = wait_upgrade(&c, &op, &ns, name, 90).await;
        let st = up.status.expect("status");
        assert_eq!(
            phase_str(st.phase.as_ref()).as_deref(),
            Some("Completed"),
            "{name}: {st:#?}"
        );
    }
    let t = rec.timeline();
    assert_eq!(
        t.max_active_jobs_on_a_node, 1,
        "two upgrade Jobs on cp2 at once: {t:#?}"
    );
    assert!(t.max_control_plane_in_flight <= 1, "{t:#?}");
    let kn = Api::<KairosNode>::all(c.client())
        .get("cp2")
        .await
        .expect("cp2");
    let version = kn
        .status
        .as_ref()
        .and_then(|s| s.kairos.as_ref()?.version.clone());
    // Either both ran, one after the other (in either order: whichever took cp2's lock first),
    // or the second saw the first in flight and skipped the node: never both at once.
    let statuses = {
        let api = Api::<NodeOpUpgrade>::namespaced(c.client(), &ns);
        let mut out = Vec::new();
        for (name, version) in [("to-360", "v3.6.0"), ("to-370", "v3.7.0")] {
            let st = api.get(name).await.expect(name).status.expect("status");
            out.push((version, st.node_statuses.get("cp2").cloned().expect("cp2")));
        }
        out
    };
    let jobs = t.jobs_per_node.get("cp2").map_or(0, BTreeSet::len);
    match jobs {
        2 => {
            let last_job = t
                .job_sequence
                .iter()
                .rev()
                .find(|(node, _)| node == "cp2")
                .map(|(_, job)| job.clone());
            let ran_last = statuses
                .iter()
                .find(|(_, st)| st.job_name == last_job)
                .map(|(version, _)| *version);
            assert!(
                ran_last.is_some(),
                "{last_job:?} is neither upgrade's Job: {statuses:#?}"
            );
            assert_eq!(version.as_deref(), ran_last, "{kn:#?}");
        }
        1 => {
            let ran = statuses
                .iter()
                .find(|(_, st)| st.job_name.is_some())
                .map(|(version, _)| *version);
            let skipped = statuses.iter().any(|(_, st)| {
                st.message
                    .as_deref()
                    .is_some_and(|m| m.contains("in flight"))
            });
            assert!(skipped, "one Job and no skip: {statuses:#?}");
            assert_eq!(version.as_deref(), ran, "{kn:#?}");
        }
        n => panic!("{n} Jobs on cp2: {t:#?}"),
    }
    let cp2 = all_nodes(&c)
        .await
        .into_iter()
        .find(|n| n.name_any() == "cp2")
        .expect("cp2");
    assert!(
        !unschedulable(&cp2) && cordoned_by(&cp2).is_none(),
        "cp2 uncordoned"
    );
    assert_locks_released(&c, &op.opts.namespace).await;
}

#[tokio::test]
async fn engine_per_node_upgrades_of_three_control_plane_nodes_run_one_at_a_time() {
    let (c, _ns) = common::cluster("engine-cp-upgrades").await;
    let mut nodes: Vec<(String, bool, &str)> = ["cp1", "cp2", "cp3"]
        .iter()
        .map(|n| ((*n).to_owned(), true, FROM))
        .collect();
    nodes.push(("w1".to_owned(), false, FROM));
    let op = fleet_of(&c, &nodes).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.0"));
    let api: Api<KairosNode> = Api::all(c.client());
    let patch = Patch::Merge(json!({"spec": {"version": "v3.6.0"}}));
    let params = PatchParams::default();
    let edits = ["cp1", "cp2", "cp3"].map(|n| api.patch(n, &params, &patch));
    for r in futures::future::join_all(edits).await {
        r.expect("per-node upgrade asked");
    }
    wait_for(Duration::from_secs(120), || async {
        let mut done = 0;
        for n in ["cp1", "cp2", "cp3"] {
            let kn = api.get(n).await.ok()?;
            let state = kn.status.as_ref()?.upgrade.as_ref()?.state;
            if state == UpgradeState::Completed && reports(&kn, "v3.6.0", BootState::Active) {
                done += 1;
            }
        }
        (done == 3).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("the three upgrades did not complete: {e}\n{}", op.logs(&c)));
    let t = rec.timeline();
    assert_eq!(
        t.max_control_plane_in_flight, 1,
        "control-plane nodes at once: {t:#?}"
    );
    assert_eq!(t.reboot_order.len(), 3, "{t:#?}");
    for n in ["cp1", "cp2", "cp3"] {
        assert_eq!(c.node(n).expect("node").boots(), 2, "{n} rebooted once");
    }
    assert_locks_released(&c, &op.opts.namespace).await;
}

#[tokio::test]
async fn engine_max_disrupted_nodes_holds_across_three_operations() {
    let (c, ns) = common::cluster("engine-budget").await;
    let names = ["w1", "w2", "w3", "w4", "w5", "w6"];
    workers(&c, &names).await;
    let mut opts = OperatorOpts::new();
    opts.extra = vec!["--max-disrupted-nodes", "2"];
    let op = start_operator(&c, &opts).await;
    let rec = Recorder::start(c.client(), &opts.namespace);
    let _kubelet = c.kubelet().run_auto(node_policy(
        Duration::from_millis(600),
        |_, _, _| None,
        |_| RebootChange::default(),
    ));
    for (i, pair) in names.chunks(2).enumerate() {
        let spec = json!({"targetNodes": pair, "command": ["sh", "-c", "true"], "cordon": true,
            "concurrency": 2});
        create_nodeop(&c, &ns, nodeop(&format!("op-{i}"), spec)).await;
    }
    for i in 0..3 {
        wait_completed(&c, &op, &ns, &format!("op-{i}"), 90).await;
    }
    let t = rec.timeline();
    assert!(t.max_cordoned_by_us <= 2, "{t:#?}");
    assert!(t.max_in_flight <= 2, "{t:#?}");
    assert_eq!(t.jobs_per_node.len(), 6, "{t:#?}");
    assert_locks_released(&c, &opts.namespace).await;
}

/// How many nodes the fleet-scale test rolls: `KAIROS_E2E_FLEET_NODES`, else 5,000, or 1,000
/// in CI (`CI` set), whose two cores also run the rest of the suite with debug builds; the
/// benchmark (`cargo xtask bench`) rolls 5,000 nodes with release builds.
fn fleet_nodes() -> usize {
    let configured = std::env::var("KAIROS_E2E_FLEET_NODES").ok();
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    configured
        .and_then(|v| v.parse().ok())
        .unwrap_or(if ci { 1000 } else { 5000 })
}

#[tokio::test]
async fn engine_nodeop_over_5000_nodes_completes_with_the_size_limit_on() {
    let (c, ns) = common::cluster("engine-fleet").await;
    let n = fleet_nodes();
    let nodes = (0..n).map(|i| {
        SimNode::worker(
            &format!("node-{i:05}"),
            kairos_e2e::harness::ReleaseFixture::ubuntu_k3s(FROM),
        )
    });
    let t0 = std::time::Instant::now();
    kairos_e2e::load::add_nodes(&c, nodes, 32)
        .await
        .expect("nodes added");
    println!("{n} nodes added in {:?}", t0.elapsed());
    let mut opts = OperatorOpts::new();
    opts.poll_interval = "2s";
    // The default lease: at this scale the API server is busy, and a test lease of 2 s would
    // rightly make the leader step down.
    opts.lease = ("15s", "10s");
    let op = start_operator(&c, &opts).await;
    let kubelet = c
        .kubelet()
        .serve_jobs(&opts.namespace, Duration::from_millis(50));
    let spec = json!({"command": ["sh", "-c", "true"], "cordon": true, "concurrency": 250});
    create_nodeop(&c, &ns, nodeop("fleet", spec)).await;
    let api = Api::<kairos_api::NodeOp>::namespaced(c.client(), &ns);
    let finished = wait_for(Duration::from_secs(900), || async {
        let op = api.get("fleet").await.ok()?;
        let phase = op.status.as_ref()?.phase?;
        (phase != kairos_api::v1alpha1::OperationPhase::Running
            && phase != kairos_api::v1alpha1::OperationPhase::Pending)
            .then_some(op)
    })
    .await;
    println!("rollout over {n} nodes ended after {:?}", t0.elapsed());
    let done = finished.unwrap_or_else(|e| {
        let logs = op.logs(&c);
        panic!(
            "the rollout did not end: {e}\n{}",
            &logs[logs.len().saturating_sub(20_000)..]
        )
    });
    kubelet.abort();
    let st = done.status.clone().expect("status");
    assert_eq!(
        phase_of(&done).as_deref(),
        Some("Completed"),
        "{}",
        op.logs(&c)
    );
    let total = i32::try_from(n).expect("count");
    assert_eq!((st.total, st.completed, st.failed), (total, total, 0));
    assert!(
        st.node_statuses.len() <= 100,
        "{} nodes listed",
        st.node_statuses.len()
    );
    let bytes = serde_json::to_vec(&done).expect("json").len();
    assert!(bytes < 64 * 1024, "the NodeOp is {bytes} bytes");
    let records = Api::<NodeOpTarget>::namespaced(c.client(), &ns)
        .list(&ListParams::default().labels(&format!("{}=fleet", kairos_api::names::LABEL_NODEOP)))
        .await
        .expect("records");
    assert_eq!(records.items.len(), n);
    assert!(records.items.iter().all(|r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == kairos_api::v1alpha1::NodePhase::Completed)
    }));
    assert_locks_released(&c, &opts.namespace).await;
}
