//! `cargo xtask bench`: the operator at fleet scale against the API simulator. For each fleet
//! size, the release operator with that many in-process reporting nodes ([`fleet`]); then one
//! NodeOp rollout ([`rollout`]). Prints a table. Does process, network and API I/O.

pub mod changes;
pub mod fleet;
pub mod observe;
pub mod rollout;

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use crate::load::mib;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Fleet sizes of the reporting scenario.
    pub sizes: Vec<usize>,
    /// How often each reporter reports at steady state (the agents' heartbeat; compressed).
    pub heartbeat: Duration,
    /// The operator's `--lastseen-interval`.
    pub lastseen_interval: Duration,
    /// Wait after all KairosNodes are correct before counting writes.
    pub settle: Duration,
    /// Every reporter on one HTTP/2 connection instead of one each (to tell the per-connection
    /// cost apart).
    pub shared_connection: bool,
    /// The steady-state window in which API writes are counted.
    pub steady_window: Duration,
    /// The saturation window (every reporter back to back).
    pub flood_window: Duration,
    /// Nodes of the rollout scenario (0: skip it).
    pub rollout_nodes: usize,
    /// The rollout NodeOp's concurrency.
    pub concurrency: usize,
    /// How long each rollout Job runs.
    pub job_duration: Duration,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// One row per fleet size.
    pub fleets: Vec<fleet::FleetResult>,
    /// The rollout, when run.
    pub rollout: Option<rollout::RolloutResult>,
}

/// Prints a progress line on stdout.
pub fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// Runs every scenario of `cfg`.
pub async fn run(cfg: &BenchConfig) -> anyhow::Result<BenchReport> {
    let mut fleets = Vec::new();
    for &n in &cfg.sizes {
        say(format!("fleet of {n} reporting nodes ..."));
        fleets.push(fleet::run(cfg, n).await?);
    }
    let rollout = if cfg.rollout_nodes > 0 {
        say(format!(
            "rollout over {} nodes, concurrency {}, Jobs of {:?} ...",
            cfg.rollout_nodes, cfg.concurrency, cfg.job_duration
        ));
        Some(rollout::run(cfg).await?)
    } else {
        None
    };
    Ok(BenchReport { fleets, rollout })
}

/// The report as a table (Markdown, so it pastes into notes).
pub fn table(cfg: &BenchConfig, r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nReporting fleet (heartbeat {:?}, --lastseen-interval {:?}, steady window {:?}, flood window {:?})\n",
        cfg.heartbeat, cfg.lastseen_interval, cfg.steady_window, cfg.flood_window
    );
    let _ = writeln!(
        s,
        "| nodes | all KairosNodes correct | operator RSS (steady) | operator peak RSS | reports/s (flood) | operator CPU per 1,000 reports | writes/node/h | of which lastSeen-only | other KairosNode changes | Node changes | Lease writes/h | failed reports |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in &r.fleets {
        let _ = writeln!(
            s,
            "| {} | {:.1} s | {} | {} | {:.0} | {:.0} ms | {:.2} | {:.2} | {} | {} | {:.0} | {} |",
            f.nodes,
            f.time_to_correct.as_secs_f64(),
            mib(f.rss_kib),
            mib(f.hwm_kib),
            f.reports_per_second,
            f.cpu_ms_per_1000_reports,
            f.writes_per_node_hour,
            f.last_seen_per_node_hour,
            f.kairos_node_changes.other,
            f.node_changes.last_seen_only + f.node_changes.other,
            f.lease_writes_per_hour,
            f.failed_reports,
        );
    }
    for f in &r.fleets {
        let _ = writeln!(
            s,
            "\n{} nodes, operator writes in the steady window: {:?}",
            f.nodes, f.writes_by_kind
        );
    }
    if let Some(ro) = &r.rollout {
        let _ = writeln!(
            s,
            "\nNodeOp rollout (cordon, drain, Job of {:?}, uncordon; no reboot)\n",
            cfg.job_duration
        );
        let _ = writeln!(
            s,
            "| nodes | concurrency | Jobs | most in flight | wall time | ideal (sum of Job times / concurrency) | wall / ideal | left cordoned |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} s | {:.1} s | {:.3} | {} |",
            ro.nodes,
            ro.concurrency,
            ro.jobs,
            ro.max_in_flight,
            ro.wall.as_secs_f64(),
            ro.ideal.as_secs_f64(),
            ro.ratio(),
            ro.left_cordoned
        );
    }
    s
}
