//! Test double of the report channel's [`Store`]: an in-memory one that follows the API server
//! where it matters. Test-only; no I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, OwnerReference};
use kairos_api::v1alpha1::{KairosNode, KairosNodeSpec, KairosNodeStatus};
use kairos_core::kairos_node::{REPORT_CONDITIONS, REPORT_FIELD_MANAGER};
use kairos_core::node_labels::NodeMetadata;

use crate::report::store::{Store, StoreError};

/// An in-memory [`Store`] that follows the API server where it matters: resource versions as
/// preconditions, and a status apply that replaces only the report service's fields.
#[derive(Default)]
pub(crate) struct MemStore {
    pub(crate) nodes: Mutex<HashMap<String, String>>,
    pub(crate) kairos_nodes: Mutex<BTreeMap<String, KairosNode>>,
    pub(crate) metadata: Mutex<BTreeMap<String, NodeMetadata>>,
    /// Every write, as `"<verb> <name>"`.
    pub(crate) writes: Mutex<Vec<String>>,
    /// How many times a KairosNode was read afresh (not from the watch cache).
    pub(crate) fresh_reads: Mutex<usize>,
    version: Mutex<u64>,
    /// What the watch cache shows when it lags: the KairosNodes as of [`MemStore::freeze_watch`]
    /// (`None`: the watch is current).
    watch: Mutex<Option<BTreeMap<String, KairosNode>>>,
}

impl MemStore {
    /// A store with the Nodes `names` (UID `uid-<name>`).
    pub(crate) fn with_nodes(names: &[&str]) -> Arc<Self> {
        let store = Self::default();
        for n in names {
            store
                .nodes
                .lock()
                .unwrap()
                .insert((*n).to_owned(), format!("uid-{n}"));
        }
        Arc::new(store)
    }

    /// From now on the watch cache shows the KairosNodes as they are now, as a watch that lags
    /// behind the writes would.
    pub(crate) fn freeze_watch(&self) {
        let now = self.kairos_nodes.lock().unwrap().clone();
        *self.watch.lock().unwrap() = Some(now);
    }

    fn bump(&self) -> String {
        let mut v = self.version.lock().unwrap();
        *v += 1;
        v.to_string()
    }

    fn log(&self, what: String) {
        self.writes.lock().unwrap().push(what);
    }

    pub(crate) fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    pub(crate) fn status(&self, name: &str) -> Option<KairosNodeStatus> {
        self.kairos_nodes.lock().unwrap().get(name)?.status.clone()
    }

    /// Changes a status as another writer would (bumping the resource version).
    pub(crate) fn edit_status(&self, name: &str, edit: impl FnOnce(&mut KairosNodeStatus)) {
        let rv = self.bump();
        let mut kns = self.kairos_nodes.lock().unwrap();
        let kn = kns.get_mut(name).unwrap();
        edit(kn.status.get_or_insert_with(KairosNodeStatus::default));
        kn.metadata.resource_version = Some(rv);
    }
}

impl Store for MemStore {
    async fn get(&self, name: &str) -> Result<Option<KairosNode>, StoreError> {
        *self.fresh_reads.lock().unwrap() += 1;
        Ok(self.kairos_nodes.lock().unwrap().get(name).cloned())
    }

    async fn cached(&self, name: &str) -> Result<Option<Arc<KairosNode>>, StoreError> {
        let watch = self.watch.lock().unwrap();
        let seen = match watch.as_ref() {
            Some(frozen) => frozen.get(name).cloned(),
            None => self.kairos_nodes.lock().unwrap().get(name).cloned(),
        };
        // The watch cache holds no managed fields.
        Ok(seen.map(|mut kn| {
            kn.metadata.managed_fields = None;
            Arc::new(kn)
        }))
    }

    async fn list(&self) -> Result<Vec<Arc<KairosNode>>, StoreError> {
        Ok(self
            .kairos_nodes
            .lock()
            .unwrap()
            .values()
            .cloned()
            .map(Arc::new)
            .collect())
    }

    async fn node_uid(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.nodes.lock().unwrap().get(name).cloned())
    }

    async fn apply(&self, name: &str, node_uid: &str) -> Result<KairosNode, StoreError> {
        self.log(format!("apply {name}"));
        let rv = self.bump();
        let mut kns = self.kairos_nodes.lock().unwrap();
        let kn = kns.entry(name.to_owned()).or_insert_with(|| {
            let mut kn = KairosNode::new(name, KairosNodeSpec::default());
            kn.metadata.uid = Some(format!("kn-uid-{name}"));
            kn.metadata.generation = Some(1);
            kn
        });
        kn.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: name.into(),
            uid: node_uid.into(),
            ..OwnerReference::default()
        }]);
        kn.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some(REPORT_FIELD_MANAGER.into()),
            operation: Some("Apply".into()),
            ..ManagedFieldsEntry::default()
        }]);
        kn.metadata.resource_version = Some(rv);
        Ok(kn.clone())
    }

    async fn apply_status(
        &self,
        name: &str,
        status: &KairosNodeStatus,
        resource_version: Option<&str>,
    ) -> Result<KairosNode, StoreError> {
        let what = "apply the KairosNode status";
        let rv = self.bump();
        let mut kns = self.kairos_nodes.lock().unwrap();
        let kn = kns.get_mut(name).ok_or(StoreError::NotFound { what })?;
        if resource_version.is_some() && resource_version != kn.metadata.resource_version.as_deref()
        {
            return Err(StoreError::Conflict { what });
        }
        self.log(format!("status {name}"));
        // Fields of other managers stay; the applied ones replace the report service's.
        let old = kn.status.take().unwrap_or_default();
        let mut new = KairosNodeStatus {
            upgrade: old.upgrade,
            observed_generation: old.observed_generation,
            ..status.clone()
        };
        new.conditions.extend(
            old.conditions
                .into_iter()
                .filter(|c| !REPORT_CONDITIONS.contains(&c.type_.as_str())),
        );
        new.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
        kn.status = Some(new);
        kn.metadata.resource_version = Some(rv);
        Ok(kn.clone())
    }

    async fn delete(&self, name: &str, uid: &str) -> Result<(), StoreError> {
        let mut kns = self.kairos_nodes.lock().unwrap();
        if kns
            .get(name)
            .is_some_and(|kn| kn.metadata.uid.as_deref() == Some(uid))
        {
            kns.remove(name);
            self.log(format!("delete {name}"));
        }
        Ok(())
    }

    async fn apply_node_metadata(
        &self,
        name: &str,
        metadata: &NodeMetadata,
    ) -> Result<(), StoreError> {
        self.log(format!("labels {name}"));
        self.metadata
            .lock()
            .unwrap()
            .insert(name.to_owned(), metadata.clone());
        Ok(())
    }
}
