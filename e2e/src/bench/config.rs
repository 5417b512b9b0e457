//! What a benchmark run measures ([`BenchConfig`], its [`Rollout`]s) and how it says how far
//! it got ([`say`]). Prints progress on standard output; no other I/O.

use std::io::Write as _;
use std::time::Duration;

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
    /// The report channel in plain text (`--insecure-grpc`) instead of TLS, to compare.
    pub insecure: bool,
    /// The steady-state window in which API writes are counted.
    pub steady_window: Duration,
    /// The saturation window (every reporter back to back).
    pub flood_window: Duration,
    /// The rollouts to run, one after the other, each on a fresh simulator.
    pub rollouts: Vec<Rollout>,
    /// How long each rollout Job runs.
    pub job_duration: Duration,
}

/// One rollout scenario: a NodeOp over `nodes` workers, at most `concurrency` in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// Worker nodes, all targets.
    pub nodes: usize,
    /// The NodeOp's `spec.concurrency`.
    pub concurrency: usize,
}

/// The rollouts of `--rollout-nodes` and `--concurrency`: the two lists zipped, or the one
/// concurrency applied to every size. A size of 0 is skipped (`--rollout-nodes 0` runs none).
///
/// # Errors
/// When both lists have several entries but not the same number, or a concurrency is 0.
pub fn rollouts(nodes: &[usize], concurrency: &[usize]) -> anyhow::Result<Vec<Rollout>> {
    anyhow::ensure!(
        concurrency.iter().all(|c| *c > 0),
        "a concurrency must be at least 1"
    );
    let concurrency: Vec<usize> = match concurrency {
        [one] => vec![*one; nodes.len()],
        many => {
            anyhow::ensure!(
                many.len() == nodes.len(),
                "{} rollout sizes but {} concurrencies: give one concurrency, or one per size",
                nodes.len(),
                many.len()
            );
            many.to_vec()
        }
    };
    Ok(nodes
        .iter()
        .zip(concurrency)
        .filter(|(n, _)| **n > 0)
        .map(|(&nodes, concurrency)| Rollout { nodes, concurrency })
        .collect())
}

/// Prints a progress line on stdout.
pub fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}
