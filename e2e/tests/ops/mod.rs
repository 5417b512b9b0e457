//! Shared helpers of the NodeOp and upgrade e2e tests: starting the real operator with short
//! intervals, a recorder that samples Nodes, Jobs and engine pods through the API (the order in
//! which Jobs appear, how many nodes are cordoned by us at once), workload pods, agents that
//! report through the operator, and typed reads of NodeOp status. Does API and process I/O.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_api::NodeOp;
use kairos_api::names::{ANNOTATION_CORDONED_BY, CONTROL_PLANE_LABELS, LABEL_NODE, LABEL_ROLE};
use kairos_api::v1alpha1::{BootState, KairosNode, NodeOpUpgrade};
use kairos_e2e::harness::process::free_port;
use kairos_e2e::harness::{
    Cluster, NodeHandle, RebootChange, ReleaseFixture, SimNode, ensure_built, wait_for,
};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

/// Label every engine Job and pod carries: the NodeOp's UID.
pub use kairos_api::names::LABEL_NODEOP_UID;
/// The control-plane role label simulated control-plane nodes carry.
const LABEL_CONTROL_PLANE: &str = CONTROL_PLANE_LABELS[0];

/// A running operator of a test.
#[derive(Debug, Clone)]
pub struct OperatorOpts {
    /// The operator's namespace (Jobs and reboot pods go there).
    pub namespace: String,
    /// `--reboot-timeout`.
    pub reboot_timeout: &'static str,
    /// `--poll-interval`.
    pub poll_interval: &'static str,
    /// `KAIROS_LEASE_DURATION` and `KAIROS_LEASE_GRACE` (leader election).
    pub lease: (&'static str, &'static str),
    /// More flags.
    pub extra: Vec<&'static str>,
}

impl OperatorOpts {
    /// Defaults for tests: namespace `kairos-system`, 500 ms polls, 20 s reboot timeout, a
    /// lease of 2 s renewed 1 s before expiry (fast failovers).
    pub fn new() -> Self {
        Self {
            namespace: "kairos-system".into(),
            reboot_timeout: "20s",
            poll_interval: "500ms",
            lease: ("2s", "1s"),
            extra: Vec::new(),
        }
    }
}

/// What [`start_operator`] started.
#[derive(Debug, Clone)]
pub struct Operator {
    /// Index for [`Cluster::operator_logs`] / [`Cluster::kill_operator`].
    pub idx: usize,
    /// Report service endpoint (`http://127.0.0.1:port`).
    pub endpoint: String,
    /// Options it was started with.
    pub opts: OperatorOpts,
    /// Its admin port (`/livez`, `/readyz`, `/metrics`).
    pub admin: u16,
    /// Its leader-election identity (`POD_NAME`).
    pub identity: String,
    grpc: u16,
}

/// Builds the binaries (once) and prepares the operator's namespace and the service accounts
/// of its Jobs and agents.
pub async fn prepare(c: &Cluster, opts: &OperatorOpts) {
    ensure_built().await.expect("binaries build");
    c.ensure_namespace(&opts.namespace)
        .await
        .expect("operator namespace");
    for sa in ["kairos-node-job", kairos_api::names::AGENT_SERVICE_ACCOUNT] {
        c.ensure_service_account(&opts.namespace, sa)
            .await
            .expect("service account");
    }
}

/// Starts `kairos-operator` with plaintext gRPC on a free port and the test intervals.
pub async fn start_operator(c: &Cluster, opts: &OperatorOpts) -> Operator {
    prepare(c, opts).await;
    let grpc = free_port().expect("free port");
    spawn_as(c, opts, grpc, "kairos-operator-e2e").await
}

/// Starts one more `kairos-operator` with its own leader-election `identity` (a second replica
/// when it differs from the others'), plaintext gRPC on `grpc` and the test intervals.
pub async fn spawn_as(c: &Cluster, opts: &OperatorOpts, grpc: u16, identity: &str) -> Operator {
    let admin = free_port().expect("free port");
    let grpc_addr = format!("127.0.0.1:{grpc}");
    let admin_addr = format!("127.0.0.1:{admin}");
    let mut args = vec![
        "--insecure-grpc",
        "--grpc-addr",
        &grpc_addr,
        "--admin-addr",
        &admin_addr,
        "--namespace",
        &opts.namespace,
        "--poll-interval",
        opts.poll_interval,
        "--reboot-timeout",
        opts.reboot_timeout,
        "--heartbeat",
        "2s",
        "--lastseen-interval",
        "1s",
        "--log-level",
        "info,kairos_operator=debug",
    ];
    args.extend(opts.extra.iter().copied());
    let idx = c
        .spawn_operator(
            &args,
            // One pod name for every process of a test: a restart is the container restarting
            // in its pod, so it keeps its leader-election identity (when the binary has leader
            // election; environment variables, which a binary without it ignores).
            &[
                ("POD_NAME", identity),
                ("KAIROS_LEASE_DURATION", opts.lease.0),
                ("KAIROS_LEASE_GRACE", opts.lease.1),
            ],
        )
        .await
        .expect("operator spawns");
    Operator {
        idx,
        endpoint: format!("http://{grpc_addr}"),
        opts: opts.clone(),
        admin,
        identity: identity.to_owned(),
        grpc,
    }
}

impl Operator {
    /// Kills this operator and starts a new one on the same gRPC port (agents keep their
    /// endpoint). Returns the new handle.
    pub async fn restart(self, c: &Cluster) -> Operator {
        c.kill_operator(self.idx).await;
        spawn_as(c, &self.opts, self.grpc, &self.identity).await
    }

    /// What it logged.
    pub fn logs(&self, c: &Cluster) -> String {
        c.operator_logs(self.idx)
    }
}

/// The typed NodeOp API of a namespace.
pub fn nodeops(c: &Cluster, ns: &str) -> Api<NodeOp> {
    Api::namespaced(c.client(), ns)
}

/// Creates a NodeOp from JSON.
pub async fn create_nodeop(c: &Cluster, ns: &str, v: serde_json::Value) -> NodeOp {
    let op: NodeOp = serde_json::from_value(v).expect("valid NodeOp");
    nodeops(c, ns)
        .create(&PostParams::default(), &op)
        .await
        .expect("NodeOp created")
}

/// Waits until the NodeOp's `status.phase` is one of `phases` (as serialized), returning it.
pub async fn wait_phase(c: &Cluster, ns: &str, name: &str, phases: &[&str], secs: u64) -> NodeOp {
    let api = nodeops(c, ns);
    let r = wait_for(Duration::from_secs(secs), || async {
        let op = api.get(name).await.ok()?;
        let p = phase_of(&op)?;
        phases.contains(&p.as_str()).then_some(op)
    })
    .await;
    match r {
        Ok(op) => op,
        Err(e) => {
            let op = api.get(name).await.ok();
            panic!(
                "NodeOp {ns}/{name} did not reach {phases:?}: {e}; status: {}",
                serde_json::to_string_pretty(&op.and_then(|o| o.status)).unwrap_or_default()
            )
        }
    }
}

/// Waits until the NodeOp ends and asserts that it `Completed` (else fails with its status and
/// the operator's log); returns it.
pub async fn wait_completed(c: &Cluster, op: &Operator, ns: &str, name: &str, secs: u64) -> NodeOp {
    let done = wait_phase(c, ns, name, &["Completed", "Failed", "Stopped"], secs).await;
    assert_eq!(
        phase_of(&done).as_deref(),
        Some("Completed"),
        "{ns}/{name}: {:#?}\n{}",
        done.status,
        op.logs(c)
    );
    done
}

/// `status.phase` of a NodeOp as a string.
pub fn phase_of(op: &NodeOp) -> Option<String> {
    let s = op.status.as_ref()?;
    let v = serde_json::to_value(s.phase.as_ref()?).ok()?;
    v.as_str().map(str::to_owned)
}

/// Per-node `(phase, message)` of a NodeOp's status.
pub fn node_phases(op: &NodeOp) -> BTreeMap<String, (String, String)> {
    op.status
        .iter()
        .flat_map(|s| s.node_statuses.iter())
        .map(|(n, s)| {
            let p = serde_json::to_value(s.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (n.clone(), (p, s.message.clone().unwrap_or_default()))
        })
        .collect()
}

/// A cordon annotation of ours on `node` (any NodeOp), if present.
pub fn cordoned_by(node: &Node) -> Option<String> {
    node.annotations().get(ANNOTATION_CORDONED_BY).cloned()
}

/// Whether the Node is unschedulable.
pub fn unschedulable(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
}

/// What the [`Recorder`] saw.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    /// Nodes in the order their first engine Job appeared.
    pub job_order: Vec<String>,
    /// Nodes in the order they were first cordoned by an operation of ours.
    pub cordon_order: Vec<String>,
    /// Nodes in the order their first reboot pod appeared.
    pub reboot_order: Vec<String>,
    /// Largest number of nodes carrying our cordon annotation at one sample.
    pub max_cordoned_by_us: usize,
    /// Largest number of nodes "in flight" at one sample: cordoned by us, or with an unfinished
    /// engine Job or reboot pod.
    pub max_in_flight: usize,
    /// Largest number of unfinished engine Jobs at one sample.
    pub max_active_jobs: usize,
    /// Every Job seen, as (node, Job name), in the order they first appeared.
    pub job_sequence: Vec<(String, String)>,
    /// Every Job name seen per node.
    pub jobs_per_node: BTreeMap<String, BTreeSet<String>>,
    /// Largest number of unfinished engine Jobs on one node at one sample (of any operation).
    pub max_active_jobs_on_a_node: usize,
    /// Largest number of control-plane nodes in flight at one sample.
    pub max_control_plane_in_flight: usize,
    /// Nodes seen running an unfinished engine Job while not cordoned.
    pub jobs_on_uncordoned_nodes: BTreeSet<String>,
    /// Samples taken.
    pub samples: usize,
}

/// Asserts a clean rollout over `nodes` nodes: exactly one Job per node, at most
/// `max_in_flight` nodes in flight at any sample, and no node left cordoned.
pub async fn assert_clean_rollout(c: &Cluster, t: &Timeline, nodes: usize, max_in_flight: usize) {
    assert_eq!(t.jobs_per_node.len(), nodes, "{t:#?}");
    assert!(
        t.jobs_per_node.values().all(|jobs| jobs.len() == 1),
        "one Job per node: {t:#?}"
    );
    assert!(t.max_in_flight <= max_in_flight, "{t:#?}");
    for node in all_nodes(c).await {
        assert!(
            !unschedulable(&node),
            "{} left cordoned",
            kube::ResourceExt::name_any(&node)
        );
    }
}

/// Samples Nodes, engine Jobs and engine pods (label `operator.kairos.io/nodeop-uid`) in the
/// operator's namespace every 40 ms through the API. Stops when dropped.
pub struct Recorder {
    data: Arc<Mutex<Timeline>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn job_done(j: &Job) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

fn pod_done(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Recorder {
    /// Starts sampling `job_ns`.
    pub fn start(client: Client, job_ns: &str) -> Self {
        let data = Arc::new(Mutex::new(Timeline::default()));
        let d = data.clone();
        let job_ns = job_ns.to_owned();
        let task = tokio::spawn(async move {
            let nodes: Api<Node> = Api::all(client.clone());
            let jobs: Api<Job> = Api::namespaced(client.clone(), &job_ns);
            let pods: Api<Pod> = Api::namespaced(client.clone(), &job_ns);
            let lp = ListParams::default().labels(LABEL_NODEOP_UID);
            loop {
                let all = ListParams::default();
                if let (Ok(ns), Ok(js), Ok(ps)) =
                    tokio::join!(nodes.list(&all), jobs.list(&lp), pods.list(&lp))
                {
                    let mut t = d.lock().unwrap_or_else(|e| e.into_inner());
                    t.samples += 1;
                    let mut in_flight = BTreeSet::new();
                    let mut cordoned = 0;
                    for n in &ns.items {
                        if cordoned_by(n).is_some() {
                            cordoned += 1;
                            in_flight.insert(n.name_any());
                            if !t.cordon_order.contains(&n.name_any()) {
                                t.cordon_order.push(n.name_any());
                            }
                        }
                    }
                    let mut active = 0;
                    let mut active_per_node: BTreeMap<String, usize> = BTreeMap::new();
                    for j in &js.items {
                        let Some(node) = j.labels().get(LABEL_NODE).cloned() else {
                            continue;
                        };
                        if !t.job_order.contains(&node) {
                            t.job_order.push(node.clone());
                        }
                        if t.jobs_per_node
                            .entry(node.clone())
                            .or_default()
                            .insert(j.name_any())
                        {
                            t.job_sequence.push((node.clone(), j.name_any()));
                        }
                        if !job_done(j) {
                            active += 1;
                            *active_per_node.entry(node.clone()).or_default() += 1;
                            let cordoned = ns
                                .items
                                .iter()
                                .any(|n| n.name_any() == node && unschedulable(n));
                            if !cordoned {
                                t.jobs_on_uncordoned_nodes.insert(node.clone());
                            }
                            in_flight.insert(node);
                        }
                    }
                    let most_on_one = active_per_node.values().copied().max().unwrap_or(0);
                    t.max_active_jobs_on_a_node = t.max_active_jobs_on_a_node.max(most_on_one);
                    for p in &ps.items {
                        let (Some(node), Some(role)) =
                            (p.labels().get(LABEL_NODE), p.labels().get(LABEL_ROLE))
                        else {
                            continue;
                        };
                        if role == "reboot" {
                            if !t.reboot_order.contains(node) {
                                t.reboot_order.push(node.clone());
                            }
                            if !pod_done(p) {
                                in_flight.insert(node.clone());
                            }
                        }
                    }
                    t.max_cordoned_by_us = t.max_cordoned_by_us.max(cordoned);
                    t.max_active_jobs = t.max_active_jobs.max(active);
                    t.max_in_flight = t.max_in_flight.max(in_flight.len());
                    let control_plane = ns
                        .items
                        .iter()
                        .filter(|n| in_flight.contains(&n.name_any()))
                        .filter(|n| n.labels().contains_key(LABEL_CONTROL_PLANE))
                        .count();
                    t.max_control_plane_in_flight =
                        t.max_control_plane_in_flight.max(control_plane);
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        });
        Self { data, task }
    }

    /// A copy of what was seen so far.
    pub fn timeline(&self) -> Timeline {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A Deployment (replicas 0, so a real controller manager creates nothing) that owns the
/// workload pods of a test, so the drain treats them as managed.
pub async fn workload_owner(c: &Cluster, ns: &str, name: &str) -> Deployment {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:latest"}]}}},
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("deployment created")
}

/// A Running pod on `node` owned (as controller) by `owner`, with label `app=<owner name>`.
pub async fn workload_pod(
    c: &Cluster,
    ns: &str,
    name: &str,
    node: &str,
    owner: &Deployment,
) -> Pod {
    let app = owner.name_any();
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": app},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                "uid": owner.uid(), "controller": true}]},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "busybox:latest"}]},
    }))
    .expect("pod");
    Api::<Pod>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &p)
        .await
        .expect("workload pod created");
    c.kubelet().run_pod(ns, name).await.expect("pod runs")
}

/// Labels a Node (merge patch), as an admin or the operator's node labelling would.
pub async fn label_node(c: &Cluster, node: &str, key: &str, value: &str) {
    c.label_node(node, key, value).await.expect("node labelled");
}

/// Starts the node's agent reporting to `op` with a bound token and 200 ms polls.
pub async fn start_agent(c: &Cluster, op: &Operator, node: &NodeHandle) {
    let id = c
        .agent_identity(
            node,
            &op.opts.namespace,
            kairos_api::names::AGENT_TOKEN_AUDIENCE,
        )
        .await
        .expect("agent identity");
    c.own_by_agent_daemonset(&op.opts.namespace, &id.pod)
        .await
        .expect("agent pod owned by the agent DaemonSet");
    let token = id.token_file.to_string_lossy().into_owned();
    let host = node.host_root().to_string_lossy().into_owned();
    node.spawn_agent(&[
        "--node-name",
        node.name(),
        "--host-root",
        &host,
        "--operator-endpoint",
        &op.endpoint,
        "--token-file",
        &token,
        "--poll-interval",
        "200ms",
        "--heartbeat",
        "2s",
    ])
    .await
    .expect("agent spawns");
}

/// All Nodes.
pub async fn all_nodes(c: &Cluster) -> Vec<Node> {
    Api::<Node>::all(c.client())
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
}

/// Engine Jobs in `job_ns` (any NodeOp).
pub async fn engine_jobs(c: &Cluster, job_ns: &str) -> Vec<Job> {
    Api::<Job>::namespaced(c.client(), job_ns)
        .list(&ListParams::default().labels(LABEL_NODEOP_UID))
        .await
        .expect("jobs")
        .items
}

/// The kubelet stand-in's policy as a real node behaves. A Job's pod runs `delay`, then does
/// what `job(job, node, attempt)` says, by default succeeds with the node's boot ID as
/// termination message (what the engine's wrapper appends). A reboot pod runs `delay`, then
/// reboots its node with `reboot(node)` only while the node's boot ID equals the pod's
/// `EXPECTED_BOOT_ID` (what its script checks), else exits 0. Other pods succeed.
pub fn node_policy(
    delay: Duration,
    job: impl Fn(&Job, &str, i32) -> Option<kairos_e2e::harness::AutoAction> + Send + Sync + 'static,
    reboot: impl Fn(&NodeHandle) -> kairos_e2e::harness::RebootChange + Send + Sync + 'static,
) -> kairos_e2e::harness::Policy {
    use kairos_e2e::harness::{AutoAction, AutoEvent};
    let seen: Mutex<BTreeMap<String, std::time::Instant>> = Mutex::new(BTreeMap::new());
    let ready = move |key: String| -> bool {
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        let first = *s.entry(key).or_insert_with(std::time::Instant::now);
        first.elapsed() >= delay
    };
    Arc::new(move |ev| match ev {
        AutoEvent::Job {
            job: j,
            node,
            attempt,
        } => {
            if !ready(format!(
                "job/{}/{}/{attempt}",
                j.uid().unwrap_or_default(),
                node.name()
            )) {
                return AutoAction::Ignore;
            }
            job(j, node.name(), *attempt)
                .unwrap_or_else(|| AutoAction::Succeed(Some(node.boot_id())))
        }
        AutoEvent::Pod {
            pod,
            node,
            role: Some("reboot"),
        } => {
            if !ready(format!("pod/{}", pod.uid().unwrap_or_default())) {
                return AutoAction::Ignore;
            }
            let expected = pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.env.as_ref())
                .and_then(|e| e.iter().find(|v| v.name == "EXPECTED_BOOT_ID"))
                .and_then(|v| v.value.clone());
            if expected.as_deref() == Some(node.boot_id().as_str()) {
                AutoAction::Reboot(reboot(node))
            } else {
                AutoAction::Succeed(None)
            }
        }
        AutoEvent::Pod { .. } => AutoAction::Succeed(None),
    })
}

/// Whether `kn` reports Kairos `version` booted from `boot`.
pub fn reports(kn: &KairosNode, version: &str, boot: BootState) -> bool {
    kn.status.as_ref().is_some_and(|s| {
        s.kairos.as_ref().and_then(|k| k.version.as_deref()) == Some(version)
            && s.boot_state == Some(boot)
    })
}

/// The image of Kairos `version` for the fixture the nodes run.
pub fn image(version: &str) -> String {
    ReleaseFixture::ubuntu_k3s(version).image()
}

/// Jobs take 300 ms, then succeed with the boot ID; a reboot installs `to` (booted active).
pub fn upgrade_policy(to: &'static str) -> kairos_e2e::harness::Policy {
    node_policy(
        Duration::from_millis(300),
        |_, _, _| None,
        move |n| RebootChange {
            release: Some(n.release().with_version(to)),
            boot_mode: None,
        },
    )
}

pub async fn create_upgrade(c: &Cluster, ns: &str, name: &str, spec: serde_json::Value) {
    let u: NodeOpUpgrade = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOpUpgrade",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("valid NodeOpUpgrade");
    Api::<NodeOpUpgrade>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &u)
        .await
        .expect("NodeOpUpgrade created");
}

pub fn phase_str<T: serde::Serialize>(p: Option<&T>) -> Option<String> {
    serde_json::to_value(p?).ok()?.as_str().map(str::to_owned)
}

pub async fn wait_upgrade(
    c: &Cluster,
    op: &Operator,
    ns: &str,
    name: &str,
    secs: u64,
) -> NodeOpUpgrade {
    let api: Api<NodeOpUpgrade> = Api::namespaced(c.client(), ns);
    let r = wait_for(Duration::from_secs(secs), || async {
        let u = api.get(name).await.ok()?;
        let p = phase_str(u.status.as_ref()?.phase.as_ref())?;
        matches!(p.as_str(), "Completed" | "Failed" | "Stopped").then_some(u)
    })
    .await;
    match r {
        Ok(u) => u,
        Err(e) => {
            let u = api.get(name).await.ok();
            let logs = op.logs(c);
            let tail = &logs[logs.len().saturating_sub(6000)..];
            panic!(
                "NodeOpUpgrade {name} did not end: {e}\n{:#?}\n{tail}",
                u.and_then(|u| u.status)
            )
        }
    }
}

/// Adds the nodes `(name, control plane, Kairos version)`, starts the operator and every
/// node's agent, and waits until each KairosNode reports its version booted active.
pub async fn fleet_of(c: &Cluster, nodes: &[(String, bool, &str)]) -> Operator {
    let nodes: Vec<(String, bool, ReleaseFixture)> = nodes
        .iter()
        .map(|(name, cp, version)| (name.clone(), *cp, ReleaseFixture::ubuntu_k3s(version)))
        .collect();
    fleet_of_releases(c, &nodes).await
}

/// Adds the nodes `(name, control plane, release)`, starts the operator and every node's
/// agent, and waits until each KairosNode reports its release's version booted active.
pub async fn fleet_of_releases(c: &Cluster, nodes: &[(String, bool, ReleaseFixture)]) -> Operator {
    let opts = OperatorOpts::new();
    let op = start_operator(c, &opts).await;
    let mut handles = Vec::new();
    for (name, cp, release) in nodes {
        let rel = release.clone();
        let spec = if *cp {
            SimNode::control_plane(name, rel)
        } else {
            SimNode::worker(name, rel)
        };
        let h = c.add_node(spec).await.expect("node added");
        start_agent(c, &op, &h).await;
        handles.push(h);
    }
    let api: Api<KairosNode> = Api::all(c.client());
    let reported = |kns: &[KairosNode], (name, _, release): &(String, bool, ReleaseFixture)| {
        kns.iter()
            .any(|kn| kn.name_any() == *name && reports(kn, &release.version, BootState::Active))
    };
    let r = wait_for(Duration::from_secs(30), || async {
        let kns = api.list(&Default::default()).await.ok()?;
        nodes.iter().all(|n| reported(&kns.items, n)).then_some(())
    })
    .await;
    if let Err(e) = r {
        // Say which nodes did not report, with their agents' logs and their KairosNodes.
        let kns = api
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let missing: Vec<String> = nodes
            .iter()
            .zip(&handles)
            .filter(|(n, _)| !reported(&kns, n))
            .map(|((name, _, _), h)| {
                let kn = kns.iter().find(|kn| kn.name_any() == *name);
                format!(
                    "{name}: KairosNode status {:?}\nagent logs:\n{}",
                    kn.map(|kn| &kn.status),
                    h.agent_logs()
                )
            })
            .collect();
        panic!(
            "agents did not report: {e}\n{}\noperator logs:\n{}",
            missing.join("\n"),
            op.logs(c)
        );
    }
    op
}

/// Adds worker nodes `names` running Kairos v3.5.0.
pub async fn workers(c: &Cluster, names: &[&str]) {
    for n in names {
        c.add_node(SimNode::worker(n, ReleaseFixture::ubuntu_k3s("v3.5.0")))
            .await
            .expect("node added");
    }
}

/// The KairosNode `name`.
pub async fn kairos_node(c: &Cluster, name: &str) -> KairosNode {
    Api::<KairosNode>::all(c.client())
        .get(name)
        .await
        .expect("KairosNode")
}

/// The Node `name`.
pub async fn node(c: &Cluster, name: &str) -> Node {
    Api::<Node>::all(c.client()).get(name).await.expect("node")
}
