//! Command line of `kairos-operator` (clap; every flag is also an environment variable) and the
//! wiring of the subsystems it starts. Does I/O (starts servers, talks to the API server).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::admin::{self, AdminState};
use crate::telemetry::{self, LogFormat};

/// The Kairos operator: reports what OS every Kairos node runs, and rolls upgrades and privileged
/// node operations across the cluster safely (control plane first, a few nodes at a time, each
/// node cordoned, drained, run, rebooted, verified and uncordoned).
#[derive(Debug, Parser)]
#[command(name = "kairos-operator", version)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of `run` (also accepted without the subcommand).
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig or in-cluster config.
    Run,
    /// Print the CustomResourceDefinitions the operator needs, as multi-document YAML.
    Crds,
}

/// Options of the `run` command.
#[derive(Debug, Args)]
struct RunArgs {
    /// Log filter: a level (`info`, `debug`) or `tracing` directives (`kairos_operator=debug`).
    #[arg(long, env = "KAIROS_LOG_LEVEL", default_value = "info", global = true)]
    log_level: String,
    /// Log format.
    #[arg(
        long,
        env = "KAIROS_LOG_FORMAT",
        value_enum,
        default_value = "plain",
        global = true
    )]
    log_format: LogFormat,
    /// Address of the admin server (`/livez`, `/readyz`, `/metrics`).
    #[arg(long, env = "KAIROS_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Address of the gRPC report service the node agents connect to.
    #[arg(long, env = "KAIROS_GRPC_ADDR", default_value = "0.0.0.0:9443")]
    grpc_addr: SocketAddr,
    /// Namespace the operator runs in (its TLS Secret, CA ConfigMap and Lease live there).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kairos-system")]
    namespace: String,
    /// Name of the Node the operator's pod runs on (it goes last in its rollout group).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// How long to wait for the API server to answer at start.
    #[arg(long, env = "KAIROS_API_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    api_timeout: Duration,
}

impl Cli {
    /// Runs the chosen command.
    ///
    /// # Errors
    /// When logging cannot be set up, the cluster cannot be reached, or a server fails.
    pub async fn run(self) -> anyhow::Result<()> {
        let Self { command, run } = self;
        match command.unwrap_or(Command::Run) {
            Command::Crds => print_crds(),
            Command::Run => {
                telemetry::init(&run.log_level, run.log_format)?;
                run.run().await
            }
        }
    }
}

fn print_crds() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for crd in kairos_api::crds() {
        let yaml = serde_yaml::to_string(&crd).context("failed to serialize a CRD")?;
        match writeln!(out, "---\n{}", yaml.trim_end()) {
            Ok(()) => {}
            // A closed pipe (`kairos-operator crds | head`) is the reader's choice, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("failed to write to stdout"),
        }
    }
    Ok(())
}

impl RunArgs {
    async fn run(self) -> anyhow::Result<()> {
        let Self {
            log_level: _,
            log_format: _,
            admin_addr,
            grpc_addr: _,
            namespace,
            node_name,
            api_timeout,
        } = self;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), %namespace, node = ?node_name, "starting");
        let client = connect(api_timeout).await?;

        let registry = Arc::new(Registry::with_prefix("kairos"));
        let (ready_tx, ready_rx) = watch::channel(false);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let admin = tokio::spawn(admin::serve(
            admin_addr,
            AdminState {
                ready: ready_rx,
                registry,
            },
            wait_for(shutdown_rx.clone()),
        ));

        crate::crd::wait_until_installed(&client).await?;
        ready_tx.send_replace(true);
        tracing::info!("ready");

        shutdown_signal().await;
        tracing::info!("shutting down");
        ready_tx.send_replace(false);
        shutdown_tx.send_replace(true);
        admin.await.context("the admin server task panicked")??;
        Ok(())
    }
}

/// Builds a client from the kubeconfig or the in-cluster config and checks that the API server
/// answers, so a wrong or unreachable cluster fails at once with a clear message.
async fn connect(timeout: Duration) -> anyhow::Result<kube::Client> {
    let config = kube::Config::infer().await.context(
        "failed to find a Kubernetes configuration (in-cluster service account or kubeconfig)",
    )?;
    let url = config.cluster_url.clone();
    let client = kube::Client::try_from(config).context("failed to build a Kubernetes client")?;
    match tokio::time::timeout(timeout, client.apiserver_version()).await {
        Ok(Ok(version)) => {
            tracing::info!(%url, server = %version.git_version, "connected to the API server");
            Ok(client)
        }
        Ok(Err(e)) => Err(anyhow::anyhow!(
            "failed to reach the Kubernetes API server at {url}: {e}"
        )),
        Err(_) => Err(anyhow::anyhow!(
            "failed to reach the Kubernetes API server at {url}: no answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

async fn wait_for(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "failed to listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
