//! `kairos-soak`: NodeOps, fleet upgrades and per-node upgrades over a dozen simulated nodes
//! while the operator is killed, agents and the API server are restarted and watches dropped at
//! random; then the invariants (see `kairos_e2e::soak`). Prints the table of faults injected and
//! violations found, and exits non-zero on any violation. `cargo xtask soak` runs it. Does
//! process, network, API and file I/O.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use kairos_e2e::soak::{self, SoakConfig};
use kairos_e2e::tool;

/// Command line of `kairos-soak`.
#[derive(Debug, Parser)]
#[command(
    name = "kairos-soak",
    about = "Run operations under random faults against the API simulator, then check the invariants"
)]
struct Args {
    /// Minutes of work and faults.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Seed of every random choice (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Simulated nodes.
    #[arg(long, default_value_t = 12)]
    nodes: usize,
    /// Minutes to wait, after the work, for every operation to end.
    #[arg(long, default_value_t = 5.0)]
    settle_minutes: f64,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn minutes(m: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(m * 60.0)
        .map_err(|e| anyhow::anyhow!("bad number of minutes {m}: {e}"))
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    });
    anyhow::ensure!(args.nodes >= 3, "a soak needs at least 3 nodes");
    let cfg = SoakConfig {
        duration: minutes(args.minutes)?,
        settle: minutes(args.settle_minutes)?,
        seed,
        nodes: args.nodes,
        job_time: Duration::from_millis(500),
    };
    let report = soak::run(&cfg, &say).await?;
    say(&report.table());
    Ok(report.violations.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    tool::init_logging();
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            say("soak: invariants violated");
            ExitCode::FAILURE
        }
        Err(e) => tool::exit_code(Err(e)),
    }
}
