//! Command line of `kairos-operator` (clap; every flag is also an environment variable) and the
//! wiring of the subsystems it starts. Does I/O (starts servers, talks to the API server).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use tokio::sync::watch;

use kairos_api::names::{AGENT_SERVICE_ACCOUNT, OPERATOR_SERVICE_ACCOUNT};

use crate::admin::{self, AdminState};
use crate::context::{Config, Context};
use crate::controllers;
use crate::fleet_metrics::FleetMetrics;
use crate::leader::{self, LeaderConfig};
use crate::metrics_registry::{OperatorMetrics, mirror};
use crate::permissions::Permissions;
use crate::report::{self, ReportConfig, TlsMode};
use crate::scope::OperationNamespaces;
use kairos_telemetry::LogFormat;

/// kube-runtime's watcher logs every refused attempt (403) at WARN; the operator says it once per
/// resource and verb instead (`permissions`), so those lines are kept below ERROR unless the log
/// filter names `kube_runtime` itself.
pub(crate) const QUIET_LOGS: &[&str] = &["kube_runtime::watcher=error"];

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
    #[arg(
        long,
        env = "KAIROS_ADMIN_ADDR",
        default_value = "0.0.0.0:8080",
        global = true
    )]
    admin_addr: SocketAddr,
    /// Address of the gRPC report service the node agents connect to.
    #[arg(
        long,
        env = "KAIROS_GRPC_ADDR",
        default_value = "0.0.0.0:9443",
        global = true
    )]
    grpc_addr: SocketAddr,
    /// Namespace the operator runs in (its TLS Secret, CA ConfigMap and Lease live there).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "kairos-system",
        global = true
    )]
    namespace: String,
    /// Name of the Node the operator's pod runs on (it goes last in its rollout group).
    #[arg(long, env = "NODE_NAME", global = true)]
    node_name: Option<String>,
    /// Name of the operator's pod (the instance named on Events).
    #[arg(long, env = "POD_NAME", global = true)]
    pod_name: Option<String>,
    /// Serve the report channel without TLS. For tests only: tokens then travel in clear text.
    #[arg(long, env = "KAIROS_INSECURE_GRPC", global = true)]
    insecure_grpc: bool,
    /// How often agents report when nothing changes.
    #[arg(long, env = "KAIROS_HEARTBEAT", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    heartbeat: Duration,
    /// `KairosNode.status.lastSeen` is written at most this often per node.
    #[arg(long, env = "KAIROS_LASTSEEN_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    lastseen_interval: Duration,
    /// At most this many API requests of the report channel at once (TokenReviews and
    /// KairosNode/Node writes); more reports wait in the operator, so a fleet reporting at once
    /// cannot flood the API server.
    #[arg(long, env = "KAIROS_REPORT_API_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    report_api_concurrency: u16,
    /// How often an operation in flight is re-examined (drain retries, timeouts) when nothing
    /// it watches changes.
    #[arg(long, env = "KAIROS_POLL_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    poll_interval: Duration,
    /// How long a node may take to come back with a new boot ID after its reboot.
    #[arg(long, env = "KAIROS_REBOOT_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration, global = true)]
    reboot_timeout: Duration,
    /// How long a node's Job may run when its NodeOp sets no `jobTimeoutSeconds`.
    #[arg(long, env = "KAIROS_JOB_TIMEOUT", default_value = "1h", value_parser = humantime::parse_duration, global = true)]
    job_timeout: Duration,
    /// Image of the reboot pod (needs `sh`, `cat` and `nsenter`).
    #[arg(
        long,
        env = "KAIROS_REBOOT_IMAGE",
        default_value = "busybox:1.37",
        global = true
    )]
    reboot_image: String,
    /// Image of a NodeOp's Job when its spec names none (upstream's variable name).
    #[arg(
        long,
        env = "NODEOP_DEFAULT_IMAGE",
        default_value = "busybox:latest",
        global = true
    )]
    nodeop_default_image: String,
    /// Service account of the privileged Jobs and pods, in the operator's namespace.
    #[arg(
        long,
        env = "KAIROS_JOB_SERVICE_ACCOUNT",
        default_value = "kairos-node-job",
        global = true
    )]
    job_service_account: String,
    /// Namespaces whose NodeOps and NodeOpUpgrades the operator acts on, comma-separated; empty
    /// (the default) means every namespace. The operator's own namespace (`--namespace`), where
    /// the NodeOps of per-node upgrades live, is always included. A NodeOp or NodeOpUpgrade
    /// elsewhere is left alone (no Job, cordon, finalizer or status), and a Warning Event
    /// `NamespaceNotAllowed` on it says so.
    #[arg(
        long,
        env = "KAIROS_OPERATION_NAMESPACES",
        value_delimiter = ',',
        global = true
    )]
    operation_namespaces: Vec<String>,
    /// At most this many nodes disrupted at once by all operations together: held by an
    /// operation (from its start on the node to its completion) or still cordoned by one (a
    /// failed node keeps its cordon). Unset: no limit beyond each operation's `concurrency`
    /// (control-plane nodes always go one at a time across all operations).
    #[arg(long, env = "KAIROS_MAX_DISRUPTED_NODES", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    max_disrupted_nodes: Option<u32>,
    /// Prometheus to ask for active alerts (`http://prometheus.monitoring:9090`), for the
    /// operations that set `alertGate`. Unset: such operations are held and say so.
    #[arg(long, env = "KAIROS_PROMETHEUS_URL", global = true)]
    prometheus_url: Option<String>,
    /// The gates of every per-node upgrade.
    #[command(flatten)]
    node_upgrade: NodeUpgradeGateArgs,
    /// Take part in leader election on a Lease, so that only one replica runs the controllers
    /// (every replica serves the report channel).
    #[arg(long, env = "KAIROS_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    leader_election: bool,
    /// Name of the leader-election Lease, in `--namespace`.
    #[arg(
        long,
        env = "KAIROS_LEASE_NAME",
        default_value = "kairos-operator",
        global = true
    )]
    lease_name: String,
    /// How long the lease holds without renewal: the longest a failover takes.
    #[arg(long, env = "KAIROS_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration, global = true)]
    lease_duration: Duration,
    /// How long before the lease expires the leader renews it. A leader that has not renewed for
    /// `duration - grace / 2` steps down (with the defaults: renewals every 5 s, step down
    /// after 10 s without one, another replica takes over after 15 s).
    #[arg(long, env = "KAIROS_LEASE_GRACE", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    lease_grace: Duration,
    /// How long to wait for the API server to answer at start.
    #[arg(long, env = "KAIROS_API_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration, global = true)]
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
                kairos_telemetry::init(&run.log_level, QUIET_LOGS, run.log_format)?;
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
            nodeop_default_image,
            job_service_account,
            operation_namespaces,
            max_disrupted_nodes,
            prometheus_url,
            node_upgrade,
            leader_election,
            lease_name,
            lease_duration,
            lease_grace,
            api_timeout,
        } = self;
        let operation_namespaces = OperationNamespaces::new(&operation_namespaces, &namespace);
        let node_upgrade_gates = node_upgrade_gates(node_upgrade)?;
        let alerts = prometheus_url
            .as_deref()
            .map(crate::alerts::AlertSource::new)
            .transpose()?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            %namespace,
            node = ?node_name,
            operation_namespaces = %operation_namespaces,
            "starting"
        );
        let mut metrics = OperatorMetrics::new();
        let permissions = metrics.permissions.clone();
        let client = connect(api_timeout, &permissions).await?;

        let reconcile_metrics = metrics.reconcile.clone();
        let report_metrics = metrics.report.clone();
        let (caches, cache_task) = controllers::Caches::start(&client, &namespace);
        let cache_task = tokio::spawn(cache_task);
        metrics.add_fleet(FleetMetrics {
            kairos_nodes: caches.kairos_nodes.store.clone(),
            targets: caches.targets.store.clone(),
            nodeops: caches.nodeops.store.clone(),
            upgrades: caches.upgrades.store.clone(),
            undecodable: caches.undecodable.clone(),
        });
        let (ready_tx, ready_rx) = watch::channel(false);
        tokio::spawn(mirror(ready_rx.clone(), metrics.ready.clone()));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let admin = tokio::spawn(admin::serve(
            admin_addr,
            AdminState {
                ready: ready_rx,
                registry: Arc::new(metrics.registry),
                permissions: permissions.clone(),
            },
            wait_for(shutdown_rx.clone()),
        ));

        // Ready = the CRDs are served, the caches are synced, the gRPC port is bound and the API
        // server refuses none of the operator's requests.
        let (grpc_ready_tx, grpc_ready) = watch::channel(false);
        let (caches_ready_tx, caches_ready) = watch::channel(false);
        tokio::spawn(readiness(
            ReadinessInputs {
                grpc: grpc_ready,
                caches: caches_ready,
                permitted: permissions.granted(),
            },
            ready_tx,
            shutdown_rx.clone(),
        ));

        // Whether this replica leads, for the report channel's sweep (the election starts
        // after the report channel, which every replica serves).
        let (leading_tx, leading_rx) = watch::channel(false);
        tokio::spawn(mirror(leading_rx.clone(), metrics.leader));
        let report = tokio::spawn(report::serve(
            client.clone(),
            report::store::Watched {
                kairos_nodes: caches.kairos_nodes.store.clone(),
                nodes: caches.nodes.store.clone(),
            },
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
                connection_max_age: crate::report::CONNECTION_MAX_AGE,
                max_connections: crate::report::admission::MAX_OPEN,
                leading: leading_rx,
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
            operation_namespaces,
            node_upgrade_gates,
        };
        let engine = kairos_core::nodeop::Config {
            job_namespace: Some(namespace),
            service_account: Some(job_service_account),
            reboot_image,
            default_image: nodeop_default_image,
            reboot_timeout,
            poll_interval,
            job_timeout,
            limits: kairos_core::nodeop::Limits {
                max_disrupted_nodes,
            },
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
        let mut is_leader = leadership.is_leader.clone();
        tokio::spawn(async move {
            loop {
                leading_tx.send_replace(*is_leader.borrow_and_update());
                if is_leader.changed().await.is_err() {
                    return;
                }
            }
        });
        let ctx = Context::new(client, reconcile_metrics, config, pod_name, alerts);
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

/// What the operator's readiness is made of.
struct ReadinessInputs {
    /// The gRPC port is bound.
    grpc: watch::Receiver<bool>,
    /// The caches are synced (after the CRDs are served).
    caches: watch::Receiver<bool>,
    /// The API server refuses none of the operator's requests ([`Permissions::granted`]).
    permitted: watch::Receiver<bool>,
}

/// Keeps `ready` true exactly while every input is true and no shutdown started. An input whose
/// sender is gone keeps its last value.
async fn readiness(
    inputs: ReadinessInputs,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let ReadinessInputs {
        mut grpc,
        mut caches,
        mut permitted,
    } = inputs;
    let mut open = [true; 4];
    loop {
        let now = *grpc.borrow_and_update()
            & *caches.borrow_and_update()
            & *permitted.borrow_and_update()
            & !*shutdown.borrow_and_update();
        if ready.send_replace(now) != now {
            tracing::info!(ready = now, "readiness changed");
        }
        tokio::select! {
            r = grpc.changed(), if open[0] => open[0] = r.is_ok(),
            r = caches.changed(), if open[1] => open[1] = r.is_ok(),
            r = permitted.changed(), if open[2] => open[2] = r.is_ok(),
            r = shutdown.changed(), if open[3] => open[3] = r.is_ok(),
            else => break,
        }
    }
}

/// The `--node-upgrade-*` flags: the gates of every per-node upgrade (`KairosNode.spec.version`).
#[derive(Debug, Args)]
struct NodeUpgradeGateArgs {
    /// Days a per-node upgrade (`KairosNode.spec.version`) may start on, comma-separated
    /// (`sat,sun`; a NodeOp `window`'s spellings). With `--node-upgrade-window-start` and
    /// `-end`; no days means every day.
    #[arg(
        long = "node-upgrade-window-days",
        env = "KAIROS_NODE_UPGRADE_WINDOW_DAYS",
        value_delimiter = ',',
        global = true
    )]
    days: Vec<String>,
    /// Local time (`HH:MM`) per-node upgrades' window opens; unset: no window.
    #[arg(
        long = "node-upgrade-window-start",
        env = "KAIROS_NODE_UPGRADE_WINDOW_START",
        requires = "end",
        global = true
    )]
    start: Option<String>,
    /// Local time (`HH:MM`) per-node upgrades' window closes (the next day when not after the
    /// start).
    #[arg(
        long = "node-upgrade-window-end",
        env = "KAIROS_NODE_UPGRADE_WINDOW_END",
        requires = "start",
        global = true
    )]
    end: Option<String>,
    /// IANA time zone of the per-node upgrades' window (default UTC).
    #[arg(
        long = "node-upgrade-window-time-zone",
        env = "KAIROS_NODE_UPGRADE_WINDOW_TIME_ZONE",
        global = true
    )]
    time_zone: Option<String>,
    /// Pods that keep a node from starting its per-node upgrade while they run on it, as
    /// `key=value` labels, comma-separated (all must match).
    #[arg(
        long = "node-upgrade-blocking-pods",
        env = "KAIROS_NODE_UPGRADE_BLOCKING_PODS",
        global = true
    )]
    blocking_pods: Option<String>,
    /// Hold per-node upgrades while a Prometheus alert whose whole name matches this regular
    /// expression fires (needs `--prometheus-url`).
    #[arg(
        long = "node-upgrade-alert-names",
        env = "KAIROS_NODE_UPGRADE_ALERT_NAMES",
        global = true
    )]
    alert_names: Option<String>,
}

/// The gates of every per-node upgrade, from the `--node-upgrade-*` flags; a flag that makes no
/// sense stops the operator at start with the reason.
fn node_upgrade_gates(f: NodeUpgradeGateArgs) -> anyhow::Result<kairos_api::v1alpha1::Gates> {
    use kairos_api::v1alpha1::{AlertGate, Gates, MaintenanceWindow};
    let window = match (f.start, f.end) {
        (Some(start_time), Some(end_time)) => {
            kairos_core::gates::window::Window::parse(
                &f.days,
                &start_time,
                &end_time,
                f.time_zone.as_deref(),
            )
            .map_err(|e| anyhow::anyhow!("--node-upgrade-{e}"))?;
            Some(MaintenanceWindow {
                days: f.days,
                start_time,
                end_time,
                time_zone: f.time_zone,
            })
        }
        _ => {
            anyhow::ensure!(
                f.days.is_empty() && f.time_zone.is_none(),
                "--node-upgrade-window-days and --node-upgrade-window-time-zone need \
                 --node-upgrade-window-start and --node-upgrade-window-end"
            );
            None
        }
    };
    let blocking_pod_selector = f
        .blocking_pods
        .map(|text| {
            let labels = text
                .split(',')
                .map(|pair| {
                    let (k, v) = pair
                        .split_once('=')
                        .filter(|(k, _)| !k.trim().is_empty())
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--node-upgrade-blocking-pods: {pair:?} is not key=value"
                            )
                        })?;
                    let (k, v) = (k.trim(), v.trim());
                    anyhow::ensure!(
                        kairos_core::k8s_names::is_label_key(k),
                        "--node-upgrade-blocking-pods: {k:?} is not a label key (at most 63 \
                         letters, digits, '-', '_' or '.', beginning and ending with a letter or \
                         digit, optionally after a DNS subdomain and '/')"
                    );
                    anyhow::ensure!(
                        kairos_core::k8s_names::is_label_value(v),
                        "--node-upgrade-blocking-pods: {v:?} is not a label value (at most 63 \
                         letters, digits, '-', '_' or '.', beginning and ending with a letter or \
                         digit)"
                    );
                    Ok((k.to_owned(), v.to_owned()))
                })
                .collect::<anyhow::Result<_>>()?;
            anyhow::Ok(
                k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
                    match_labels: Some(labels),
                    match_expressions: None,
                },
            )
        })
        .transpose()?;
    let alert_gate = f
        .alert_names
        .map(|alert_names| {
            kairos_core::gates::alerts::AlertGate::new(&alert_names, true)
                .map_err(|e| anyhow::anyhow!("--node-upgrade-alert-names: {e}"))?;
            anyhow::Ok(AlertGate {
                alert_names,
                firing_only: None,
            })
        })
        .transpose()?;
    Ok(Gates {
        window,
        post_complete_delay: None,
        blocking_pod_selector,
        alert_gate,
    })
}

/// Builds a client from the kubeconfig or the in-cluster config and checks that the API server
/// answers, so a wrong or unreachable cluster fails at once with a clear message.
async fn connect(timeout: Duration, permissions: &Permissions) -> anyhow::Result<kube::Client> {
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
    // Every request's answer goes through the permission record (403s: logged once, counted,
    // readiness).
    let client = kube::client::ClientBuilder::try_from(config)
        .context("failed to build a Kubernetes client")?
        .with_layer(&permissions.layer())
        .build();
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
        let (_permitted_tx, permitted) = watch::channel(true);
        let (stop_tx, stop) = watch::channel(false);
        let (ready_tx, mut ready) = watch::channel(false);
        let inputs = ReadinessInputs {
            grpc,
            caches,
            permitted,
        };
        tokio::spawn(readiness(inputs, ready_tx, stop));

        grpc_tx.send_replace(true);
        tokio::task::yield_now().await;
        assert!(!*ready.borrow(), "not ready before the caches sync");
        caches_tx.send_replace(true);
        drop(caches_tx); // the signal is sent once, then its sender goes away
        settle(&mut ready, true).await;
        stop_tx.send_replace(true);
        settle(&mut ready, false).await;
    }

    #[tokio::test]
    async fn not_ready_while_a_permission_is_missing() {
        use crate::permissions::{Access, Classified};
        let (_grpc_tx, grpc) = watch::channel(true);
        let (_caches_tx, caches) = watch::channel(true);
        let (_stop_tx, stop) = watch::channel(false);
        let (ready_tx, mut ready) = watch::channel(false);
        let permissions =
            Permissions::register(&mut prometheus_client::registry::Registry::default());
        let inputs = ReadinessInputs {
            grpc,
            caches,
            permitted: permissions.granted(),
        };
        tokio::spawn(readiness(inputs, ready_tx, stop));
        settle(&mut ready, true).await;

        let access = |verb| Access {
            verb,
            resource: "leases.coordination.k8s.io".into(),
        };
        let watch = Classified {
            access: access("watch"),
            namespace: Some("ks".into()),
        };
        permissions.refused(&watch, "forbidden");
        settle(&mut ready, false).await;
        // A success of another verb does not end it; a watch that starts again does.
        permissions.allowed(&access("get"));
        tokio::task::yield_now().await;
        assert!(!*ready.borrow());
        permissions.allowed(&access("watch"));
        settle(&mut ready, true).await;
        // A refused Event does not make the operator unready.
        let event = Classified {
            access: Access {
                verb: "create",
                resource: "events.events.k8s.io".into(),
            },
            namespace: Some("ops".into()),
        };
        permissions.refused(&event, "forbidden");
        tokio::task::yield_now().await;
        assert!(*ready.borrow());
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn run_flags_are_accepted_before_and_after_the_subcommand_and_without_it() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for args in [
            &["kairos-operator", "run", "--admin-addr", "127.0.0.1:0"][..],
            &["kairos-operator", "--admin-addr", "127.0.0.1:0", "run"],
            &["kairos-operator", "--admin-addr", "127.0.0.1:0"],
            &[
                "kairos-operator",
                "--grpc-addr",
                "127.0.0.1:1",
                "run",
                "--admin-addr",
                "127.0.0.1:0",
            ],
        ] {
            let cli = parse(args);
            assert!(matches!(cli.command, Some(Command::Run) | None), "{args:?}");
            assert_eq!(cli.run.admin_addr, addr, "{args:?}");
        }
        let both = parse(&[
            "kairos-operator",
            "--grpc-addr",
            "127.0.0.1:1",
            "run",
            "--admin-addr",
            "127.0.0.1:0",
        ]);
        assert_eq!(
            both.run.grpc_addr,
            "127.0.0.1:1".parse::<SocketAddr>().unwrap()
        );
        let defaults = parse(&["kairos-operator", "run"]);
        assert_eq!(
            defaults.run.admin_addr,
            "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(defaults.run.lease_duration, Duration::from_secs(15));
    }

    #[test]
    fn run_help_lists_every_run_flag() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        cli.build(); // propagates the global flags to the subcommands, as parsing does
        let run = cli.find_subcommand_mut("run").expect("a run subcommand");
        let help = run.render_long_help().to_string();
        for flag in [
            "--admin-addr",
            "--grpc-addr",
            "--namespace",
            "--log-level",
            "--operation-namespaces",
            "--leader-election",
            "--lease-grace",
            "--api-timeout",
        ] {
            assert!(help.contains(flag), "`run --help` lacks {flag}:\n{help}");
        }
    }

    #[test]
    fn crds_is_still_a_command() {
        let cli = parse(&["kairos-operator", "crds"]);
        assert!(matches!(cli.command, Some(Command::Crds)));
    }

    #[test]
    fn operation_namespaces_are_a_comma_separated_list_defaulting_to_none() {
        let cli = parse(&[
            "kairos-operator",
            "run",
            "--operation-namespaces",
            "ops,maintenance",
        ]);
        assert_eq!(cli.run.operation_namespaces, ["ops", "maintenance"]);
        let cli = parse(&["kairos-operator", "run"]);
        assert!(cli.run.operation_namespaces.is_empty());
    }

    #[test]
    fn node_upgrade_gate_flags_become_the_per_node_gates() {
        let cli = parse(&[
            "kairos-operator",
            "--node-upgrade-window-days",
            "sat,sun",
            "--node-upgrade-window-start",
            "22:00",
            "--node-upgrade-window-end",
            "04:00",
            "--node-upgrade-window-time-zone",
            "Europe/Berlin",
            "--node-upgrade-blocking-pods",
            "app=backup, tier=db",
            "--node-upgrade-alert-names",
            "KubeNode.*",
        ]);
        let gates = node_upgrade_gates(cli.run.node_upgrade).expect("valid");
        let window = gates.window.expect("a window");
        assert_eq!(window.days, ["sat", "sun"]);
        assert_eq!(window.time_zone.as_deref(), Some("Europe/Berlin"));
        let labels = gates
            .blocking_pod_selector
            .and_then(|s| s.match_labels)
            .expect("labels");
        assert_eq!(labels["tier"], "db");
        assert_eq!(gates.alert_gate.expect("alerts").alert_names, "KubeNode.*");
        let none = node_upgrade_gates(parse(&["kairos-operator"]).run.node_upgrade).expect("valid");
        assert_eq!(none, kairos_api::v1alpha1::Gates::default());
    }

    fn blocking_labels(value: &str) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        let cli = parse(&["kairos-operator", "--node-upgrade-blocking-pods", value]);
        Ok(node_upgrade_gates(cli.run.node_upgrade)?
            .blocking_pod_selector
            .and_then(|s| s.match_labels)
            .unwrap_or_default())
    }

    #[test]
    fn a_blocking_pod_label_may_have_an_empty_value_but_not_an_empty_key() {
        let labels = blocking_labels("app=,role = backup ").expect("valid");
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            [
                ("app".to_owned(), String::new()),
                ("role".to_owned(), "backup".to_owned())
            ]
        );
        let e = blocking_labels(" =x").expect_err("empty key").to_string();
        assert_eq!(e, "--node-upgrade-blocking-pods: \" =x\" is not key=value");
    }

    #[test]
    fn a_blocking_pod_label_must_be_a_valid_label() {
        let labels = blocking_labels("app.kubernetes.io/name=velero").expect("valid");
        assert_eq!(labels["app.kubernetes.io/name"], "velero");
        let e = blocking_labels("app name=x")
            .expect_err("bad key")
            .to_string();
        assert!(
            e.starts_with("--node-upgrade-blocking-pods: \"app name\" is not a label key"),
            "{e}"
        );
        let e = blocking_labels("app=a b")
            .expect_err("bad value")
            .to_string();
        assert!(
            e.starts_with("--node-upgrade-blocking-pods: \"a b\" is not a label value"),
            "{e}"
        );
    }

    #[test]
    fn an_empty_blocking_pod_pair_is_refused() {
        let e = blocking_labels("app=a,,b=c")
            .expect_err("empty pair")
            .to_string();
        assert_eq!(e, "--node-upgrade-blocking-pods: \"\" is not key=value");
    }

    #[test]
    fn a_window_without_days_opens_every_day_in_utc() {
        let cli = parse(&[
            "kairos-operator",
            "--node-upgrade-window-start",
            "01:00",
            "--node-upgrade-window-end",
            "03:00",
        ]);
        let window = node_upgrade_gates(cli.run.node_upgrade)
            .expect("valid")
            .window
            .expect("a window");
        assert!(window.days.is_empty());
        assert_eq!(window.time_zone, None);
        assert_eq!(
            (window.start_time.as_str(), window.end_time.as_str()),
            ("01:00", "03:00")
        );
    }

    #[test]
    fn a_time_zone_without_a_window_is_refused() {
        let cli = parse(&[
            "kairos-operator",
            "--node-upgrade-window-time-zone",
            "Europe/Berlin",
        ]);
        let e = node_upgrade_gates(cli.run.node_upgrade)
            .expect_err("no window")
            .to_string();
        assert!(e.contains("need --node-upgrade-window-start"), "{e}");
    }

    #[test]
    fn node_upgrade_gate_flags_that_make_no_sense_stop_the_start_with_the_reason() {
        let err = |args: &[&str]| {
            let mut all = vec!["kairos-operator"];
            all.extend_from_slice(args);
            node_upgrade_gates(parse(&all).run.node_upgrade)
                .expect_err("refused")
                .to_string()
        };
        let e = err(&[
            "--node-upgrade-window-start",
            "25:00",
            "--node-upgrade-window-end",
            "02:00",
        ]);
        assert!(e.contains("window.startTime"), "{e}");
        let e = err(&["--node-upgrade-window-days", "sat"]);
        assert!(e.contains("--node-upgrade-window-start"), "{e}");
        let e = err(&["--node-upgrade-blocking-pods", "backup"]);
        assert!(e.contains("key=value"), "{e}");
        let e = err(&["--node-upgrade-alert-names", "("]);
        assert!(e.contains("--node-upgrade-alert-names"), "{e}");
        assert!(
            Cli::try_parse_from(["kairos-operator", "--node-upgrade-window-start", "01:00"])
                .is_err()
        );
    }
}
