//! The benchmark's reporting-fleet scenario for one fleet size: the release operator (its report
//! channel over TLS, as deployed, unless `--insecure`) against a fresh simulator and `nodes`
//! in-process reporters (the agent's own client); measures the time from all reporters
//! starting to all KairosNodes correct, the operator's memory, its API writes at steady state
//! and the report rate it sustains. Does process, network and API I/O.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Node;
use kairos_api::v1alpha1::KairosNode;
use kube::ResourceExt as _;
use kube::api::Api;

use super::lease::LeaseGaps;
use super::observe::{Observer, Tally};
use super::{BenchConfig, say};
use crate::harness::{Cluster, NodeHandle};
use crate::load::{Pace, Reporters, add_nodes, agent_tokens, clock_ticks, fixture, sample};
use kairos_kube_sim::{RequestKey, SimConfig};

/// The operator's client name in the simulator's request log (its User-Agent).
const OPERATOR_CLIENT: &str = "kairos-operator";

/// What one fleet size measured.
#[derive(Debug, Clone)]
pub struct FleetResult {
    /// Reporting nodes.
    pub nodes: usize,
    /// Whether the report channel ran over TLS (as deployed; `--insecure` compares plain text).
    pub tls: bool,
    /// From all reporters starting to every KairosNode correct.
    pub time_to_correct: Duration,
    /// Operator VmRSS at the end of the steady window, KiB.
    pub rss_kib: u64,
    /// Operator VmHWM (peak) over the whole run, KiB.
    pub hwm_kib: u64,
    /// Reports accepted per second while every reporter sent back to back.
    pub reports_per_second: f64,
    /// Operator CPU time per 1,000 accepted reports in that flood, ms.
    pub cpu_ms_per_1000_reports: f64,
    /// Operator API writes of per-node objects (everything but its Lease) per node per hour in
    /// the steady window.
    pub writes_per_node_hour: f64,
    /// Operator writes of its leader-election Lease per hour (independent of the fleet size).
    pub lease_writes_per_hour: f64,
    /// Of which, updates that changed only `status.lastSeen` of a KairosNode, per node per hour.
    pub last_seen_per_node_hour: f64,
    /// The operator's requests (every verb but watch) from the reporters' start until every
    /// KairosNode was correct, by `verb resource[/subresource]`.
    pub burst_requests: BTreeMap<String, u64>,
    /// Operator writes by `verb resource[/subresource]` in the steady window.
    pub writes_by_kind: BTreeMap<String, u64>,
    /// KairosNode updates in the steady window, by what they changed.
    pub kairos_node_changes: Tally,
    /// Node updates in the steady window, by what they changed.
    pub node_changes: Tally,
    /// Reports that failed in the whole run.
    pub failed_reports: u64,
    /// The longest time between two renewals of the leader's Lease from the reporters'
    /// start until every KairosNode was correct (renewals are due every 5 s).
    pub lease_gap: Duration,
}

/// Runs the scenario for `n` nodes.
pub async fn run(cfg: &BenchConfig, n: usize) -> anyhow::Result<FleetResult> {
    let hz = clock_ticks();
    let c = Cluster::start_sim(SimConfig::default()).await?;
    let server = c.sim().context("the benchmark runs on the simulator")?;
    let ns = "kairos-system";
    let lastseen = format!("{}ms", cfg.lastseen_interval.as_millis());
    let flags = ["--lastseen-interval", &lastseen, "--log-level", "warn"];
    let op = if cfg.insecure {
        c.start_report_operator(ns, &flags).await?
    } else {
        c.start_report_operator_tls(ns, &flags, &[]).await?
    };
    let ca_file = c.report_ca_file(&op).await?;
    let pid = c.operator_pid(op.index).context("the operator exited")?;

    let t = Instant::now();
    let nodes = add_nodes(&c, (0..n).map(fixture), 32).await?;
    let tokens = agent_tokens(&c, ns, &nodes, 32).await?;
    say(format!(
        "  {n} nodes: {n} simulated nodes with agent pods and tokens created in {:.1?}",
        t.elapsed()
    ));
    let expected: HashMap<String, (String, String)> = nodes
        .iter()
        .map(|h| {
            (
                h.name().to_string(),
                (h.release().version.clone(), h.boot_id()),
            )
        })
        .collect();
    let kn_watch = Observer::start(Api::<KairosNode>::all(c.client()), move |kn| {
        kairos_node_correct(kn, &expected)
    });
    // The benchmark's own list of the fleet is not part of the burst.
    wait_listed(&kn_watch).await?;
    let fleet: Vec<(NodeHandle, PathBuf)> = nodes.into_iter().zip(tokens).collect();

    // Started just before the reporters: its gaps are the burst's.
    let lease = LeaseGaps::start(Api::namespaced(c.client(), ns), "kairos-operator");
    // All reporters start at once, as after an operator or cluster restart.
    let _ = server.sim().requests().take();
    let t0 = Instant::now();
    let reporters = Reporters::start(
        &op.endpoint(),
        &ca_file,
        cfg.shared_connection,
        &fleet,
        Pace::Every(cfg.heartbeat),
    )?;
    let timeout = Duration::from_secs(60) + Duration::from_millis(60 * n as u64);
    if !kn_watch.wait_correct(n, timeout).await {
        let failed = reporters.failed();
        reporters.stop().await;
        anyhow::bail!(
            "only {} of {n} KairosNodes were correct after {timeout:?} ({failed} reports failed)\n{}",
            kn_watch.correct(),
            c.operator_logs(op.index)
        );
    }
    let time_to_correct = t0.elapsed();
    let lease_gap = lease.longest();
    let burst_requests = operator_requests(&server.sim().requests().take(), |k| {
        k.client == OPERATOR_CLIENT && k.verb != "watch"
    });
    say(format!(
        "  {n} nodes: the operator's requests until then: {burst_requests:?}"
    ));
    say(format!(
        "  {n} nodes: every KairosNode correct {time_to_correct:.1?} after the reporters started"
    ));

    // Steady state: heartbeats only. The Nodes are watched from now on (their watch is not
    // part of the burst); let the first-report writes settle, then count.
    let node_watch = Observer::start(Api::<Node>::all(c.client()), |_| true);
    wait_listed(&node_watch).await?;
    tokio::time::sleep(cfg.settle).await;
    let _ = server.sim().requests().take();
    let _ = kn_watch.take_tally();
    let _ = node_watch.take_tally();
    tokio::time::sleep(cfg.steady_window).await;
    let requests = server.sim().requests().take();
    let kairos_node_changes = kn_watch.take_tally();
    let node_changes = node_watch.take_tally();
    let writes_by_kind = operator_writes(&requests);
    let lease_writes = count_operator_writes(&requests, |k| k.resource == "leases");
    let writes = count_operator_writes(&requests, |k| k.resource != "leases");
    let per_node_hour =
        |count: u64| count as f64 * 3600.0 / (n as f64 * cfg.steady_window.as_secs_f64().max(1e-3));
    let steady = sample(pid)?;
    say(format!(
        "  {n} nodes: steady window of {:?}: {writes} operator writes {writes_by_kind:?}; KairosNode updates {kairos_node_changes:?}; Node updates {node_changes:?}",
        cfg.steady_window
    ));

    // Saturation: every reporter back to back.
    reporters.set_pace(Pace::Flood);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (d0, s0, t1) = (reporters.delivered(), sample(pid)?, Instant::now());
    tokio::time::sleep(cfg.flood_window).await;
    let (d1, s1, elapsed) = (reporters.delivered(), sample(pid)?, t1.elapsed());
    reporters.set_pace(Pace::Every(cfg.heartbeat));
    let accepted = d1.saturating_sub(d0);
    let cpu_ms = s1.ticks.saturating_sub(s0.ticks) as f64 * 1000.0 / hz as f64;
    let failed_reports = reporters.failed();
    reporters.stop().await;
    let end = sample(pid)?;
    c.kill_operator(op.index).await;
    Ok(FleetResult {
        nodes: n,
        tls: op.tls,
        time_to_correct,
        rss_kib: steady.rss_kib,
        hwm_kib: end.hwm_kib,
        reports_per_second: accepted as f64 / elapsed.as_secs_f64(),
        cpu_ms_per_1000_reports: if accepted == 0 {
            f64::NAN
        } else {
            cpu_ms * 1000.0 / accepted as f64
        },
        writes_per_node_hour: per_node_hour(writes),
        lease_writes_per_hour: lease_writes as f64 * 3600.0
            / cfg.steady_window.as_secs_f64().max(1e-3),
        last_seen_per_node_hour: per_node_hour(kairos_node_changes.last_seen_only),
        writes_by_kind,
        kairos_node_changes,
        node_changes,
        failed_reports,
        lease_gap,
        burst_requests,
    })
}

/// Waits until the benchmark's watch `w` has listed what it watches.
async fn wait_listed(w: &Observer) -> anyhow::Result<()> {
    anyhow::ensure!(
        w.wait_listed(Duration::from_secs(60)).await,
        "the benchmark's watch did not list within 60 s"
    );
    Ok(())
}

/// Whether a KairosNode shows its node's real version and current boot.
fn kairos_node_correct(kn: &KairosNode, expected: &HashMap<String, (String, String)>) -> bool {
    let Some((version, boot_id)) = expected.get(&kn.name_any()) else {
        return false;
    };
    let Some(status) = &kn.status else {
        return false;
    };
    status.kairos.as_ref().and_then(|k| k.version.as_ref()) == Some(version)
        && status.boot_id.as_ref() == Some(boot_id)
}

/// Whether `k` is a write of the operator that stores something (reviews, such as TokenReview,
/// are creates that store nothing).
fn is_operator_write(k: &RequestKey) -> bool {
    k.client == OPERATOR_CLIENT && k.is_write() && !k.resource.ends_with("reviews")
}

/// How many operator writes match `which`.
fn count_operator_writes(
    requests: &BTreeMap<RequestKey, u64>,
    which: impl Fn(&RequestKey) -> bool,
) -> u64 {
    requests
        .iter()
        .filter(|(k, _)| is_operator_write(k) && which(k))
        .map(|(_, n)| n)
        .sum()
}

/// The operator's writes, counted by `verb resource[/subresource]` (and the status code when
/// it is not a success).
fn operator_writes(requests: &BTreeMap<RequestKey, u64>) -> BTreeMap<String, u64> {
    operator_requests(requests, is_operator_write)
}

/// The operator's requests that match `which`, by `verb resource[/subresource]` (and the code
/// when it failed).
fn operator_requests(
    requests: &BTreeMap<RequestKey, u64>,
    which: impl Fn(&RequestKey) -> bool,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, count) in requests.iter().filter(|(k, _)| which(k)) {
        let mut what = if k.subresource.is_empty() {
            format!("{} {}", k.verb, k.resource)
        } else {
            format!("{} {}/{}", k.verb, k.resource, k.subresource)
        };
        if !k.succeeded() {
            what.push_str(&format!(" ({})", k.code));
        }
        *out.entry(what).or_default() += count;
    }
    out
}
