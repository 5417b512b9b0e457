//! The soak (`cargo xtask soak --minutes N [--seed S]`, the `kairos-soak` binary): a dozen
//! simulated nodes with their real agents, the real operator, and a stream of NodeOps, fleet
//! upgrades and per-node upgrades, while the operator is killed, agents are restarted, the API
//! server is restarted and every watch is dropped at random (from a seed, printed so a run
//! replays its choices). Once the time is up no new work starts; when everything settled (or
//! the settle time ran out) the invariants of [`check`] are judged. Loopback only. Does
//! process, file, network and API I/O.

pub mod check;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Node;
use kairos_api::names::{
    AGENT_TOKEN_AUDIENCE, ANNOTATION_CORDONED_BY, LABEL_NODE, LABEL_NODEOP_UID,
};
use kairos_api::v1alpha1::{KairosNode, NodeOp, NodeOpTarget, NodeOpUpgrade};
use kairos_kube_sim::SimConfig;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;

use crate::harness::{
    Cluster, NodeHandle, OperatorHandle, ReleaseFixture, SimNode, ensure_built, upgrading_policy,
};
use check::{Fault, Observed};

/// The operator's namespace (its Jobs and reboot pods run there).
const OPERATOR_NS: &str = "kairos-system";
/// The namespace of the soak's operations.
const WORK_NS: &str = "soak";
/// The label that selects the soak's nodes.
const MANAGED: &str = "kairos.io/managed";
/// The operator's flags besides the harness's.
const OPERATOR_FLAGS: &[&str] = &[
    "--poll-interval",
    "500ms",
    "--reboot-timeout",
    "60s",
    "--heartbeat",
    "2s",
    "--lastseen-interval",
    "1s",
];
/// One pod name for every operator process (a restart keeps its leader-election identity), and
/// a lease that outlives an API server restart.
const OPERATOR_ENV: &[(&str, &str)] = &[
    ("POD_NAME", "kairos-operator-soak"),
    ("KAIROS_LEASE_DURATION", "15s"),
    ("KAIROS_LEASE_GRACE", "10s"),
];
/// The agents' flags (the heartbeat is clamped to at least 10 s).
const AGENT_FLAGS: &[&str] = &["--poll-interval", "1s", "--heartbeat", "10s"];
/// How often the agents' tokens are rewritten.
const TOKEN_REFRESH: Duration = Duration::from_secs(240);
/// At most this many operations unfinished at once.
const MAX_UNFINISHED: usize = 3;

/// What a soak does.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long new work and faults keep coming.
    pub duration: Duration,
    /// How long, after that, the soak waits for every operation to end.
    pub settle: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// Simulated nodes (the first two are control-plane nodes).
    pub nodes: usize,
    /// How long a Job or reboot pod "runs".
    pub job_time: Duration,
}

/// What a soak found.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Faults injected, by kind.
    pub faults: BTreeMap<Fault, usize>,
    /// What was observed at the end.
    pub observed: Observed,
    /// The invariants broken.
    pub violations: Vec<check::Violation>,
    /// The seed.
    pub seed: u64,
}

impl SoakReport {
    /// The closing table.
    pub fn table(&self) -> String {
        check::table(self.seed, &self.faults, &self.observed, &self.violations)
    }
}

/// The running soak: its cluster, nodes, operator and what it did so far.
struct Soak {
    cluster: Cluster,
    nodes: Vec<NodeHandle>,
    operator: OperatorHandle,
    rng: StdRng,
    faults: BTreeMap<Fault, usize>,
    failed_restarts: Vec<String>,
    jobs: BTreeMap<(String, String), BTreeSet<String>>,
    created: usize,
    versions: u32,
    tokens_refreshed: Instant,
}

/// Runs a soak, printing progress with `say`.
///
/// # Errors
/// When the cluster, the nodes or the operator cannot be started (a broken invariant is a
/// finding of the report, not an error).
pub async fn run(cfg: &SoakConfig, say: &dyn Fn(&str)) -> anyhow::Result<SoakReport> {
    say(&format!(
        "soak: seed {}, {} nodes, {:?} of work and faults, then up to {:?} to settle",
        cfg.seed, cfg.nodes, cfg.duration, cfg.settle
    ));
    ensure_built().await?;
    let mut soak = Soak::start(cfg).await?;
    let policy_guard = soak
        .cluster
        .kubelet()
        .run_auto(upgrading_policy(cfg.job_time));
    let end = Instant::now() + cfg.duration;
    let mut next_work = Instant::now();
    let mut next_fault = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(500)).await;
        soak.sample_jobs().await;
        soak.refresh_tokens(say).await;
        if Instant::now() >= next_work {
            if let Err(e) = soak.start_work().await {
                say(&format!("soak: new work not started: {e:#}"));
            }
            next_work = Instant::now() + Duration::from_secs(soak.rng.random_range(5..15));
        }
        if Instant::now() >= next_fault {
            let fault = soak.inject(say).await;
            *soak.faults.entry(fault).or_default() += 1;
            next_fault = Instant::now() + Duration::from_secs(soak.rng.random_range(4..12));
        }
    }
    say("soak: no new work or faults; waiting for everything to settle");
    let settle_end = Instant::now() + cfg.settle;
    let observed = loop {
        soak.sample_jobs().await;
        soak.refresh_tokens(say).await;
        let o = soak.observe().await;
        if let Ok(o) = &o
            && check::violations(o).is_empty()
        {
            break o.clone();
        }
        if Instant::now() >= settle_end {
            break o?;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    drop(policy_guard);
    for n in &soak.nodes {
        n.stop_agent().await;
    }
    soak.cluster.kill_operator(soak.operator.index).await;
    let violations = check::violations(&observed);
    Ok(SoakReport {
        faults: soak.faults,
        observed,
        violations,
        seed: cfg.seed,
    })
}

/// The phase of an operation's status as its name in the API.
fn phase_name<T: serde::Serialize>(p: Option<&T>) -> Option<String> {
    serde_json::to_value(p?).ok()?.as_str().map(str::to_owned)
}

impl Soak {
    async fn start(cfg: &SoakConfig) -> anyhow::Result<Self> {
        let cluster = Cluster::start_sim(SimConfig::default()).await?;
        cluster.ensure_namespace(OPERATOR_NS).await?;
        cluster
            .ensure_service_account(OPERATOR_NS, "kairos-node-job")
            .await?;
        cluster.ensure_namespace(WORK_NS).await?;
        let mut nodes = vec![];
        for i in 1..=cfg.nodes {
            let name = format!("soak-{i:02}");
            let rel = ReleaseFixture::ubuntu_k3s("v3.5.0");
            let spec = if i <= 2 {
                SimNode::control_plane(&name, rel)
            } else {
                SimNode::worker(&name, rel)
            };
            nodes.push(cluster.add_node(spec).await?);
            cluster.label_node(&name, MANAGED, "true").await?;
        }
        let operator = cluster
            .start_report_operator_with_env(OPERATOR_NS, OPERATOR_FLAGS, OPERATOR_ENV)
            .await?;
        for n in &nodes {
            cluster.start_agent(n, &operator, AGENT_FLAGS).await?;
        }
        Ok(Self {
            cluster,
            nodes,
            operator,
            rng: StdRng::seed_from_u64(cfg.seed),
            faults: BTreeMap::new(),
            failed_restarts: vec![],
            jobs: BTreeMap::new(),
            created: 0,
            versions: 5,
            tokens_refreshed: Instant::now(),
        })
    }

    /// Writes every agent a fresh token every 4 minutes, as the kubelet rotates a projected
    /// token before it expires (the harness's tokens last 10 minutes).
    async fn refresh_tokens(&mut self, say: &dyn Fn(&str)) {
        if self.tokens_refreshed.elapsed() < TOKEN_REFRESH {
            return;
        }
        for n in &self.nodes {
            if let Err(e) = self
                .cluster
                .agent_identity(n, OPERATOR_NS, AGENT_TOKEN_AUDIENCE)
                .await
            {
                say(&format!("soak: token of {} not refreshed: {e:#}", n.name()));
                return;
            }
        }
        self.tokens_refreshed = Instant::now();
    }

    /// Records the engine's Jobs (a Job seen once counts even if it is gone later).
    async fn sample_jobs(&mut self) {
        let api: Api<Job> = Api::namespaced(self.cluster.client(), OPERATOR_NS);
        let Ok(list) = api
            .list(&ListParams::default().labels(LABEL_NODEOP_UID))
            .await
        else {
            return;
        };
        for j in list.items {
            let labels = j.labels();
            let (Some(op), Some(node)) = (labels.get(LABEL_NODEOP_UID), labels.get(LABEL_NODE))
            else {
                continue;
            };
            self.jobs
                .entry((op.clone(), node.clone()))
                .or_default()
                .insert(j.name_any());
        }
    }

    /// Every operation (`Kind ns/name`) of the soak and its phase.
    async fn operations(&self) -> anyhow::Result<BTreeMap<String, Option<String>>> {
        let client = self.cluster.client();
        let ops = Api::<NodeOp>::namespaced(client.clone(), WORK_NS)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|o| {
                let phase = o.status.as_ref().and_then(|s| s.phase.as_ref());
                (
                    format!("NodeOp {WORK_NS}/{}", o.name_any()),
                    phase_name(phase),
                )
            });
        let ups = Api::<NodeOpUpgrade>::namespaced(client, WORK_NS)
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .map(|u| {
                let phase = u.status.as_ref().and_then(|s| s.phase.as_ref());
                (
                    format!("NodeOpUpgrade {WORK_NS}/{}", u.name_any()),
                    phase_name(phase),
                )
            });
        Ok(ops.chain(ups).collect())
    }

    /// Operations that have not ended yet.
    async fn unfinished(&self) -> anyhow::Result<usize> {
        let ops = self.operations().await?;
        Ok(ops
            .values()
            .filter(|p| !check::is_terminal(p.as_deref()))
            .count())
    }

    /// Starts one NodeOp, fleet upgrade or per-node upgrade, unless enough are running.
    async fn start_work(&mut self) -> anyhow::Result<()> {
        if self.unfinished().await? >= MAX_UNFINISHED {
            return Ok(());
        }
        self.created += 1;
        let n = self.created;
        let client = self.cluster.client();
        match self.rng.random_range(0..3) {
            0 => {
                let op: NodeOp = serde_json::from_value(json!({
                    "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
                    "metadata": {"name": format!("soak-op-{n}")},
                    "spec": {
                        "nodeSelector": {"matchLabels": {MANAGED: "true"}},
                        "command": ["sh", "-c", "true"],
                        "cordon": true,
                        "rebootOnSuccess": self.rng.random_bool(0.5),
                        "concurrency": self.rng.random_range(1..=3),
                    },
                }))?;
                Api::<NodeOp>::namespaced(client, WORK_NS)
                    .create(&PostParams::default(), &op)
                    .await?;
            }
            1 => {
                self.versions += 1;
                let image = ReleaseFixture::ubuntu_k3s(&format!("v3.{}.0", self.versions)).image();
                let up: NodeOpUpgrade = serde_json::from_value(json!({
                    "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOpUpgrade",
                    "metadata": {"name": format!("soak-upgrade-{n}")},
                    "spec": {"image": image, "concurrency": 2, "upgradeActive": true},
                }))?;
                Api::<NodeOpUpgrade>::namespaced(client, WORK_NS)
                    .create(&PostParams::default(), &up)
                    .await?;
            }
            _ => {
                self.versions += 1;
                let node = &self.nodes[self.rng.random_range(0..self.nodes.len())];
                Api::<KairosNode>::all(client)
                    .patch(
                        node.name(),
                        &PatchParams::default(),
                        &Patch::Merge(
                            json!({"spec": {"version": format!("v3.{}.0", self.versions)}}),
                        ),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Injects one random fault and says which.
    async fn inject(&mut self, say: &dyn Fn(&str)) -> Fault {
        let fault = Fault::ALL[self.rng.random_range(0..Fault::ALL.len())];
        let result = match fault {
            Fault::OperatorKill => {
                match self
                    .cluster
                    .restart_report_operator(&self.operator, OPERATOR_FLAGS, OPERATOR_ENV)
                    .await
                {
                    Ok(op) => {
                        self.operator = op;
                        Ok(())
                    }
                    Err(e) => {
                        self.failed_restarts.push(format!("{e:#}"));
                        Err(e)
                    }
                }
            }
            Fault::AgentRestart => {
                let node = &self.nodes[self.rng.random_range(0..self.nodes.len())];
                node.restart_agent().await
            }
            Fault::ApiServerRestart => {
                let down = Duration::from_millis(self.rng.random_range(200..1500));
                self.cluster.restart_api_server(down).await
            }
            Fault::WatchDrop => self.cluster.drop_watches().await,
        };
        match result {
            Ok(()) => say(&format!("soak: {}", fault.name())),
            Err(e) => say(&format!("soak: {} failed: {e:#}", fault.name())),
        }
        fault
    }

    /// Reads everything the invariants judge.
    async fn observe(&self) -> anyhow::Result<Observed> {
        let client = self.cluster.client();
        let mut o = Observed {
            jobs: self.jobs.clone(),
            failed_restarts: self.failed_restarts.clone(),
            ..Observed::default()
        };
        let failed = self.failed_targets().await?;
        for n in Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items
        {
            let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
            let by = n.annotations().get(ANNOTATION_CORDONED_BY);
            // A node its operation failed stays cordoned (unless `uncordonOnFailure`), on
            // purpose: that is no stuck cordon.
            let failed_there = by.is_some_and(|by| failed.contains(&(by.clone(), n.name_any())));
            if (unschedulable || by.is_some()) && !failed_there {
                o.cordoned.push(n.name_any());
            } else if failed_there {
                o.failed_cordoned.push(n.name_any());
            }
        }
        o.operations = self.operations().await?;
        let kns = Api::<KairosNode>::all(client)
            .list(&ListParams::default())
            .await?;
        for n in &self.nodes {
            let reported = kns
                .items
                .iter()
                .find(|kn| kn.name_any() == n.name())
                .and_then(|kn| kn.status.as_ref()?.kairos.as_ref()?.version.clone());
            o.versions
                .insert(n.name().to_owned(), (reported, n.release().version));
        }
        o.panics = self.operator_panics();
        Ok(o)
    }

    /// (`ns/nodeop@uid`, node) of every node an operation failed, as the cordon annotation
    /// names the operation.
    async fn failed_targets(&self) -> anyhow::Result<BTreeSet<(String, String)>> {
        let ops = Api::<NodeOp>::namespaced(self.cluster.client(), WORK_NS)
            .list(&ListParams::default())
            .await?;
        let uids: BTreeMap<String, String> = ops
            .items
            .iter()
            .map(|o| (o.name_any(), o.uid().unwrap_or_default()))
            .collect();
        let targets = Api::<NodeOpTarget>::namespaced(self.cluster.client(), WORK_NS)
            .list(&ListParams::default())
            .await?;
        Ok(targets
            .items
            .iter()
            .filter(|t| {
                phase_name(t.status.as_ref().map(|s| &s.phase)).as_deref() == Some("Failed")
            })
            .filter_map(|t| {
                let uid = uids.get(&t.spec.node_op)?;
                Some((
                    format!("{WORK_NS}/{}@{uid}", t.spec.node_op),
                    t.spec.node.clone(),
                ))
            })
            .collect())
    }

    /// The panic lines of every operator process's log (a restarted operator appends to it).
    fn operator_panics(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.cluster.dir()) else {
            return vec![];
        };
        let mut out = vec![];
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("operator-") && name.ends_with(".log")) {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            out.extend(
                text.lines()
                    .filter(|l| check::is_panic_line(l))
                    .map(|l| format!("{name}: {l}")),
            );
        }
        out
    }
}
