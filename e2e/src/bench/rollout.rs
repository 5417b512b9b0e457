//! The benchmark's rollout scenario: a NodeOp (cordon, drain, a Job, uncordon; no reboot) over
//! `rollout_nodes` worker nodes with concurrency `concurrency`, each Job taking `job_duration`
//! in a kubelet stand-in that reacts to the Job watch. Compares the rollout's wall time with the
//! ideal: the sum of the Jobs' run times divided by the concurrency. Does process and API I/O.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Node;
use kairos_api::v1alpha1::{NodeOp, OperationPhase};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;

use super::{BenchConfig, say};
use crate::harness::kubelet::job_finished;
use crate::harness::{Cluster, Kubelet, Outcome, ReleaseFixture, SimNode};
use crate::load::add_nodes;
use crate::sim::SimConfig;

/// What the rollout measured.
#[derive(Debug, Clone)]
pub struct RolloutResult {
    /// Nodes rolled.
    pub nodes: usize,
    /// The NodeOp's concurrency.
    pub concurrency: usize,
    /// Jobs created (one per node when all is well).
    pub jobs: usize,
    /// Most Jobs running at once.
    pub max_in_flight: usize,
    /// From creating the NodeOp to its `Completed` phase.
    pub wall: Duration,
    /// Sum of the Jobs' run times (first seen to finished) divided by the concurrency.
    pub ideal: Duration,
    /// Nodes left cordoned at the end (0 when all is well).
    pub left_cordoned: usize,
}

impl RolloutResult {
    /// `wall / ideal`.
    pub fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.ideal.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, Default)]
struct Jobs {
    seen: HashSet<String>,
    in_flight: usize,
    max_in_flight: usize,
    run_time: Duration,
}

fn lock(j: &Mutex<Jobs>) -> MutexGuard<'_, Jobs> {
    j.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the scenario.
pub async fn run(cfg: &BenchConfig) -> anyhow::Result<RolloutResult> {
    let n = cfg.rollout_nodes;
    let c = Cluster::start_sim(SimConfig::default()).await?;
    let ns = "kairos-system";
    c.ensure_namespace(ns).await?;
    c.ensure_service_account(ns, "kairos-node-job").await?;
    let op = c
        .start_report_operator(ns, &["--log-level", "warn"])
        .await?;
    let workers = (0..n).map(|i| {
        SimNode::worker(
            &format!("node-{i:05}"),
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        )
    });
    add_nodes(&c, workers, 32).await?;

    let jobs = Arc::new(Mutex::new(Jobs::default()));
    let kubelet = tokio::spawn(run_jobs(
        c.kubelet(),
        Api::namespaced(c.client(), ns),
        cfg.job_duration,
        jobs.clone(),
    ));
    let nodeop: NodeOp = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOp",
        "metadata": {"name": "bench-rollout"},
        "spec": {
            "command": ["sh", "-c", "true"],
            "cordon": true,
            "drainOptions": {"enabled": true, "ignoreDaemonSets": true, "timeoutSeconds": 300},
            "rebootOnSuccess": false,
            "concurrency": cfg.concurrency,
        },
    }))?;
    let api = Api::<NodeOp>::namespaced(c.client(), "default");
    let t0 = Instant::now();
    api.create(&PostParams::default(), &nodeop).await?;
    let slowest = cfg
        .job_duration
        .mul_f64(n as f64 / cfg.concurrency.max(1) as f64);
    let deadline = slowest * 4 + Duration::from_secs(120);
    let mut last_report = Instant::now();
    let phase = loop {
        let cur = api.get("bench-rollout").await?;
        let phase = cur.status.as_ref().and_then(|s| s.phase);
        if let Some(p) = phase
            && matches!(
                p,
                OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped
            )
        {
            break p;
        }
        anyhow::ensure!(
            t0.elapsed() < deadline,
            "the rollout did not end within {deadline:?} (phase {phase:?})\n{}",
            c.operator_logs(op.index)
        );
        if last_report.elapsed() > Duration::from_secs(30) {
            say(format!(
                "  rollout: {} of {n} Jobs started after {:.0?}",
                lock(&jobs).seen.len(),
                t0.elapsed()
            ));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = t0.elapsed();
    kubelet.abort();
    anyhow::ensure!(
        phase == OperationPhase::Completed,
        "the rollout ended {phase:?}\n{}",
        c.operator_logs(op.index)
    );
    let left_cordoned = Api::<Node>::all(c.client())
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|node| {
            node.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        })
        .count();
    c.kill_operator(op.index).await;
    let j = lock(&jobs);
    Ok(RolloutResult {
        nodes: n,
        concurrency: cfg.concurrency,
        jobs: j.seen.len(),
        max_in_flight: j.max_in_flight,
        wall,
        ideal: j.run_time / u32::try_from(cfg.concurrency.max(1)).unwrap_or(u32::MAX),
        left_cordoned,
    })
}

/// The kubelet stand-in of the rollout: every new unfinished Job runs for `duration` (from the
/// moment its creation is seen on the watch), then succeeds with its node's boot ID.
async fn run_jobs(kubelet: Kubelet, api: Api<Job>, duration: Duration, jobs: Arc<Mutex<Jobs>>) {
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(ev) = events.next().await {
        let job = match ev {
            Ok(watcher::Event::Apply(j) | watcher::Event::InitApply(j)) => j,
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "benchmark Job watch error (retrying)");
                continue;
            }
        };
        if job_finished(&job) || job.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = job.name_any();
        {
            let mut j = lock(&jobs);
            if !j.seen.insert(name.clone()) {
                continue;
            }
            j.in_flight += 1;
            j.max_in_flight = j.max_in_flight.max(j.in_flight);
        }
        let (kubelet, jobs) = (kubelet.clone(), jobs.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            tokio::time::sleep(duration).await;
            let boot_id = kubelet
                .job_node(&job)
                .and_then(|n| kubelet.node(&n))
                .map(|n| n.boot_id());
            let ns = job.namespace().unwrap_or_default();
            for attempt in 0..5 {
                match kubelet
                    .finish_job(&ns, &name, Outcome::Succeed(boot_id.clone()))
                    .await
                    .with_context(|| format!("failed to finish Job {name}"))
                {
                    Ok(_) => break,
                    Err(e) if attempt == 4 => tracing::warn!(error = %format!("{e:#}")),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            let mut j = lock(&jobs);
            j.in_flight -= 1;
            j.run_time += started.elapsed();
        });
    }
}
