//! Where reports are persisted: the [`Store`] trait (so the service can be tested without an
//! API server) and its Kubernetes implementation [`KubeStore`]. Does I/O (API server).
//!
//! Field managers (decision): the report service writes with [`REPORT_FIELD_MANAGER`] for the
//! KairosNode object (its owner reference) and for its status (the report-owned fields, see
//! `kairos_core::kairos_node`), and with [`LABELS_FIELD_MANAGER`] for the Node's `kairos.io/*`
//! labels and annotations. Sharing `kairos-operator` with the KairosNode controller would make
//! each writer's apply remove the fields the other applied.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt as _;
use k8s_openapi::api::core::v1::Node;
use kairos_api::v1alpha1::{KairosNode, KairosNodeStatus};
use kairos_core::kairos_node::REPORT_FIELD_MANAGER;
use kairos_core::node_labels::NodeMetadata;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions,
};
use kube::runtime::reflector::{self, ObjectRef};
use serde_json::json;

use crate::controllers::decoded;

/// Page size of [`KubeStore`]'s lists.
const LIST_PAGE: u32 = 500;

pub use kairos_api::names::LABELS_FIELD_MANAGER;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (any more).
    #[error("failed to {what}: not found")]
    NotFound {
        /// What was attempted.
        what: &'static str,
    },
    /// A precondition (resource version, UID) did not hold: someone else wrote meanwhile.
    #[error("failed to {what}: the object changed meanwhile")]
    Conflict {
        /// What was attempted.
        what: &'static str,
    },
    /// Any other API error.
    #[error("failed to {what}")]
    Api {
        /// What was attempted.
        what: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// The writes and reads the report service and the sweep need.
pub trait Store: Send + Sync + 'static {
    /// The KairosNode `name`, if it exists, read afresh from the API server (with its managed
    /// fields).
    fn get(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<KairosNode>, StoreError>> + Send;
    /// The KairosNode `name` as the operator's watch last saw it, without managed fields: it
    /// may lag behind the API server, so a write based on it carries its `resourceVersion`.
    /// Read afresh while the watch has not listed yet.
    fn cached(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Arc<KairosNode>>, StoreError>> + Send;
    /// Every KairosNode (from the watch once it has listed, else listed afresh).
    fn list(&self) -> impl Future<Output = Result<Vec<Arc<KairosNode>>, StoreError>> + Send;
    /// The UID of the Node `name`, if it exists.
    fn node_uid(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Creates the KairosNode `name` (or re-asserts it) with an owner reference to the Node
    /// whose UID is `node_uid`.
    fn apply(
        &self,
        name: &str,
        node_uid: &str,
    ) -> impl Future<Output = Result<KairosNode, StoreError>> + Send;
    /// Applies the report-owned `status` of KairosNode `name`; with `resource_version`, only if
    /// the object is still at that version.
    fn apply_status(
        &self,
        name: &str,
        status: &KairosNodeStatus,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<KairosNode, StoreError>> + Send;
    /// Deletes KairosNode `name` if its UID is still `uid`.
    fn delete(&self, name: &str, uid: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Applies exactly `metadata` as the Node's `kairos.io/*` labels and annotations; keys
    /// applied before and missing now are removed.
    fn apply_node_metadata(
        &self,
        name: &str,
        metadata: &NodeMetadata,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Whether `kn` was created by the report service (it has applied fields of its manager).
pub fn created_by_report_service(kn: &KairosNode) -> bool {
    kn.metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(REPORT_FIELD_MANAGER))
}

/// The operator's watch caches the report path reads instead of asking the API server: one
/// copy of each object for the whole process (the controllers read the same ones).
#[derive(Clone)]
pub struct Watched {
    /// Every KairosNode (managed fields left out).
    pub kairos_nodes: reflector::Store<KairosNode>,
    /// Every Node (slimmed to what the operator reads; the UID is kept).
    pub nodes: reflector::Store<Node>,
}

impl Watched {
    /// Caches that never list (their writers are gone), so every read asks the API server.
    #[cfg(test)]
    pub(crate) fn unlisted() -> Self {
        Self {
            kairos_nodes: reflector::store().0,
            nodes: reflector::store().0,
        }
    }
}

/// [`Store`] on the API server, reading through the watch caches.
#[derive(Clone)]
pub struct KubeStore {
    kairos_nodes: Api<KairosNode>,
    /// The same KairosNodes undecoded, for a list that one unreadable object must not fail.
    raw_kairos_nodes: Api<DynamicObject>,
    nodes: Api<Node>,
    watched: Watched,
}

impl KubeStore {
    /// A store using `client`, reading through `watched`.
    pub fn new(client: kube::Client, watched: Watched) -> Self {
        let kind = ApiResource::erase::<KairosNode>(&());
        Self {
            kairos_nodes: Api::all(client.clone()),
            raw_kairos_nodes: Api::all_with(client.clone(), &kind),
            nodes: Api::all(client),
            watched,
        }
    }
}

/// `store`, once its watch has listed (without waiting).
fn listed<K>(store: &reflector::Store<K>) -> Option<&reflector::Store<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .wait_until_ready()
        .now_or_never()
        .and_then(Result::ok)
        .map(|()| store)
}

fn classify(what: &'static str) -> impl FnOnce(kube::Error) -> StoreError {
    move |source| match &source {
        kube::Error::Api(s) if s.code == 404 => StoreError::NotFound { what },
        kube::Error::Api(s) if s.code == 409 => StoreError::Conflict { what },
        _ => StoreError::Api { what, source },
    }
}

impl Store for KubeStore {
    async fn get(&self, name: &str) -> Result<Option<KairosNode>, StoreError> {
        self.kairos_nodes
            .get_opt(name)
            .await
            .map_err(classify("get the KairosNode"))
    }

    async fn cached(&self, name: &str) -> Result<Option<Arc<KairosNode>>, StoreError> {
        match listed(&self.watched.kairos_nodes) {
            Some(store) => Ok(store.get(&ObjectRef::new(name))),
            None => Ok(self.get(name).await?.map(Arc::new)),
        }
    }

    async fn list(&self) -> Result<Vec<Arc<KairosNode>>, StoreError> {
        if let Some(store) = listed(&self.watched.kairos_nodes) {
            return Ok(store.state());
        }
        // In pages, so a large fleet does not make one huge response; decoded one by one, so
        // one KairosNode that does not decode is left out (and said once per list), not the
        // whole list.
        let mut items = Vec::new();
        let mut params = ListParams::default().limit(LIST_PAGE);
        loop {
            let page = self.raw_kairos_nodes.list(&params).await;
            let page = page.map_err(classify("list KairosNodes"))?;
            for raw in page.items {
                let name = raw.metadata.name.clone().unwrap_or_default();
                match decoded::<KairosNode>(&raw) {
                    Ok(kn) => items.push(Arc::new(kn)),
                    Err(e) => tracing::warn!(
                        kairos_node = %name,
                        error = %e,
                        "cannot decode this KairosNode: left out of the sweep"
                    ),
                }
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(items),
            }
        }
    }

    async fn node_uid(&self, name: &str) -> Result<Option<String>, StoreError> {
        let seen = listed(&self.watched.nodes).and_then(|s| s.get(&ObjectRef::new(name)));
        if let Some(uid) = seen.and_then(|n| n.metadata.uid.clone()) {
            return Ok(Some(uid));
        }
        // Not listed yet, or a Node too new for the watch: ask.
        let node = self
            .nodes
            .get_metadata_opt(name)
            .await
            .map_err(classify("get the Node"))?;
        Ok(node.and_then(|n| n.metadata.uid))
    }

    async fn apply(&self, name: &str, node_uid: &str) -> Result<KairosNode, StoreError> {
        let patch = json!({
            "apiVersion": "operator.kairos.io/v1alpha1",
            "kind": "KairosNode",
            "metadata": {
                "name": name,
                "ownerReferences": [{
                    "apiVersion": "v1",
                    "kind": "Node",
                    "name": name,
                    "uid": node_uid,
                }],
            },
            "spec": {},
        });
        let params = PatchParams::apply(REPORT_FIELD_MANAGER);
        let applied = self
            .kairos_nodes
            .patch(name, &params, &Patch::Apply(patch))
            .await;
        applied.map_err(classify("apply the KairosNode"))
    }

    async fn apply_status(
        &self,
        name: &str,
        status: &KairosNodeStatus,
        resource_version: Option<&str>,
    ) -> Result<KairosNode, StoreError> {
        let mut metadata = json!({ "name": name });
        if let Some(rv) = resource_version {
            metadata["resourceVersion"] = json!(rv);
        }
        let patch = json!({
            "apiVersion": "operator.kairos.io/v1alpha1",
            "kind": "KairosNode",
            "metadata": metadata,
            "status": status,
        });
        // Forced: these fields belong to the report service whoever touched them last.
        let params = PatchParams::apply(REPORT_FIELD_MANAGER).force();
        let applied = self
            .kairos_nodes
            .patch_status(name, &params, &Patch::Apply(patch))
            .await;
        applied.map_err(classify("apply the KairosNode status"))
    }

    async fn delete(&self, name: &str, uid: &str) -> Result<(), StoreError> {
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self
            .kairos_nodes
            .delete(name, &params)
            .await
            .map_err(classify("delete the KairosNode"))
        {
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn apply_node_metadata(
        &self,
        name: &str,
        metadata: &NodeMetadata,
    ) -> Result<(), StoreError> {
        let patch = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": metadata.labels,
                "annotations": metadata.annotations,
            },
        });
        // Forced: the `kairos.io/*` keys are the operator's, even if another labeler set them.
        let params = PatchParams::apply(LABELS_FIELD_MANAGER).force();
        let applied = self
            .nodes
            .patch_metadata(name, &params, &Patch::Apply(patch))
            .await;
        applied
            .map(|_| ())
            .map_err(classify("apply the Node labels"))
    }
}
