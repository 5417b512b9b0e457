//! The report channel's server side (DESIGN.md section 4): TLS material the operator makes and
//! rotates itself, agent authentication with TokenReview, the gRPC `ReportService` that keeps
//! KairosNodes and Node labels, and the periodic sweep of silent agents. Does I/O.
//!
//! Entry point: [`serve`]. Module map:
//! - [`admission`]: the listening socket and how many connections are open at once;
//! - [`tls`]: what to rotate when (pure) and certificate generation;
//! - [`certs`]: the Secret/ConfigMap and the hot-swapped serving certificate (I/O);
//! - [`auth`]: [`auth::Authenticator`], TokenReview, the token cache;
//! - [`service`]: the tonic service; [`store`]: where reports go ([`store::Store`]);
//! - [`sweep`]: `Reporting=False` for silent agents; [`metrics`]: `kairos_reports_total`.

pub mod admission;
pub mod auth;
pub mod certs;
pub mod metrics;
pub mod pods;
pub mod service;
pub mod store;
pub mod sweep;
pub mod throttle;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_proto::v1::report_service_server::ReportServiceServer;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use metrics::ReportMetrics;

/// How long a successful token check is trusted (capped by the token's own expiry, and only
/// while the token's pod lives: see [`pods`]).
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(600);
/// How many token checks are cached at most (one per agent at steady state).
pub const TOKEN_CACHE_CAPACITY: usize = 16_384;
/// The largest report accepted, in bytes.
pub const MAX_REPORT_BYTES: usize = 256 * 1024;
/// How long one `Report` call may take (the API writes included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a connection is kept (see [`ReportConfig::connection_max_age`]).
pub const CONNECTION_MAX_AGE: Duration = Duration::from_secs(30);

/// How the report channel is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS with the CA and serving certificate the operator keeps in its Secret and publishes
    /// in its ConfigMap (the default).
    Managed,
    /// No TLS. For tests only (`--insecure-grpc`): tokens travel in clear text.
    Plaintext,
}

/// Settings of the report channel.
#[derive(Clone, Debug)]
pub struct ReportConfig {
    /// Address the gRPC server listens on.
    pub grpc_addr: SocketAddr,
    /// The operator's namespace: the TLS Secret, the CA ConfigMap and the agent's service
    /// account live there.
    pub namespace: String,
    /// Name of the Service in front of the gRPC port (the serving certificate's DNS names).
    pub service_name: String,
    /// Name of the agent's service account; only its tokens are accepted.
    pub agent_service_account: String,
    /// TLS or, for tests, plain text.
    pub tls: TlsMode,
    /// `lastSeen` is written at most this often per node.
    pub lastseen_interval: Duration,
    /// How often agents are told to report when nothing changes.
    pub heartbeat: Duration,
    /// At most this many API requests of the report path at once (see [`throttle`]).
    pub api_concurrency: usize,
    /// The longest a connection is kept. Agents connect for each report, so an older
    /// connection is one held idle (an older agent, a stuck one), whose TLS session and HTTP/2
    /// buffers would cost memory for nothing: it is closed gracefully (GOAWAY; calls in flight
    /// finish within the request timeout), and its agent reconnects for its next report.
    pub connection_max_age: Duration,
    /// How many connections are open at once at most (see [`admission`]).
    pub max_connections: usize,
    /// True while this replica leads: only the leader sweeps for silent agents (every replica
    /// serves reports).
    pub leading: watch::Receiver<bool>,
}

impl ReportConfig {
    /// How long a node may stay silent before `Reporting` turns false: the `lastSeen`
    /// granularity plus three heartbeats.
    pub fn silent_after(&self) -> SignedDuration {
        let d = self
            .lastseen_interval
            .saturating_add(self.heartbeat.saturating_mul(3));
        SignedDuration::try_from(d).unwrap_or(SignedDuration::MAX)
    }
}

/// Errors of the report channel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gRPC address could not be bound.
    #[error("failed to bind the gRPC address {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("failed to serve gRPC")]
    Serve(#[source] tonic::transport::Error),
}

/// Runs the report channel until `shutdown` completes: makes sure the TLS material exists
/// (retrying until the API server answers), binds `config.grpc_addr`, sets `ready` to true once
/// bound, serves `ReportService` and gRPC health, keeps the certificate rotated and sweeps
/// silent agents. Sets `ready` to false when shutting down.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    client: kube::Client,
    watched: store::Watched,
    config: ReportConfig,
    metrics: ReportMetrics,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        stop_tx.send_replace(true);
    });

    // Every API request of the report channel holds one of `api_concurrency` slots (cached
    // token answers make none).
    let client = throttle::limited(client, config.api_concurrency);
    let store = Arc::new(store::KubeStore::new(client.clone(), watched));
    let cache = Arc::new(service::NodeCache::default());
    let reviewer = auth::TokenReviewAuthenticator::new(
        client.clone(),
        config.namespace.clone(),
        config.agent_service_account.clone(),
        metrics.clone(),
    );
    let pods = pods::LivePods::default();
    tokio::spawn(pods::watch(
        client.clone(),
        config.namespace.clone(),
        pods.clone(),
        stop_rx.clone(),
    ));
    let auth = auth::Cached::new(reviewer, TOKEN_CACHE_TTL, TOKEN_CACHE_CAPACITY, pods);
    let report = service::ReportServer::new(
        auth,
        store.clone(),
        cache,
        metrics,
        config.lastseen_interval,
        config.heartbeat,
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ReportServiceServer<
            service::ReportServer<auth::Cached<auth::TokenReviewAuthenticator>, store::KubeStore>,
        >>()
        .await;
    let router = tonic::transport::Server::builder()
        // A report is one small write or none: a stuck one is cut, and no connection outlives
        // a few reports.
        .timeout(REQUEST_TIMEOUT)
        // (No `max_connection_age_grace`: with one, tonic skips the graceful close and cuts the
        // connection at age + grace; a call in flight is bounded by the timeout above anyway.)
        .max_connection_age(config.connection_max_age)
        .add_service(health_service)
        .add_service(ReportServiceServer::new(report).max_decoding_message_size(MAX_REPORT_BYTES));

    let acceptor = match config.tls {
        TlsMode::Managed => {
            let certs = certs::CertStore::new(client, &config.namespace, &config.service_name);
            let resolver = Arc::new(certs::Resolver::default());
            if !load_initial(&certs, &resolver, stop_rx.clone()).await {
                return Ok(());
            }
            tokio::spawn(certs::keep_rotated(
                certs,
                resolver.clone(),
                stop_rx.clone(),
            ));
            Some(TlsAcceptor::from(Arc::new(resolver.server_config())))
        }
        TlsMode::Plaintext => {
            tracing::warn!("the report channel runs WITHOUT TLS (--insecure-grpc): tests only");
            None
        }
    };
    let listener = admission::bind(config.grpc_addr).map_err(|source| Error::Bind {
        addr: config.grpc_addr,
        source,
    })?;
    tokio::spawn(sweep::run(
        store,
        config.silent_after(),
        config.leading.clone(),
        stop_rx.clone(),
    ));
    tracing::info!(addr = %config.grpc_addr, tls = ?config.tls, "report channel listening");
    ready.send_replace(true);
    let served = match acceptor {
        Some(acceptor) => {
            let handshake = move |tcp| acceptor.clone().accept(tcp);
            let incoming =
                admission::incoming(listener, config.max_connections, handshake, stop_rx.clone());
            router
                .serve_with_incoming_shutdown(incoming, stopped_owned(stop_rx))
                .await
        }
        None => {
            let handshake = |tcp| std::future::ready(Ok(tcp));
            let incoming =
                admission::incoming(listener, config.max_connections, handshake, stop_rx.clone());
            router
                .serve_with_incoming_shutdown(incoming, stopped_owned(stop_rx))
                .await
        }
    };
    ready.send_replace(false);
    served.map_err(Error::Serve)
}

/// Completes once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not in the caller's future.
    let _ = stop.wait_for(|s| *s).await;
}

async fn stopped_owned(mut stop: watch::Receiver<bool>) {
    stopped(&mut stop).await;
}

/// Ensures the TLS material and loads it, retrying every few seconds; false when shut down
/// before it succeeded.
async fn load_initial(
    certs: &certs::CertStore,
    resolver: &certs::Resolver,
    mut stop: watch::Receiver<bool>,
) -> bool {
    loop {
        let outcome = match certs.ensure(Timestamp::now()).await {
            Ok(material) => resolver.load(&material).map(|_| ()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return true,
            Err(e) => {
                crate::permissions::warn_unless_forbidden!(&e, error = %e, "failed to set up the report channel's TLS, retrying")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = stopped(&mut stop) => return false,
        }
    }
}

#[cfg(test)]
mod tests;
