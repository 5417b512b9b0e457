//! The gRPC `ReportService`: validates a report, authenticates its token, checks that the token's
//! node is the reported node, then persists the report (KairosNode, its status, the Node's
//! `kairos.io/*` labels) through a [`Store`], writing only what changed. Does I/O (through the
//! store and the authenticator).
//!
//! The KairosNode is read from the operator's watch cache (one copy for the whole process), and
//! [`NodeCache`] remembers which Node labels were applied; both only save API calls.
//! Correctness comes from the API server: status writes carry the cached `resourceVersion` as
//! a precondition, so a status that another writer changed (the sweep, the upgrade controller)
//! or that the cache has not caught up with is re-read and recomputed, never overwritten from a
//! stale copy; a KairosNode deleted behind our back is recreated on the next write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::v1alpha1::KairosNode;
use kairos_core::kairos_node::{report_owned, status_from_report};
use kairos_core::node_labels::{NodeMetadata, desired_node_metadata};
use kairos_core::report::AgentReport;
use kairos_proto::v1::report_service_server::ReportService;
use kairos_proto::v1::{NodeReport, ReportAck};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::auth::{AuthError, Authenticator};
use super::metrics::{ReportMetrics, ReportResult};
use super::store::{Store, StoreError, created_by_report_service};

/// Node labels are re-applied at least this often, in case someone removed them.
const LABELS_REFRESH: Duration = Duration::from_secs(3600);
/// How many times a write is retried after a conflict or a vanished object.
const WRITE_ATTEMPTS: usize = 3;

/// The Node labels and annotations this replica last applied, per node: a hash of them and
/// when (an optimisation only; see the module docs). The KairosNodes themselves are read from
/// the operator's watch cache, not kept here.
#[derive(Debug, Default)]
pub struct NodeCache {
    nodes: Mutex<HashMap<String, (u64, Instant)>>,
}

impl NodeCache {
    fn applied(&self, node: &str) -> Option<(u64, Instant)> {
        self.lock().get(node).copied()
    }

    fn put(&self, node: &str, metadata: u64) {
        self.lock()
            .insert(node.to_owned(), (metadata, Instant::now()));
    }

    /// Forgets `node`, so its next report applies its labels again.
    pub fn forget(&self, node: &str) {
        self.lock().remove(node);
    }

    /// How many nodes are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no node is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A hash of `metadata`, to tell whether it is what was applied last.
fn digest(metadata: &NodeMetadata) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    metadata.labels.hash(&mut h);
    metadata.annotations.hash(&mut h);
    h.finish()
}

/// The `ReportService` implementation, generic over how tokens are checked and where reports go.
pub struct ReportServer<A, S> {
    auth: A,
    store: Arc<S>,
    cache: Arc<NodeCache>,
    metrics: ReportMetrics,
    lastseen_interval: SignedDuration,
    heartbeat: Duration,
    clock: fn() -> Timestamp,
}

impl<A: Authenticator, S: Store> ReportServer<A, S> {
    /// A service checking tokens with `auth` and persisting to `store`; `lastSeen` is written at
    /// most every `lastseen_interval`, and agents are told to report every `heartbeat`.
    pub fn new(
        auth: A,
        store: Arc<S>,
        cache: Arc<NodeCache>,
        metrics: ReportMetrics,
        lastseen_interval: Duration,
        heartbeat: Duration,
    ) -> Self {
        let lastseen_interval =
            SignedDuration::try_from(lastseen_interval).unwrap_or(SignedDuration::MAX);
        Self {
            auth,
            store,
            cache,
            metrics,
            lastseen_interval,
            heartbeat,
            clock: Timestamp::now,
        }
    }

    /// Reads the time from `clock` instead of the system clock (tests).
    #[must_use]
    pub fn with_clock(self, clock: fn() -> Timestamp) -> Self {
        Self { clock, ..self }
    }

    /// Persists `report`; returns whether anything was written.
    async fn persist(&self, report: &AgentReport) -> Result<bool, StoreError> {
        let name = report.node_name.as_str();
        let mut written = false;
        let desired = if report.facts.is_kairos {
            let release = report.facts.kairos.clone().unwrap_or_default();
            desired_node_metadata(&release, report.facts.boot_state)
        } else {
            NodeMetadata::default()
        };
        if report.facts.is_kairos {
            self.persist_kairos(report, &mut written).await?;
        } else {
            self.remove_kairos_node(name, &mut written).await?;
        }
        let digest = digest(&desired);
        let labels_fresh = self
            .cache
            .applied(name)
            .is_some_and(|(d, at)| d == digest && at.elapsed() < LABELS_REFRESH);
        if !labels_fresh {
            if let Err(e) = self.store.apply_node_metadata(name, &desired).await {
                self.cache.forget(name);
                return Err(e);
            }
            written = true;
            self.cache.put(name, digest);
        }
        Ok(written)
    }

    /// Creates the KairosNode if needed and writes its status when it changed.
    async fn persist_kairos(
        &self,
        report: &AgentReport,
        written: &mut bool,
    ) -> Result<(), StoreError> {
        let name = report.node_name.as_str();
        let mut current = self.store.cached(name).await?;
        for attempt in 1..=WRITE_ATTEMPTS {
            let kn = match current.take() {
                Some(kn) if has_node_owner(&kn) => kn,
                _ => {
                    let uid = self.store.node_uid(name).await?;
                    let uid = uid.ok_or(StoreError::NotFound {
                        what: "find the reported Node",
                    })?;
                    *written = true;
                    Arc::new(self.store.apply(name, &uid).await?)
                }
            };
            let (status, changed) = status_from_report(
                report,
                kn.status.as_ref(),
                kn.metadata.generation,
                (self.clock)(),
                self.lastseen_interval,
            );
            if !changed {
                return Ok(());
            }
            let rv = kn.metadata.resource_version.as_deref();
            match self
                .store
                .apply_status(name, &report_owned(&status), rv)
                .await
            {
                Ok(_) => {
                    *written = true;
                    return Ok(());
                }
                Err(StoreError::Conflict { .. } | StoreError::NotFound { .. })
                    if attempt < WRITE_ATTEMPTS =>
                {
                    // The cache lagged, or another writer (the sweep, another replica) wrote.
                    tracing::debug!(node = name, "KairosNode changed meanwhile, re-reading");
                    current = self.store.get(name).await?.map(Arc::new);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            what: "apply the KairosNode status",
        })
    }

    /// Deletes the KairosNode of a node that stopped being Kairos, if the report service made it
    /// (which only its managed fields, read afresh, tell).
    async fn remove_kairos_node(&self, name: &str, written: &mut bool) -> Result<(), StoreError> {
        if self.store.cached(name).await?.is_none() {
            return Ok(());
        }
        let Some(kn) = self.store.get(name).await? else {
            return Ok(());
        };
        if let Some(uid) = kn.metadata.uid.as_deref()
            && created_by_report_service(&kn)
        {
            self.store.delete(name, uid).await?;
            *written = true;
            tracing::info!(
                node = name,
                "deleted the KairosNode: the node is not Kairos"
            );
        }
        Ok(())
    }
}

fn has_node_owner(kn: &KairosNode) -> bool {
    let name = kn.metadata.name.as_deref();
    kn.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "Node" && o.api_version == "v1" && Some(o.name.as_str()) == name)
}

/// The bearer token of the `authorization` metadata.
fn bearer(request: &Request<NodeReport>) -> Result<&str, &'static str> {
    let value = request
        .metadata()
        .get("authorization")
        .ok_or("missing authorization metadata")?;
    let value = value
        .to_str()
        .map_err(|_| "authorization metadata is not text")?;
    let token = value
        .strip_prefix("Bearer ")
        .ok_or("authorization is not a Bearer token")?;
    let token = token.trim();
    if token.is_empty() {
        Err("empty bearer token")
    } else {
        Ok(token)
    }
}

#[tonic::async_trait]
impl<A: Authenticator, S: Store> ReportService for ReportServer<A, S> {
    async fn report(&self, request: Request<NodeReport>) -> Result<Response<ReportAck>, Status> {
        let token = match bearer(&request) {
            Ok(token) => token.to_owned(),
            Err(reason) => {
                tracing::warn!(reason, "rejected a report: unauthenticated");
                self.metrics.report(ReportResult::rejected_unauthenticated);
                return Err(Status::unauthenticated(reason));
            }
        };
        let report = match AgentReport::try_from(request.into_inner()) {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(error = %e, "rejected a report: invalid");
                self.metrics.report(ReportResult::rejected_invalid);
                return Err(Status::invalid_argument(e.to_string()));
            }
        };
        let node = report.node_name.as_str();
        let identity = match self.auth.authenticate(&token).await {
            Ok(identity) => identity,
            Err(AuthError::Unauthenticated(reason)) => {
                tracing::warn!(node, %reason, "rejected a report: unauthenticated");
                self.metrics.report(ReportResult::rejected_unauthenticated);
                return Err(Status::unauthenticated(format!("token refused: {reason}")));
            }
            Err(e @ AuthError::Unavailable(_)) => {
                tracing::warn!(node, error = %e, "could not authenticate a report");
                self.metrics.report(ReportResult::error);
                return Err(Status::unavailable(e.to_string()));
            }
        };
        if identity.node_name != node {
            tracing::warn!(
                node,
                token_node = %identity.node_name,
                "rejected a report: the token belongs to another node"
            );
            self.metrics.report(ReportResult::rejected_wrong_node);
            return Err(Status::permission_denied(format!(
                "this agent's token is bound to node {:?}; it may not report for node {node:?}",
                identity.node_name
            )));
        }
        match self.persist(&report).await {
            Ok(changed) => {
                self.metrics.report(ReportResult::accepted);
                if changed {
                    tracing::debug!(node, "recorded a report");
                }
                let heartbeat_seconds = u32::try_from(self.heartbeat.as_secs()).unwrap_or(u32::MAX);
                Ok(Response::new(ReportAck {
                    changed,
                    heartbeat_seconds,
                }))
            }
            Err(e) => {
                crate::permissions::warn_unless_forbidden!(&e, node, error = %e, source = ?std::error::Error::source(&e), "failed to record a report");
                self.metrics.report(ReportResult::error);
                Err(match e {
                    StoreError::NotFound { .. } => Status::failed_precondition(e.to_string()),
                    _ => Status::unavailable(e.to_string()),
                })
            }
        }
    }
}
