//! `kairos-measure`: resident memory and CPU of the real (release) binaries, for the closing
//! note of issue 4. Starts the API simulator in process and the release `kairos-operator`, then
//! 1. `--agents` real `kairos-node-agent` processes on simulated nodes (default flags: poll
//!    every 30 s, heartbeat 5 min), measured at idle over `--idle-seconds`: VmRSS from
//!    `/proc/<pid>/status`, utime+stime from `/proc/<pid>/stat`; the operator likewise;
//! 2. more simulated nodes up to `--nodes` reporting nodes in all, driven by an in-process load
//!    generator instead of processes (each with its own HTTP/2 connection, a bound token of its
//!    own node's agent pod, and the report the real agent code reads from the node's host root),
//!    reporting every `--load-heartbeat-seconds`; the operator's VmRSS/VmHWM is measured after
//!    they all reported and at the end of the window.
//!
//! Run: `cargo build --release -p kairos-operator -p kairos-node-agent` then
//! `cargo run -p kairos-e2e --bin kairos-measure`. Does process, file, network and API I/O.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kairos_api::v1alpha1::KairosNode;
use kairos_core::report::facts;
use kairos_e2e::harness::{
    BootMode, Cluster, NodeHandle, OperatorHandle, ReleaseFixture, SimNode, process::target_dir,
    wait_for,
};
use kairos_e2e::sim::SimConfig;
use kairos_proto::v1::report_service_client::ReportServiceClient;
use kube::api::{Api, ListParams};
use tokio::sync::Semaphore;

/// Command line of `kairos-measure`.
#[derive(Debug, Parser)]
#[command(
    name = "kairos-measure",
    about = "Measure the agent's and the operator's RSS and CPU"
)]
struct Args {
    /// Real agent processes (phase 1).
    #[arg(long, default_value_t = 20)]
    agents: usize,
    /// Reporting nodes in all for phase 2 (agents + generated reporters).
    #[arg(long, default_value_t = 500)]
    nodes: usize,
    /// Length of each measuring window, in seconds.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
    /// How often each generated reporter reports in phase 2, in seconds.
    #[arg(long, default_value_t = 10)]
    load_heartbeat_seconds: u64,
    /// Phase 2 reporters share one HTTP/2 connection (to tell the per-connection cost apart).
    #[arg(long)]
    shared_connection: bool,
    /// Where the binaries are (default: `<target>/release`). Ignored when `KAIROS_OPERATOR_BIN`
    /// and `KAIROS_AGENT_BIN` are set.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// One reading of a process: resident and peak memory (KiB) and CPU time (clock ticks).
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    hwm_kib: u64,
    ticks: u64,
}

fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("failed to read /proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("failed to read /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Sample {
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        ticks: num(11) + num(12),
    })
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// min / median / max of `v`.
fn spread(mut v: Vec<u64>) -> (u64, u64, u64) {
    v.sort_unstable();
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(a), Some(m), Some(z)) => (*a, *m, *z),
        _ => (0, 0, 0),
    }
}

fn fixture(i: usize) -> SimNode {
    let makers: [fn(&str) -> ReleaseFixture; 7] = [
        ReleaseFixture::ubuntu_k3s,
        ReleaseFixture::ubuntu_k0s,
        ReleaseFixture::ubuntu_core,
        ReleaseFixture::alpine_k3s,
        ReleaseFixture::alpine_core,
        ReleaseFixture::opensuse_k3s,
        ReleaseFixture::opensuse_k0s,
    ];
    let versions = ["v3.5.0", "v3.4.2", "v3.6.0"];
    let release = makers[i % makers.len()](versions[i % versions.len()]);
    let mut n = if i < 3 {
        SimNode::control_plane(&format!("node-{i:04}"), release)
    } else {
        SimNode::worker(&format!("node-{i:04}"), release)
    };
    if i % 11 == 5 {
        n.boot_mode = BootMode::Passive;
    }
    n
}

async fn count_reported(c: &Cluster) -> usize {
    let api: Api<KairosNode> = Api::all(c.client());
    let Ok(list) = api.list(&ListParams::default()).await else {
        return 0;
    };
    list.items
        .iter()
        .filter(|kn| {
            kn.status
                .as_ref()
                .and_then(|s| s.kairos.as_ref())
                .is_some_and(|k| k.version.is_some())
        })
        .count()
}

/// Phase 1: real agents at idle.
async fn phase_agents(
    c: &Cluster,
    op: &OperatorHandle,
    args: &Args,
    hz: u64,
) -> anyhow::Result<Vec<NodeHandle>> {
    let mut nodes = vec![];
    for i in 0..args.agents {
        let n = c.add_node(fixture(i)).await?;
        c.start_agent(&n, op, &["--poll-interval", "30s", "--heartbeat", "5m"])
            .await?;
        nodes.push(n);
    }
    let t = Instant::now();
    wait_for(Duration::from_secs(120), || async {
        (count_reported(c).await == args.agents).then_some(())
    })
    .await
    .context("the agents did not all report")?;
    say(format!(
        "phase 1: {} agents reported in {:.1?}",
        args.agents,
        t.elapsed()
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let op_pid = c.operator_pid(op.index).context("the operator exited")?;
    let pids: Vec<u32> = nodes.iter().filter_map(NodeHandle::agent_pid).collect();
    anyhow::ensure!(pids.len() == nodes.len(), "an agent exited");
    let before: Vec<Sample> = pids.iter().map(|p| sample(*p)).collect::<Result<_, _>>()?;
    let op_before = sample(op_pid)?;
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let after: Vec<Sample> = pids.iter().map(|p| sample(*p)).collect::<Result<_, _>>()?;
    let op_after = sample(op_pid)?;
    let window_ms = args.idle_seconds * 1000;
    let to_ms = |ticks: u64| ticks * 1000 / hz;
    let (r0, r1, r2) = spread(after.iter().map(|s| s.rss_kib).collect());
    let (h0, h1, h2) = spread(after.iter().map(|s| s.hwm_kib).collect());
    let (c0, c1, c2) = spread(
        before
            .iter()
            .zip(&after)
            .map(|(b, a)| to_ms(a.ticks.saturating_sub(b.ticks)))
            .collect(),
    );
    say(format!(
        "agent (release, {} processes, --poll-interval 30s, heartbeat 5m) at idle over {} s:",
        pids.len(),
        args.idle_seconds
    ));
    say(format!(
        "  VmRSS min/median/max: {} / {} / {}",
        mib(r0),
        mib(r1),
        mib(r2)
    ));
    say(format!(
        "  VmHWM min/median/max: {} / {} / {}",
        mib(h0),
        mib(h1),
        mib(h2)
    ));
    say(format!(
        "  CPU (utime+stime) min/median/max: {c0} / {c1} / {c2} ms in {window_ms} ms ({:.3}% of a core at the median)",
        c1 as f64 * 100.0 / window_ms as f64
    ));
    say(format!(
        "operator (release) with {} reporting nodes: VmRSS {}, VmHWM {}, CPU {} ms in {} s",
        args.agents,
        mib(op_after.rss_kib),
        mib(op_after.hwm_kib),
        to_ms(op_after.ticks.saturating_sub(op_before.ticks)),
        args.idle_seconds
    ));
    Ok(nodes)
}

/// What the generated reporters share.
#[derive(Clone)]
struct Load {
    endpoint: String,
    /// When set, every reporter uses this connection instead of its own.
    shared: Option<tonic::transport::Channel>,
    every: Duration,
    until: tokio::sync::watch::Receiver<bool>,
    first: Arc<Semaphore>,
    delivered: Arc<std::sync::atomic::AtomicUsize>,
    failed: Arc<std::sync::atomic::AtomicUsize>,
}

/// One generated reporter: its node's report (read from its host root by the agent's own code)
/// with its own token, over its own connection, every `every` (first at a random offset).
async fn reporter(load: Load, node: NodeHandle, token: String) {
    use std::sync::atomic::Ordering;
    let Load {
        endpoint,
        shared,
        every,
        until,
        first,
        delivered,
        failed,
    } = load;
    let channel = match shared {
        Some(c) => c,
        None => match tonic::transport::Endpoint::from_shared(endpoint) {
            Ok(ep) => ep.connect_lazy(),
            Err(_) => return,
        },
    };
    let mut client = ReportServiceClient::new(channel);
    let host = kairos_node_agent::host::Host::new(node.host_root());
    let mut initial = true;
    loop {
        let permit = if initial {
            first.clone().acquire_owned().await.ok()
        } else {
            None
        };
        let f = facts(&host.snapshot());
        let report =
            kairos_proto::convert::node_report(node.name(), kairos_node_agent::AGENT_VERSION, &f);
        let mut req = tonic::Request::new(report);
        if let Ok(v) = format!("Bearer {token}").parse() {
            req.metadata_mut().insert("authorization", v);
        }
        match client.report(req).await {
            Ok(_) => {
                delivered.fetch_add(1, Ordering::Relaxed);
                initial = false;
            }
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(permit);
        let jitter = Duration::from_millis(fastrand_ms(every));
        let wait = if initial {
            Duration::from_secs(1)
        } else {
            every / 2 + jitter
        };
        let mut stop = until.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A pseudo-random number of milliseconds below `every` (spreads the heartbeats).
fn fastrand_ms(every: Duration) -> u64 {
    let max = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
    u64::from(uuid::Uuid::new_v4().as_u128() as u32) % max
}

/// Phase 2: generated reporters up to `--nodes`.
async fn phase_load(c: &Cluster, op: &OperatorHandle, args: &Args, hz: u64) -> anyhow::Result<()> {
    let extra = args.nodes.saturating_sub(args.agents);
    let t = Instant::now();
    let mut gen_nodes = vec![];
    for i in args.agents..args.agents + extra {
        let n = c.add_node(fixture(i)).await?;
        let id = c
            .agent_identity(&n, &op.namespace, kairos_api::names::AGENT_TOKEN_AUDIENCE)
            .await?;
        let token = std::fs::read_to_string(&id.token_file)?;
        gen_nodes.push((n, token));
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s0 = sample(c.operator_pid(op.index).context("the operator exited")?)?;
    say(format!(
        "phase 2: {extra} more nodes with agent pods and tokens created in {:.1?}; before they report: operator VmRSS {}, VmHWM {}",
        t.elapsed(),
        mib(s0.rss_kib),
        mib(s0.hwm_kib)
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shared = if args.shared_connection {
        Some(tonic::transport::Endpoint::from_shared(op.endpoint())?.connect_lazy())
    } else {
        None
    };
    let load = Load {
        endpoint: op.endpoint(),
        shared,
        every: Duration::from_secs(args.load_heartbeat_seconds.max(1)),
        until: stop_rx,
        first: Arc::new(Semaphore::new(64)),
        delivered: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        failed: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
    };
    let (delivered, failed) = (load.delivered.clone(), load.failed.clone());
    let t = Instant::now();
    let mut tasks = vec![];
    for (n, token) in gen_nodes {
        tasks.push(tokio::spawn(reporter(load.clone(), n, token)));
    }
    let total = args.agents + extra;
    wait_for(Duration::from_secs(300), || async {
        (count_reported(c).await == total).then_some(())
    })
    .await
    .context("the generated reporters did not all get recorded")?;
    let op_pid = c.operator_pid(op.index).context("the operator exited")?;
    let s1 = sample(op_pid)?;
    say(format!(
        "phase 2: {total} KairosNodes recorded {:.1?} after the reporters started; operator VmRSS {}, VmHWM {}",
        t.elapsed(),
        mib(s1.rss_kib),
        mib(s1.hwm_kib)
    ));
    let d0 = delivered.load(std::sync::atomic::Ordering::Relaxed);
    let mut trend = vec![];
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(args.idle_seconds) {
        tokio::time::sleep(Duration::from_secs(10).min(Duration::from_secs(args.idle_seconds)))
            .await;
        trend.push(mib(sample(op_pid)?.rss_kib));
    }
    say(format!("  operator VmRSS every 10 s: {}", trend.join(", ")));
    let s2 = sample(op_pid)?;
    let d1 = delivered.load(std::sync::atomic::Ordering::Relaxed);
    say(format!(
        "operator (release) with {total} reporting nodes ({} agents + {extra} generated, heartbeat ~{} s): \
         after {} s VmRSS {}, VmHWM {}, CPU {} ms, {} reports accepted in the window ({} failed overall)",
        args.agents,
        args.load_heartbeat_seconds,
        args.idle_seconds,
        mib(s2.rss_kib),
        mib(s2.hwm_kib),
        s2.ticks.saturating_sub(s1.ticks) * 1000 / hz,
        d1 - d0,
        failed.load(std::sync::atomic::Ordering::Relaxed)
    ));
    if let Ok(m) = op.metrics().await {
        for l in m.lines().filter(|l| {
            l.starts_with("kairos_reports_total") || l.starts_with("kairos_report_token_reviews")
        }) {
            say(format!("  {l}"));
        }
    }
    stop_tx.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let hz = clock_ticks();
    say(format!(
        "operator: {}\nagent:    {}",
        std::env::var("KAIROS_OPERATOR_BIN").unwrap_or_default(),
        std::env::var("KAIROS_AGENT_BIN").unwrap_or_default()
    ));
    let c = Cluster::start_sim(SimConfig::default()).await?;
    let op = c.start_report_operator("kairos-system", &[]).await?;
    let nodes = phase_agents(&c, &op, &args, hz).await?;
    phase_load(&c, &op, &args, hz).await?;
    for n in &nodes {
        n.stop_agent().await;
    }
    c.kill_operator(op.index).await;
    Ok(())
}

/// Re-runs this program with `KAIROS_OPERATOR_BIN`/`KAIROS_AGENT_BIN` pointing at the release
/// binaries (the harness finds binaries through them), unless they are set already.
fn reexec_with_bins(bin_dir: Option<&Path>) -> anyhow::Result<Option<std::process::ExitCode>> {
    if std::env::var_os("KAIROS_OPERATOR_BIN").is_some()
        && std::env::var_os("KAIROS_AGENT_BIN").is_some()
    {
        return Ok(None);
    }
    let dir = bin_dir.map_or_else(|| target_dir().join("release"), Path::to_path_buf);
    let op = dir.join("kairos-operator");
    let agent = dir.join("kairos-node-agent");
    for b in [&op, &agent] {
        anyhow::ensure!(
            b.exists(),
            "{} not found: cargo build --release -p kairos-operator -p kairos-node-agent",
            b.display()
        );
    }
    let me = std::env::current_exe().context("failed to find this program")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let status = std::process::Command::new(me)
        .args(args)
        .env("KAIROS_OPERATOR_BIN", op)
        .env("KAIROS_AGENT_BIN", agent)
        .status()
        .context("failed to re-run with the release binaries")?;
    Ok(Some(if status.success() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let result = match reexec_with_bins(args.bin_dir.as_deref()) {
        Ok(Some(code)) => return code,
        Ok(None) => run(args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
