//! `kairos-bench`: the operator at fleet scale (`cargo xtask bench` runs it against the release
//! binaries): time to all KairosNodes correct, memory, reports/s and API writes for each fleet
//! size, and NodeOp rollouts' overhead over the ideal. Prints a table, and with `--json FILE`
//! writes the results for machines. See `kairos_e2e::bench`. Does process, network, API and
//! file I/O.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser};
use kairos_e2e::bench::{self, BenchConfig};
use kairos_e2e::tool;

/// Command line of `kairos-bench`.
#[derive(Debug, Parser)]
#[command(
    name = "kairos-bench",
    about = "Benchmark the operator against the API simulator"
)]
struct Args {
    /// Fleet sizes (reporting nodes), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    sizes: Vec<usize>,
    /// Seconds between a reporter's reports at steady state.
    #[arg(long, default_value_t = 10)]
    heartbeat_seconds: u64,
    /// The operator's `--lastseen-interval`, in seconds.
    #[arg(long, default_value_t = 60)]
    lastseen_seconds: u64,
    /// Seconds between all KairosNodes correct and the steady window.
    #[arg(long, default_value_t = 15)]
    settle_seconds: u64,
    /// Length of the steady window, in seconds.
    #[arg(long, default_value_t = 120)]
    steady_seconds: u64,
    /// Length of the saturation window, in seconds.
    #[arg(long, default_value_t = 15)]
    flood_seconds: u64,
    /// All reporters share one HTTP/2 connection (real agents have one each).
    #[arg(long)]
    shared_connection: bool,
    /// The report channel in plain text (`--insecure-grpc`) instead of TLS as deployed, to
    /// compare.
    #[arg(long)]
    insecure: bool,
    /// Nodes of each rollout, comma separated (0 skips it).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    rollout_nodes: Vec<usize>,
    /// Each rollout's concurrency, comma separated: one per rollout size, or one for all.
    #[arg(long, value_delimiter = ',', default_value = "10")]
    concurrency: Vec<usize>,
    /// How long each rollout Job runs, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    job_ms: u64,
    /// Where the release binaries are (default `<target>/release`).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Also write the results as JSON to this file (see `kairos_e2e::bench::json`).
    #[arg(long)]
    json: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> anyhow::Result<BenchConfig> {
        Ok(BenchConfig {
            sizes: self.sizes.clone(),
            heartbeat: Duration::from_secs(self.heartbeat_seconds.max(1)),
            lastseen_interval: Duration::from_secs(self.lastseen_seconds),
            settle: Duration::from_secs(self.settle_seconds),
            shared_connection: self.shared_connection,
            insecure: self.insecure,
            steady_window: Duration::from_secs(self.steady_seconds.max(1)),
            flood_window: Duration::from_secs(self.flood_seconds.max(1)),
            rollouts: bench::rollouts(&self.rollout_nodes, &self.concurrency)?,
            job_duration: Duration::from_millis(self.job_ms),
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tool::init_logging();
    let args = Args::parse();
    let cfg = match args.config() {
        Ok(cfg) => cfg,
        Err(e) => Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, format!("{e:#}"))
            .exit(),
    };
    tool::run_on_release_bins(args.bin_dir.as_deref(), || async {
        let report = bench::run(&cfg).await?;
        bench::say(bench::table(&cfg, &report));
        if let Some(path) = &args.json {
            let text = serde_json::to_string_pretty(&bench::json(&report))?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("failed to write {}", path.display()))?;
            bench::say(format!("results written to {}", path.display()));
        }
        Ok(())
    })
    .await
}
