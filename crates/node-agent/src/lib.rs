//! The Kairos node agent: reads what OS its node runs (under a host root) and reports it to the
//! operator over gRPC, at start, on change and on a slow heartbeat. Needs no Kubernetes API
//! access at all. This module holds the command line and the reporting loop (I/O: host reads
//! through [`host`], network through [`client`], stdout for `--once`).
//!
//! The agent runs on one thread (a current-thread tokio runtime, see `main.rs`): it does one
//! thing at a time, and the host files it reads are a few small local files, so it reads them
//! synchronously between sleeps.

pub mod client;
pub mod host;
pub mod schedule;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kairos_core::report::{AgentReport, NodeFacts, facts};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::client::Reporter;
use crate::host::Host;
use crate::schedule::Schedule;
pub use kairos_telemetry::LogFormat;

/// Version of this binary, sent with every report.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The Kairos node agent: reports which Kairos/OS version this node runs to the Kairos
/// operator. Unprivileged; reads the host's release files, kernel command line, boot ID and
/// cloud-config files read-only under the host root.
#[derive(Clone, Debug, Parser)]
#[command(name = "kairos-node-agent", version)]
pub struct Cli {
    /// Name of the Kubernetes Node this agent runs on (from the downward API).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Where the host's root filesystem is mounted (read-only).
    #[arg(long, env = "KAIROS_HOST_ROOT", default_value = "/host")]
    pub host_root: PathBuf,
    /// The operator's report service, e.g. `https://kairos-operator.kairos-system.svc:9443`.
    /// An `http://` endpoint skips TLS: only for tests. Required unless `--once`.
    #[arg(long, env = "KAIROS_OPERATOR_ENDPOINT")]
    pub operator_endpoint: Option<String>,
    /// CA bundle that signed the operator's serving certificate.
    #[arg(
        long,
        env = "KAIROS_CA_FILE",
        default_value = "/etc/kairos-operator/ca/ca.crt"
    )]
    pub ca_file: PathBuf,
    /// Projected service-account token (audience `kairos-operator`); re-read on every report.
    #[arg(
        long,
        env = "KAIROS_TOKEN_FILE",
        default_value = "/var/run/secrets/kairos-operator/token"
    )]
    pub token_file: PathBuf,
    /// Longest time between two reports when nothing changes (the operator may ask for another).
    #[arg(long, env = "KAIROS_HEARTBEAT", default_value = "5m", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,
    /// How often the host is re-read to detect a change (a change is reported at once).
    #[arg(long, env = "KAIROS_POLL_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Log format.
    #[arg(long, env = "KAIROS_LOG_FORMAT", value_enum, default_value = "plain")]
    pub log_format: LogFormat,
    /// Log filter: a level (`info`, `debug`) or `tracing` directives.
    #[arg(long, env = "KAIROS_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Read the host once, print the report as JSON on standard output, and exit.
    #[arg(long, env = "KAIROS_ONCE")]
    pub once: bool,
}

impl Cli {
    /// Runs the agent until SIGTERM or Ctrl-C (or, with `--once`, prints one report).
    ///
    /// # Errors
    ///
    /// When logging cannot be set up, the flags are inconsistent, or the report cannot be
    /// printed. Failures to reach the operator are retried, never returned.
    pub async fn run(self) -> anyhow::Result<()> {
        kairos_telemetry::init(&self.log_level, &[], self.log_format)?;
        if self.once {
            return print_once(&self);
        }
        let endpoint = self
            .operator_endpoint
            .clone()
            .context("--operator-endpoint (KAIROS_OPERATOR_ENDPOINT) is required unless --once")?;
        anyhow::ensure!(
            endpoint.starts_with("https://") || endpoint.starts_with("http://"),
            "--operator-endpoint must be an https:// URL (http:// only for tests), not {endpoint:?}"
        );
        anyhow::ensure!(
            !self.poll_interval.is_zero(),
            "--poll-interval must be more than zero"
        );
        anyhow::ensure!(
            !self.heartbeat.is_zero(),
            "--heartbeat must be more than zero"
        );
        let reporter = Reporter::new(endpoint, self.ca_file.clone(), self.token_file.clone());
        run_loop(&self, reporter, shutdown_signal()).await;
        Ok(())
    }
}

/// Reads the host once and writes the report as JSON to standard output.
fn print_once(cli: &Cli) -> anyhow::Result<()> {
    let report = AgentReport {
        node_name: cli.node_name.clone(),
        agent_version: AGENT_VERSION.to_owned(),
        facts: facts(&Host::new(&cli.host_root).snapshot()),
    };
    let mut json = serde_json::to_vec_pretty(&report).context("failed to encode the report")?;
    json.push(b'\n');
    std::io::stdout()
        .write_all(&json)
        .context("failed to write the report to standard output")
}

/// The reporting loop: reads the host every poll interval, sends a report at start, at once on
/// change and otherwise every heartbeat, retries with backoff, and returns when `shutdown`
/// completes.
pub async fn run_loop(
    cli: &Cli,
    reporter: Reporter,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let host = Host::new(&cli.host_root);
    let start = Instant::now();
    let mut schedule = Schedule::new(cli.poll_interval, cli.heartbeat);
    let mut current = NodeFacts::default();
    tokio::pin!(shutdown);
    if reporter.is_plaintext() {
        warn!("the operator endpoint is plain-text http://: no TLS, use only in tests");
    }
    info!(
        node = %cli.node_name,
        host_root = %cli.host_root.display(),
        version = AGENT_VERSION,
        "kairos-node-agent started"
    );

    loop {
        let now = start.elapsed();
        if schedule.poll_due(now) {
            let next = facts(&host.snapshot());
            schedule.polled(now);
            if next != current {
                debug!(errors = next.errors.len(), "host changed");
                current = next;
            }
        }
        if schedule.send_due(&current, now) {
            let report =
                kairos_proto::convert::node_report(&cli.node_name, AGENT_VERSION, &current);
            let changed = schedule.changed(&current);
            let result = tokio::select! {
                () = &mut shutdown => break,
                r = reporter.send(report) => r,
            };
            let now = start.elapsed();
            match result {
                Ok(ack) => {
                    info!(
                        node = %cli.node_name,
                        changed,
                        operator_changed = ack.changed,
                        kairos = current.is_kairos,
                        version = current.kairos.as_ref().and_then(|k| k.version.as_deref()).unwrap_or(""),
                        errors = current.errors.len(),
                        "report delivered"
                    );
                    schedule.succeeded(
                        current.clone(),
                        now,
                        Duration::from_secs(ack.heartbeat_seconds.into()),
                    );
                }
                Err(e) => {
                    let retry_in = schedule.failed(now, fastrand::f64());
                    if e.is_auth_rejection() {
                        error!(
                            node = %cli.node_name,
                            category = e.category(),
                            retry_in = %humantime::format_duration(retry_in),
                            "the operator refused this agent: {e}"
                        );
                    } else {
                        warn!(
                            category = e.category(),
                            retry_in = %humantime::format_duration(retry_in),
                            error = %error_chain(&e),
                            "report not delivered"
                        );
                    }
                }
            }
        }
        let sleep = schedule.sleep_for(&current, start.elapsed());
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(sleep) => {}
        }
    }
    info!("shutting down");
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                warn!(error = %e, "failed to listen for SIGTERM; only Ctrl-C stops the agent");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
