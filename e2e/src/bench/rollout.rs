//! The benchmark's rollout scenario: a NodeOp (cordon, drain, a Job, uncordon; no reboot) over
//! `nodes` worker nodes with a given concurrency, each Job taking `job_duration` in a kubelet
//! stand-in that reacts to the Job watch. Compares the rollout's wall time with the ideal: the
//! sum of the Jobs' run times divided by the concurrency. Counts what the operator did from the
//! simulator's request log (Jobs created, the largest object written) and the outcome from the
//! NodeOp's status counts. Does process and API I/O.

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

use super::{BenchConfig, Rollout, say};
use crate::harness::kubelet::job_finished;
use crate::harness::{Cluster, Kubelet, Outcome, ReleaseFixture, SimNode};
use crate::load::add_nodes;
use kairos_kube_sim::{RequestKey, SimConfig, StoredKey};

/// The operator's client name in the simulator's request log (its User-Agent).
const OPERATOR_CLIENT: &str = "kairos-operator";

/// What the rollout measured.
#[derive(Debug, Clone)]
pub struct RolloutResult {
    /// Worker nodes in the cluster (every one a target).
    pub nodes: usize,
    /// The NodeOp's concurrency.
    pub concurrency: usize,
    /// The NodeOp's target count (`status.total`, fixed at start).
    pub targets: usize,
    /// Jobs the operator created during the rollout: its creates of `jobs` answered 201 in the
    /// simulator's request log (one per target when all is well).
    pub jobs: u64,
    /// Jobs the kubelet stand-in ran (first seen unfinished on its watch).
    pub jobs_run: usize,
    /// Nodes that failed (`status.failed` of the NodeOp at the end).
    pub failed_nodes: usize,
    /// The NodeOp's final phase.
    pub phase: String,
    /// Most Jobs running at once.
    pub max_in_flight: usize,
    /// From creating the NodeOp to its final phase.
    pub wall: Duration,
    /// Sum of the Jobs' run times (first seen to finished) divided by the concurrency.
    pub ideal: Duration,
    /// Nodes left cordoned at the end (0 when all is well).
    pub left_cordoned: usize,
    /// The largest object the operator stored by a successful write during the rollout, in
    /// bytes of its JSON (managedFields included): in practice its NodeOp status.
    pub max_status_bytes: u64,
    /// Where [`RolloutResult::max_status_bytes`] was written (`nodeops/status`, ...).
    pub max_status_resource: String,
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

/// Runs one rollout over `r.nodes` workers with concurrency `r.concurrency`.
///
/// The nodes exist before the operator starts: its caches are filled by its first list before
/// any reconcile, so the NodeOp's targets (fixed when it starts) are every node. Started the
/// other way round, the operator could see the NodeOp before the last few Node events of its
/// watch, and target fewer nodes.
pub async fn run(cfg: &BenchConfig, r: Rollout) -> anyhow::Result<RolloutResult> {
    let Rollout {
        nodes: n,
        concurrency,
    } = r;
    let c = Cluster::start_sim(SimConfig::default()).await?;
    let server = c.sim().context("the benchmark runs on the simulator")?;
    let ns = "kairos-system";
    c.ensure_namespace(ns).await?;
    c.ensure_service_account(ns, "kairos-node-job").await?;
    let workers = (0..n).map(|i| {
        SimNode::worker(
            &format!("node-{i:05}"),
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        )
    });
    add_nodes(&c, workers, 32).await?;
    let op = c
        .start_report_operator(ns, &["--log-level", "warn"])
        .await?;

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
            "concurrency": concurrency,
        },
    }))?;
    let api = Api::<NodeOp>::namespaced(c.client(), "default");
    // The request log from here on is the rollout's.
    let _ = server.sim().requests().take();
    let t0 = Instant::now();
    api.create(&PostParams::default(), &nodeop).await?;
    let slowest = cfg
        .job_duration
        .mul_f64(n as f64 / concurrency.max(1) as f64);
    let deadline = slowest * 4 + Duration::from_secs(120);
    let mut last_report = Instant::now();
    let (phase, status) = loop {
        let cur = api.get("bench-rollout").await?;
        let phase = cur.status.as_ref().and_then(|s| s.phase);
        if let Some(p) = phase
            && matches!(
                p,
                OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped
            )
        {
            break (p, cur.status.unwrap_or_default());
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
    let requests = server.sim().requests().snapshot();
    let largest = server.sim().requests().largest_stored();
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
    let (max_status_resource, max_status_bytes) = largest_operator_write(&largest);
    let j = lock(&jobs);
    Ok(RolloutResult {
        nodes: n,
        concurrency,
        targets: usize::try_from(status.total).unwrap_or_default(),
        jobs: jobs_created(&requests),
        jobs_run: j.seen.len(),
        failed_nodes: usize::try_from(status.failed).unwrap_or_default(),
        phase: format!("{phase:?}"),
        max_in_flight: j.max_in_flight,
        wall,
        ideal: j.run_time / u32::try_from(concurrency.max(1)).unwrap_or(u32::MAX),
        left_cordoned,
        max_status_bytes,
        max_status_resource,
    })
}

/// Jobs the operator created: its creates of `jobs` answered 201.
fn jobs_created(requests: &std::collections::BTreeMap<RequestKey, u64>) -> u64 {
    requests
        .iter()
        .filter(|(k, _)| {
            k.client == OPERATOR_CLIENT
                && k.verb == "create"
                && k.resource == "jobs"
                && k.subresource.is_empty()
                && k.code == 201
        })
        .map(|(_, count)| count)
        .sum()
}

/// The largest object the operator stored, and where (`resource[/subresource]`); `("", 0)`
/// when it stored none.
fn largest_operator_write(largest: &std::collections::BTreeMap<StoredKey, u64>) -> (String, u64) {
    largest
        .iter()
        .filter(|(k, _)| k.client == OPERATOR_CLIENT)
        .max_by_key(|(_, bytes)| **bytes)
        .map(|(k, bytes)| {
            let at = if k.subresource.is_empty() {
                k.resource.clone()
            } else {
                format!("{}/{}", k.resource, k.subresource)
            };
            (at, *bytes)
        })
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn request(client: &str, verb: &'static str, resource: &str, code: u16) -> RequestKey {
        RequestKey {
            user: "u".into(),
            client: client.into(),
            verb,
            resource: resource.into(),
            subresource: String::new(),
            code,
        }
    }

    #[test]
    fn jobs_are_the_operators_successful_creates() {
        let requests = BTreeMap::from([
            (request(OPERATOR_CLIENT, "create", "jobs", 201), 7),
            (request(OPERATOR_CLIENT, "create", "jobs", 409), 2),
            (request(OPERATOR_CLIENT, "delete", "jobs", 200), 7),
            (request(OPERATOR_CLIENT, "create", "pods", 201), 3),
            (request("kube-rs", "create", "jobs", 201), 5),
        ]);
        assert_eq!(jobs_created(&requests), 7);
    }

    #[test]
    fn the_largest_write_is_the_operators() {
        let key = |client: &str, resource: &str, sub: &str| StoredKey {
            client: client.into(),
            resource: resource.into(),
            subresource: sub.into(),
        };
        let largest = BTreeMap::from([
            (key(OPERATOR_CLIENT, "nodeops", "status"), 900),
            (key(OPERATOR_CLIENT, "jobs", ""), 400),
            (key("kube-rs", "nodes", ""), 5000),
        ]);
        assert_eq!(
            largest_operator_write(&largest),
            ("nodeops/status".to_string(), 900)
        );
        assert_eq!(largest_operator_write(&BTreeMap::new()), (String::new(), 0));
    }
}
