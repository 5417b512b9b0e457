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

use kairos_api::names::{AGENT_SERVICE_ACCOUNT, OPERATOR_SERVICE_ACCOUNT};

use crate::admin::{self, AdminState};
use crate::context::{Config, Context};
use crate::controllers;
use crate::fleet_metrics::FleetMetrics;
use crate::leader::{self, LeaderConfig};
use crate::metrics::ReconcileMetrics;
use crate::report::{self, ReportConfig, ReportMetrics, TlsMode};
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
    /// Name of the operator's pod (the instance named on Events).
    #[arg(long, env = "POD_NAME")]
    pod_name: Option<String>,
    /// Serve the report channel without TLS. For tests only: tokens then travel in clear text.
    #[arg(long, env = "KAIROS_INSECURE_GRPC")]
    insecure_grpc: bool,
    /// How often agents report when nothing changes.
    #[arg(long, env = "KAIROS_HEARTBEAT", default_value = "5m", value_parser = humantime::parse_duration)]
    heartbeat: Duration,
    /// `KairosNode.status.lastSeen` is written at most this often per node.
    #[arg(long, env = "KAIROS_LASTSEEN_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    lastseen_interval: Duration,
    /// At most this many API requests of the report channel at once (TokenReviews and
    /// KairosNode/Node writes); more reports wait in the operator, so a fleet reporting at once
    /// cannot flood the API server.
    #[arg(long, env = "KAIROS_REPORT_API_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    report_api_concurrency: u16,
    /// How often an operation in flight is re-examined (drain retries, timeouts) when nothing
    /// it watches changes.
    #[arg(long, env = "KAIROS_POLL_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// How long a node may take to come back with a new boot ID after its reboot.
    #[arg(long, env = "KAIROS_REBOOT_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    reboot_timeout: Duration,
    /// How long a node's Job may run when its NodeOp sets no `jobTimeoutSeconds`.
    #[arg(long, env = "KAIROS_JOB_TIMEOUT", default_value = "1h", value_parser = humantime::parse_duration)]
    job_timeout: Duration,
    /// Image of the reboot pod (needs `sh`, `cat` and `nsenter`).
    #[arg(long, env = "KAIROS_REBOOT_IMAGE", default_value = "busybox:1.37")]
    reboot_image: String,
    /// Service account of the privileged Jobs and pods, in the operator's namespace.
    #[arg(
        long,
        env = "KAIROS_JOB_SERVICE_ACCOUNT",
        default_value = "kairos-node-job"
    )]
    job_service_account: String,
    /// Take part in leader election on a Lease, so that only one replica runs the controllers
    /// (every replica serves the report channel).
    #[arg(long, env = "KAIROS_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader-election Lease, in `--namespace`.
    #[arg(long, env = "KAIROS_LEASE_NAME", default_value = "kairos-operator")]
    lease_name: String,
    /// How long the lease holds without renewal: the longest a failover takes.
    #[arg(long, env = "KAIROS_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    /// How long before the lease expires the leader renews it. A leader that has not renewed for
    /// `duration - grace / 2` steps down (with the defaults: renewals every 5 s, step down
    /// after 10 s without one, another replica takes over after 15 s).
    #[arg(long, env = "KAIROS_LEASE_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    lease_grace: Duration,
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
            grpc_addr,
            namespace,
            node_name,
            pod_name,
            insecure_grpc,
            heartbeat,
            lastseen_interval,
            report_api_concurrency,
            poll_interval,
            reboot_timeout,
            job_timeout,
            reboot_image,
            job_service_account,
            leader_election,
            lease_name,
            lease_duration,
            lease_grace,
            api_timeout,
        } = self;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), %namespace, node = ?node_name, "starting");
        let client = connect(api_timeout).await?;

        let mut registry = Registry::with_prefix("kairos");
        let reconcile_metrics = ReconcileMetrics::register(&mut registry);
        let report_metrics = ReportMetrics::register(&mut registry);
        let (caches, cache_task) = controllers::Caches::start(&client);
        let cache_task = tokio::spawn(cache_task);
        registry.register_collector(Box::new(FleetMetrics {
            kairos_nodes: caches.kairos_nodes.clone(),
            nodeops: caches.nodeops.clone(),
        }));
        let (ready_tx, ready_rx) = watch::channel(false);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let admin = tokio::spawn(admin::serve(
            admin_addr,
            AdminState {
                ready: ready_rx,
                registry: Arc::new(registry),
            },
            wait_for(shutdown_rx.clone()),
        ));

        // Ready = the CRDs are served, the caches are synced and the gRPC port is bound.
        let (grpc_ready_tx, grpc_ready) = watch::channel(false);
        let (caches_ready_tx, caches_ready) = watch::channel(false);
        tokio::spawn(readiness(
            grpc_ready,
            caches_ready,
            ready_tx,
            shutdown_rx.clone(),
        ));

        let report = tokio::spawn(report::serve(
            client.clone(),
            ReportConfig {
                grpc_addr,
                namespace: namespace.clone(),
                service_name: OPERATOR_SERVICE_ACCOUNT.to_owned(),
                agent_service_account: AGENT_SERVICE_ACCOUNT.to_owned(),
                tls: if insecure_grpc {
                    TlsMode::Plaintext
                } else {
                    TlsMode::Managed
                },
                lastseen_interval,
                heartbeat,
                api_concurrency: usize::from(report_api_concurrency),
            },
            report_metrics,
            grpc_ready_tx,
            wait_for(shutdown_rx.clone()),
        ));

        crate::crd::wait_until_installed(&client).await?;
        let config = Config {
            namespace: namespace.clone(),
            node_name,
            reboot_timeout,
        };
        let engine = kairos_core::nodeop::Config {
            job_namespace: Some(namespace),
            service_account: Some(job_service_account),
            reboot_image,
            reboot_timeout,
            poll_interval,
            job_timeout,
            ..kairos_core::nodeop::Config::default()
        };
        let identity = pod_name.clone().unwrap_or_else(default_identity);
        let leadership = leader::elect(
            client.clone(),
            &LeaderConfig {
                enabled: leader_election,
                lease_name,
                namespace: config.namespace.clone(),
                identity,
                duration: lease_duration,
                grace: lease_grace,
            },
        )
        .await?;
        let ctx = Context::new(client, reconcile_metrics, config, pod_name);
        let controllers = tokio::spawn(controllers::run(
            ctx,
            caches,
            engine,
            move || {
                caches_ready_tx.send_replace(true);
            },
            leadership,
            shutdown_rx.clone(),
        ));

        // Run until a signal, or until the controllers stop by themselves (a lost lease).
        let mut controllers = controllers;
        let early = tokio::select! {
            () = shutdown_signal() => None,
            result = &mut controllers => Some(result),
        };
        tracing::info!("shutting down");
        shutdown_tx.send_replace(true);
        let result = match early {
            Some(result) => result,
            None => controllers.await,
        };
        cache_task.abort();
        result.context("the controllers task panicked")??;
        tracing::debug!("controllers stopped");
        report.await.context("the report service task panicked")??;
        tracing::debug!("report channel stopped");
        admin.await.context("the admin server task panicked")??;
        tracing::debug!("admin server stopped");
        Ok(())
    }
}

/// An identity for leader election outside a pod: the host name plus the process id.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "kairos-operator".to_owned());
    format!("{host}-{}", std::process::id())
}

/// Keeps `ready` true exactly while both inputs are true and no shutdown started. An input whose
/// sender is gone keeps its last value.
async fn readiness(
    mut grpc: watch::Receiver<bool>,
    mut caches: watch::Receiver<bool>,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut grpc_open, mut caches_open, mut shutdown_open) = (true, true, true);
    loop {
        let now = *grpc.borrow_and_update()
            & *caches.borrow_and_update()
            & !*shutdown.borrow_and_update();
        if ready.send_replace(now) != now {
            tracing::info!(ready = now, "readiness changed");
        }
        tokio::select! {
            r = grpc.changed(), if grpc_open => grpc_open = r.is_ok(),
            r = caches.changed(), if caches_open => caches_open = r.is_ok(),
            r = shutdown.changed(), if shutdown_open => shutdown_open = r.is_ok(),
            else => break,
        }
    }
}

/// Builds a client from the kubeconfig or the in-cluster config and checks that the API server
/// answers, so a wrong or unreachable cluster fails at once with a clear message.
async fn connect(timeout: Duration) -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::infer().await.context(
        "failed to find a Kubernetes configuration (in-cluster service account or kubeconfig)",
    )?;
    // No client-side retries: kube's default policy retries a 429 up to 15 times with a backoff
    // of up to 1000 s inside the one call, and an eviction refused by a PodDisruptionBudget is a
    // 429, so a reconcile would hang in it past the drain timeout. The controllers retry by
    // re-planning (requeue, error policy); the agents retry their reports.
    config.default_retry = false;
    // Name ourselves in the API server's audit log and request metrics (kube sends no
    // User-Agent of its own).
    config.headers.push((
        axum::http::header::USER_AGENT,
        axum::http::HeaderValue::from_static(concat!(
            "kairos-operator/",
            env!("CARGO_PKG_VERSION")
        )),
    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn settle(rx: &mut watch::Receiver<bool>, want: bool) {
        tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|v| *v == want))
            .await
            .expect("readiness settles")
            .expect("readiness channel open");
    }

    #[tokio::test]
    async fn ready_only_between_sync_and_shutdown_even_when_inputs_close() {
        let (grpc_tx, grpc) = watch::channel(false);
        let (caches_tx, caches) = watch::channel(false);
        let (stop_tx, stop) = watch::channel(false);
        let (ready_tx, mut ready) = watch::channel(false);
        tokio::spawn(readiness(grpc, caches, ready_tx, stop));

        grpc_tx.send_replace(true);
        tokio::task::yield_now().await;
        assert!(!*ready.borrow(), "not ready before the caches sync");
        caches_tx.send_replace(true);
        drop(caches_tx); // the signal is sent once, then its sender goes away
        settle(&mut ready, true).await;
        stop_tx.send_replace(true);
        settle(&mut ready, false).await;
    }
}
