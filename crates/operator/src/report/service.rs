//! The gRPC `ReportService`: validates a report, authenticates its token, checks that the token's
//! node is the reported node, then persists the report (KairosNode, its status, the Node's
//! `kairos.io/*` labels) through a [`Store`], writing only what changed. Does I/O (through the
//! store and the authenticator).
//!
//! The in-memory [`NodeCache`] only saves API calls. Correctness comes from the API server:
//! status writes carry the cached `resourceVersion` as a precondition, so a status that another
//! writer changed (the sweep, the upgrade controller) is re-read and recomputed, never overwritten
//! from a stale copy; a KairosNode deleted behind our back is recreated on the next write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::v1alpha1::KairosNode;
use kairos_core::kairos_node::{REPORT_FIELD_MANAGER, report_owned, status_from_report};
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

/// What the service last knew was stored for one node.
#[derive(Clone, Debug, Default)]
struct Known {
    /// The KairosNode, as the API server last returned it; `None` when it does not exist.
    kairos_node: Option<KairosNode>,
    /// The labels and annotations last applied to the Node, and when.
    metadata: Option<(NodeMetadata, Instant)>,
}

/// The last known state per node (an optimisation only; see the module docs).
#[derive(Debug, Default)]
pub struct NodeCache {
    nodes: Mutex<HashMap<String, Known>>,
}

impl NodeCache {
    fn get(&self, node: &str) -> Option<Known> {
        self.lock().get(node).cloned()
    }

    fn put(&self, node: &str, known: Known) {
        self.lock().insert(node.to_owned(), known);
    }

    /// Forgets `node`, so the next report re-reads it from the API server.
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
        let mut known = match self.cache.get(name) {
            Some(known) => known,
            None => Known {
                kairos_node: self.store.get(name).await?.map(slim),
                metadata: None,
            },
        };
        let desired = if report.facts.is_kairos {
            let release = report.facts.kairos.clone().unwrap_or_default();
            desired_node_metadata(&release, report.facts.boot_state)
        } else {
            NodeMetadata::default()
        };
        let outcome = if report.facts.is_kairos {
            self.persist_kairos(report, &mut known, &mut written).await
        } else {
            self.remove_kairos_node(&mut known, name, &mut written)
                .await
        };
        if let Err(e) = outcome {
            self.cache.forget(name);
            return Err(e);
        }
        let labels_fresh = known
            .metadata
            .as_ref()
            .is_some_and(|(m, at)| *m == desired && at.elapsed() < LABELS_REFRESH);
        if !labels_fresh {
            if let Err(e) = self.store.apply_node_metadata(name, &desired).await {
                self.cache.put(
                    name,
                    Known {
                        metadata: None,
                        ..known
                    },
                );
                return Err(e);
            }
            written = true;
            known.metadata = Some((desired, Instant::now()));
        }
        self.cache.put(name, known);
        Ok(written)
    }

    /// Creates the KairosNode if needed and writes its status when it changed.
    async fn persist_kairos(
        &self,
        report: &AgentReport,
        known: &mut Known,
        written: &mut bool,
    ) -> Result<(), StoreError> {
        let name = report.node_name.as_str();
        for attempt in 1..=WRITE_ATTEMPTS {
            let kn = match known.kairos_node.take() {
                Some(kn) if has_node_owner(&kn) => kn,
                _ => {
                    let uid = self.store.node_uid(name).await?;
                    let uid = uid.ok_or(StoreError::NotFound {
                        what: "find the reported Node",
                    })?;
                    *written = true;
                    slim(self.store.apply(name, &uid).await?)
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
                known.kairos_node = Some(kn);
                return Ok(());
            }
            let rv = kn.metadata.resource_version.as_deref();
            match self
                .store
                .apply_status(name, &report_owned(&status), rv)
                .await
            {
                Ok(stored) => {
                    *written = true;
                    known.kairos_node = Some(slim(stored));
                    return Ok(());
                }
                Err(StoreError::Conflict { .. } | StoreError::NotFound { .. })
                    if attempt < WRITE_ATTEMPTS =>
                {
                    tracing::debug!(node = name, "KairosNode changed meanwhile, re-reading");
                    known.kairos_node = self.store.get(name).await?.map(slim);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            what: "apply the KairosNode status",
        })
    }

    /// Deletes the KairosNode of a node that stopped being Kairos, if the report service made it.
    async fn remove_kairos_node(
        &self,
        known: &mut Known,
        name: &str,
        written: &mut bool,
    ) -> Result<(), StoreError> {
        if let Some(kn) = known.kairos_node.take() {
            match kn.metadata.uid.as_deref() {
                Some(uid) if created_by_report_service(&kn) => {
                    self.store.delete(name, uid).await?;
                    *written = true;
                    tracing::info!(
                        node = name,
                        "deleted the KairosNode: the node is not Kairos"
                    );
                }
                _ => known.kairos_node = Some(kn),
            }
        }
        Ok(())
    }
}

/// `kn` without what the service never reads, to keep the cache small: the managed-fields
/// entries are reduced to the report service's own, without their field sets.
fn slim(mut kn: KairosNode) -> KairosNode {
    if let Some(entries) = kn.metadata.managed_fields.as_mut() {
        entries.retain(|m| m.manager.as_deref() == Some(REPORT_FIELD_MANAGER));
        entries.truncate(1);
        for m in entries.iter_mut() {
            m.fields_v1 = None;
        }
    }
    kn.metadata.annotations = None;
    kn
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
