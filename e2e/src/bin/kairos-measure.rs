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

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use kairos_api::v1alpha1::KairosNode;
use kairos_e2e::harness::{Cluster, NodeHandle, OperatorHandle, wait_for};
use kairos_e2e::load::{
    Pace, Reporters, Sample, add_nodes, agent_tokens, clock_ticks, fixture, mib, sample, spread,
};
use kairos_e2e::tool;
use kairos_kube_sim::SimConfig;
use kube::api::{Api, ListParams};

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
    /// Serve the report channel in plain text (`--insecure-grpc`) instead of TLS as deployed,
    /// to compare.
    #[arg(long)]
    insecure: bool,
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

/// Phase 2: generated reporters up to `--nodes`.
async fn phase_load(c: &Cluster, op: &OperatorHandle, args: &Args, hz: u64) -> anyhow::Result<()> {
    let extra = args.nodes.saturating_sub(args.agents);
    let t = Instant::now();
    let nodes = add_nodes(c, (args.agents..args.agents + extra).map(fixture), 16).await?;
    let tokens = agent_tokens(c, &op.namespace, &nodes, 16).await?;
    let gen_nodes: Vec<(NodeHandle, PathBuf)> = nodes.into_iter().zip(tokens).collect();
    let ca_file = c.report_ca_file(op).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let s0 = sample(c.operator_pid(op.index).context("the operator exited")?)?;
    say(format!(
        "phase 2: {extra} more nodes with agent pods and tokens created in {:.1?}; before they report: operator VmRSS {}, VmHWM {}",
        t.elapsed(),
        mib(s0.rss_kib),
        mib(s0.hwm_kib)
    ));
    let t = Instant::now();
    let reporters = Reporters::start(
        &op.endpoint(),
        &ca_file,
        args.shared_connection,
        &gen_nodes,
        Pace::Every(Duration::from_secs(args.load_heartbeat_seconds.max(1))),
    )?;
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
    let d0 = reporters.delivered();
    let mut trend = vec![];
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(args.idle_seconds) {
        tokio::time::sleep(Duration::from_secs(10).min(Duration::from_secs(args.idle_seconds)))
            .await;
        trend.push(mib(sample(op_pid)?.rss_kib));
    }
    say(format!("  operator VmRSS every 10 s: {}", trend.join(", ")));
    let s2 = sample(op_pid)?;
    let d1 = reporters.delivered();
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
        reporters.failed()
    ));
    if let Ok(m) = op.metrics().await {
        for l in m.lines().filter(|l| {
            l.starts_with("kairos_reports_total") || l.starts_with("kairos_report_token_reviews")
        }) {
            say(format!("  {l}"));
        }
    }
    reporters.stop().await;
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
    let ns = "kairos-system";
    let op = if args.insecure {
        c.start_report_operator(ns, &[]).await?
    } else {
        c.start_report_operator_tls(ns, &[], &[]).await?
    };
    say(format!("report channel: {}", op.endpoint()));
    let nodes = phase_agents(&c, &op, &args, hz).await?;
    phase_load(&c, &op, &args, hz).await?;
    for n in &nodes {
        n.stop_agent().await;
    }
    c.kill_operator(op.index).await;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tool::init_logging();
    let args = Args::parse();
    let bin_dir = args.bin_dir.clone();
    tool::run_on_release_bins(bin_dir.as_deref(), || run(args)).await
}
