//! `cargo xtask bench`: the operator at fleet scale against the API simulator. For each fleet
//! size, the release operator with that many in-process reporting nodes ([`fleet`]); then one
//! NodeOp rollout per (nodes, concurrency) pair ([`rollout`]). Renders a table for people and a
//! JSON document for machines ([`json`]). Does process, network and API I/O.

pub mod changes;
pub mod config;
pub mod fleet;
pub mod lease;
pub mod observe;
pub mod rollout;

pub use config::{BenchConfig, Rollout, rollouts, say};

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::load::mib;

/// Everything measured.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// One row per fleet size.
    pub fleets: Vec<fleet::FleetResult>,
    /// One row per rollout, in the order run.
    pub rollouts: Vec<rollout::RolloutResult>,
}

/// Runs every scenario of `cfg`.
pub async fn run(cfg: &BenchConfig) -> anyhow::Result<BenchReport> {
    let mut fleets = Vec::new();
    for &n in &cfg.sizes {
        say(format!("fleet of {n} reporting nodes ..."));
        fleets.push(fleet::run(cfg, n).await?);
    }
    let mut rollouts = Vec::new();
    for &r in &cfg.rollouts {
        say(format!(
            "rollout over {} nodes, concurrency {}, Jobs of {:?} ...",
            r.nodes, r.concurrency, cfg.job_duration
        ));
        rollouts.push(rollout::run(cfg, r).await?);
    }
    Ok(BenchReport { fleets, rollouts })
}

/// The report as a JSON document for machines: `fleets` (per size: `nodes`, `tls`, `correct_s`,
/// `rss_steady_mib`, `rss_peak_mib`, `reports_per_s`, `writes_per_node_h`,
/// `failed_reports`, `lease_gap_s`) and `rollouts` (per
/// rollout: `nodes`, `concurrency`, `wall_s`, `ideal_s`, `ratio`, `jobs`, `failed_nodes`,
/// `left_cordoned`, `max_status_bytes`, and `targets`, `jobs_run`, `phase`). A rate that could
/// not be measured is `null`.
pub fn json(r: &BenchReport) -> Value {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let fleets: Vec<Value> = r
        .fleets
        .iter()
        .map(|f| {
            json!({
                "nodes": f.nodes,
                "tls": f.tls,
                "correct_s": f.time_to_correct.as_secs_f64(),
                "rss_steady_mib": mib(f.rss_kib),
                "rss_peak_mib": mib(f.hwm_kib),
                "reports_per_s": f.reports_per_second,
                "writes_per_node_h": f.writes_per_node_hour,
                "failed_reports": f.failed_reports,
                "lease_gap_s": f.lease_gap.as_secs_f64(),
            })
        })
        .collect();
    let rollouts: Vec<Value> = r
        .rollouts
        .iter()
        .map(|ro| {
            json!({
                "nodes": ro.nodes,
                "concurrency": ro.concurrency,
                "wall_s": ro.wall.as_secs_f64(),
                "ideal_s": ro.ideal.as_secs_f64(),
                "ratio": ro.ratio(),
                "jobs": ro.jobs,
                "failed_nodes": ro.failed_nodes,
                "left_cordoned": ro.left_cordoned,
                "max_status_bytes": ro.max_status_bytes,
                "targets": ro.targets,
                "jobs_run": ro.jobs_run,
                "phase": ro.phase,
            })
        })
        .collect();
    json!({"fleets": fleets, "rollouts": rollouts})
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
        "| nodes | report TLS | all KairosNodes correct | operator RSS (steady) | operator peak RSS | reports/s (flood) | operator CPU per 1,000 reports | writes/node/h | of which lastSeen-only | other KairosNode changes | Node changes | Lease writes/h | longest Lease renewal gap (burst) | failed reports |"
    );
    let _ = writeln!(
        s,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for f in &r.fleets {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} s | {} | {} | {:.0} | {:.0} ms | {:.2} | {:.2} | {} | {} | {:.0} | {:.1} s | {} |",
            f.nodes,
            if f.tls { "yes" } else { "no" },
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
            f.lease_gap.as_secs_f64(),
            f.failed_reports,
        );
    }
    for f in &r.fleets {
        let _ = writeln!(
            s,
            "\n{} nodes, operator writes in the steady window: {:?}\n\
             {} nodes, operator requests until every KairosNode was correct: {:?}",
            f.nodes, f.writes_by_kind, f.nodes, f.burst_requests
        );
    }
    if !r.rollouts.is_empty() {
        let _ = writeln!(
            s,
            "\nNodeOp rollout (cordon, drain, Job of {:?}, uncordon; no reboot)\n",
            cfg.job_duration
        );
        let _ = writeln!(
            s,
            "| nodes | concurrency | targets | Jobs created | Jobs run | failed nodes | phase | most in flight | wall time | ideal (sum of Job times / concurrency) | wall / ideal | left cordoned | largest operator write |"
        );
        let _ = writeln!(
            s,
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
        );
    }
    for ro in &r.rollouts {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.1} s | {:.3} | {} | {} B ({}) |",
            ro.nodes,
            ro.concurrency,
            ro.targets,
            ro.jobs,
            ro.jobs_run,
            ro.failed_nodes,
            ro.phase,
            ro.max_in_flight,
            ro.wall.as_secs_f64(),
            ro.ideal.as_secs_f64(),
            ro.ratio(),
            ro.left_cordoned,
            ro.max_status_bytes,
            ro.max_status_resource,
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollouts_zip_sizes_and_concurrencies() {
        let r = |nodes, concurrency| Rollout { nodes, concurrency };
        assert_eq!(
            rollouts(&[1000, 5000], &[10, 50]).unwrap(),
            [r(1000, 10), r(5000, 50)]
        );
        assert_eq!(rollouts(&[100, 200], &[7]).unwrap(), [r(100, 7), r(200, 7)]);
        assert_eq!(rollouts(&[0], &[10]).unwrap(), []);
        assert!(rollouts(&[1, 2, 3], &[1, 2]).is_err());
        assert!(rollouts(&[1], &[0]).is_err());
    }
}
