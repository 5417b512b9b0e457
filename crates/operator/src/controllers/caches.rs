//! The process's caches: one watch per kind for the whole operator, each filling a reflector
//! store that the controllers read instead of listing, and fanning its changes out to the
//! controllers that want them as triggers. Does I/O (watches).
//!
//! Decision: the fan-out is a lossy broadcast (a slow controller misses events rather than
//! stalling the watch that every reader depends on); a controller that falls that far behind
//! logs it, and every controller also reconciles everything when it starts and on its own
//! requeues, so a missed trigger delays work but loses none.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kairos_api::names::{LABEL_NODE_LOCK, LABEL_NODEOP_UID};
use kairos_api::{KairosNode, NodeOp, NodeOpConfig, NodeOpTarget, NodeOpUpgrade};
use kube::Resource;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use super::decode::{self, Undecodable};
use crate::backoff::WatchBackoff;

/// How many changes of one kind a controller may lag behind before it misses some. The ring is
/// allocated whole when the cache starts (32 bytes a slot, one ring per kind), so it is sized
/// for what a controller can lag, not for the fleet: a watch delivers a relist a page (500
/// objects) at a time, and a controller's trigger only maps each change to a key.
const FAN_OUT: usize = 1024;

/// A cached kind: its store and the fan-out of its changes.
pub(crate) struct Cache<K: Resource<DynamicType = ()> + 'static> {
    /// Every object of the kind (as selected).
    pub(crate) store: Store<K>,
    changes: broadcast::Sender<Arc<K>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<K> Cache<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The changes from now on (applied and deleted objects), as a controller trigger.
    pub(crate) fn changes(&self) -> impl Stream<Item = Result<K, watcher::Error>> + Send + use<K> {
        tokio_stream::wrappers::BroadcastStream::new(self.changes.subscribe())
            .filter_map(|change| std::future::ready(received(change)))
    }
}

/// A change for a controller; a controller that fell behind says so and goes on.
fn received<K: Resource<DynamicType = ()> + Clone>(
    change: Result<Arc<K>, tokio_stream::wrappers::errors::BroadcastStreamRecvError>,
) -> Option<Result<K, watcher::Error>> {
    match change {
        Ok(obj) => Some(Ok(obj.as_ref().clone())),
        Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
            tracing::warn!(
                kind = %K::kind(&()),
                missed = n,
                "a controller fell behind the changes of its cache; it catches up on its next requeues"
            );
            None
        }
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a watched kind must be.
trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
}

impl<K> Watched for K where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// Starts one watch of `api` that fills a store (objects passed through `slim`) and fans out
/// its changes.
fn cache<K: Watched>(api: Api<K>, config: watcher::Config, slim: fn(&mut K)) -> (Cache<K>, Task) {
    let (store, writer) = reflector::store();
    let events = watcher(api, config).backoff(WatchBackoff::default());
    fill(store, writer, events, slim)
}

/// Starts one watch of a custom kind whose objects are decoded one by one: one that does not
/// decode is left out (see [`decode`]) instead of failing the whole list.
fn custom_cache<K: Watched>(client: &kube::Client, undecodable: &Undecodable) -> (Cache<K>, Task) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ApiResource::erase::<K>(&()));
    let (store, writer) = reflector::store();
    let (cached, undecodable) = (store.clone(), undecodable.clone());
    let events = watcher(api, watcher::Config::default())
        .backoff(WatchBackoff::default())
        .filter_map(move |event| std::future::ready(decode::typed(event, &cached, &undecodable)));
    fill(store, writer, events, strip_managed_fields)
}

/// The cache that `events` fill through `slim`, and the task that runs them.
fn fill<K>(
    store: Store<K>,
    writer: reflector::store::Writer<K>,
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    slim: fn(&mut K),
) -> (Cache<K>, Task)
where
    K: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + Sync + 'static,
{
    let (changes, _) = broadcast::channel(FAN_OUT);
    let tx = changes.clone();
    let task = events
        .modify(slim)
        .reflect(writer)
        .touched_objects()
        .for_each(move |change| {
            if let Ok(obj) = change {
                // No receiver (no controller running on a follower) is fine.
                let _ = tx.send(Arc::new(obj));
            }
            futures::future::ready(())
        });
    (Cache { store, changes }, Box::pin(task))
}

/// Every cache the controllers, the report path and the metrics read.
#[derive(Clone)]
pub(crate) struct Caches {
    /// Every Node (slimmed to what the operator reads).
    pub(crate) nodes: Cache<Node>,
    /// Every KairosNode.
    pub(crate) kairos_nodes: Cache<KairosNode>,
    /// Every NodeOp.
    pub(crate) nodeops: Cache<NodeOp>,
    /// Every NodeOpUpgrade.
    pub(crate) upgrades: Cache<NodeOpUpgrade>,
    /// Every NodeOpConfig.
    pub(crate) configs: Cache<NodeOpConfig>,
    /// Every NodeOpTarget (the per-node records of the operations).
    pub(crate) targets: Cache<NodeOpTarget>,
    /// The engine's Jobs (in the Jobs' namespace, labelled with their NodeOp's UID).
    pub(crate) jobs: Cache<Job>,
    /// The engine's pods: Job pods, preflight and reboot pods (same namespace and label).
    pub(crate) engine_pods: Cache<Pod>,
    /// The node locks (Leases labelled as such in the operator's namespace).
    pub(crate) locks: Cache<Lease>,
    /// The Secrets of the operator's namespace (the sources of declared cloud-configs).
    pub(crate) secrets: Cache<Secret>,
    /// The ConfigMaps of the operator's namespace (the sources of declared cloud-configs).
    pub(crate) config_maps: Cache<ConfigMap>,
    /// The custom objects left out of the caches because they do not decode.
    pub(crate) undecodable: Undecodable,
}

impl Caches {
    /// Creates the caches and the task that fills them (it runs until dropped or aborted).
    /// `namespace` is the operator's: the engine's Jobs, pods and node locks live there.
    pub(crate) fn start(
        client: &kube::Client,
        namespace: &str,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let all = watcher::Config::default;
        let engine = || watcher::Config::default().labels(LABEL_NODEOP_UID);
        let (nodes, t1) = cache(Api::all(client.clone()), all(), slim_node);
        let undecodable = Undecodable::default();
        let (kairos_nodes, t2) = custom_cache(client, &undecodable);
        let (nodeops, t3) = custom_cache(client, &undecodable);
        let (upgrades, t4) = custom_cache(client, &undecodable);
        let (targets, t5) = custom_cache(client, &undecodable);
        let (jobs, t6) = cache(
            Api::namespaced(client.clone(), namespace),
            engine(),
            slim_job,
        );
        let (engine_pods, t7) = cache(
            Api::namespaced(client.clone(), namespace),
            engine(),
            slim_pod,
        );
        let (locks, t8) = cache(
            Api::namespaced(client.clone(), namespace),
            watcher::Config::default().labels(LABEL_NODE_LOCK),
            strip_managed_fields,
        );
        let (secrets, t9) = cache(
            Api::namespaced(client.clone(), namespace),
            all(),
            strip_managed_fields,
        );
        let (config_maps, t10) = cache(
            Api::namespaced(client.clone(), namespace),
            all(),
            strip_managed_fields,
        );
        let (configs, t11) = custom_cache(client, &undecodable);
        let run = async move {
            futures::future::join_all([t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11]).await;
        };
        let caches = Self {
            nodes,
            kairos_nodes,
            nodeops,
            upgrades,
            configs,
            targets,
            jobs,
            engine_pods,
            locks,
            secrets,
            config_maps,
            undecodable,
        };
        (caches, run)
    }

    /// Empty caches that no watch fills (tests of a single reconcile).
    #[cfg(test)]
    pub(crate) fn empty() -> Self {
        fn empty<K: Resource<DynamicType = ()> + Clone>() -> Cache<K> {
            Cache {
                store: reflector::store().0,
                changes: broadcast::channel(1).0,
            }
        }
        Self {
            nodes: empty(),
            kairos_nodes: empty(),
            nodeops: empty(),
            upgrades: empty(),
            configs: empty(),
            targets: empty(),
            jobs: empty(),
            engine_pods: empty(),
            locks: empty(),
            secrets: empty(),
            config_maps: empty(),
            undecodable: Undecodable::default(),
        }
    }

    /// Caches holding `nodes`, `locks` and `nodeops` (everything else empty), as synced
    /// watches would (tests of a single reconcile).
    #[cfg(test)]
    pub(crate) fn holding(nodes: Vec<Node>, locks: Vec<Lease>, nodeops: Vec<NodeOp>) -> Self {
        fn filled<K: Resource<DynamicType = ()> + Clone>(objects: Vec<K>) -> Cache<K> {
            let (store, mut writer) = reflector::store();
            writer.apply_watcher_event(&watcher::Event::Init);
            for o in objects {
                writer.apply_watcher_event(&watcher::Event::InitApply(o));
            }
            writer.apply_watcher_event(&watcher::Event::InitDone);
            Cache {
                store,
                changes: broadcast::channel(1).0,
            }
        }
        Self {
            nodes: filled(nodes),
            locks: filled(locks),
            nodeops: filled(nodeops),
            ..Self::empty()
        }
    }

    /// Resolves once every cache holds a full list.
    pub(crate) async fn wait_until_ready(&self) -> anyhow::Result<()> {
        self.nodes.store.wait_until_ready().await?;
        self.kairos_nodes.store.wait_until_ready().await?;
        self.nodeops.store.wait_until_ready().await?;
        self.upgrades.store.wait_until_ready().await?;
        self.configs.store.wait_until_ready().await?;
        self.targets.store.wait_until_ready().await?;
        self.jobs.store.wait_until_ready().await?;
        self.engine_pods.store.wait_until_ready().await?;
        self.locks.store.wait_until_ready().await?;
        self.secrets.store.wait_until_ready().await?;
        self.config_maps.store.wait_until_ready().await?;
        Ok(())
    }
}

/// Drops `managedFields` from cached objects: nothing reads them, and they are about half of
/// each object's size.
fn strip_managed_fields<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
}

/// Keeps of a Node what the operator reads (metadata, spec, the conditions and the boot ID):
/// on a real cluster `status.images` alone is often most of a Node object's size.
pub(crate) fn slim_node(node: &mut Node) {
    strip_managed_fields(node);
    if let Some(status) = node.status.as_mut() {
        let boot_id = status
            .node_info
            .take()
            .map(|info| info.boot_id)
            .unwrap_or_default();
        *status = k8s_openapi::api::core::v1::NodeStatus {
            conditions: status.conditions.take(),
            node_info: Some(k8s_openapi::api::core::v1::NodeSystemInfo {
                boot_id,
                ..Default::default()
            }),
            ..Default::default()
        };
    }
}

/// Keeps of a Job what the engine reads: metadata, status and the node its pod is pinned to.
fn slim_job(job: &mut Job) {
    strip_managed_fields(job);
    if let Some(spec) = job.spec.as_mut()
        && let Some(pod) = spec.template.spec.as_mut()
    {
        let node_name = pod.node_name.take();
        *pod = k8s_openapi::api::core::v1::PodSpec {
            node_name,
            ..Default::default()
        };
    }
}

/// Keeps of an engine pod what the engine reads: metadata, `nodeName` and status.
fn slim_pod(pod: &mut Pod) {
    strip_managed_fields(pod);
    if let Some(spec) = pod.spec.as_mut() {
        let node_name = spec.node_name.take();
        *spec = k8s_openapi::api::core::v1::PodSpec {
            node_name,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slim_node_keeps_what_the_engine_reads() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"a": "b"}, "annotations": {"c": "d"},
                "managedFields": [{"manager": "kubelet"}]},
            "spec": {"unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"bootID": "b-1", "machineID": "m", "systemUUID": "s", "kernelVersion": "6",
                    "osImage": "o", "containerRuntimeVersion": "c", "kubeletVersion": "v",
                    "kubeProxyVersion": "v", "operatingSystem": "linux", "architecture": "amd64"},
                "images": [{"names": ["registry.example/big:1"], "sizeBytes": 1}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
            },
        }))
        .expect("a node");
        let before = kairos_core::nodeop::NodeInfo::from_node(&node);
        slim_node(&mut node);
        assert_eq!(kairos_core::nodeop::NodeInfo::from_node(&node), before);
        let status = node.status.as_ref().expect("status");
        assert!(status.images.is_none() && status.addresses.is_none());
        assert!(node.metadata.managed_fields.is_none());
        assert_eq!(node.metadata.annotations.as_ref().map(|a| a.len()), Some(1));
    }

    #[test]
    fn a_slim_job_and_pod_keep_what_the_engine_reads() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "j", "labels": {"job-name": "j"}},
            "spec": {"template": {"spec": {"nodeName": "w1", "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "x".repeat(4000)]}]}}},
            "status": {"active": 1, "conditions": [{"type": "Complete", "status": "True"}]},
        }))
        .expect("a job");
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {"job-name": "j", "operator.kairos.io/role": "reboot"}},
            "spec": {"nodeName": "w1", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "c", "image": "busybox",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": "done"}}}]},
        }))
        .expect("a pod");
        let (mut slim, mut slim_p) = (job.clone(), pod.clone());
        slim_job(&mut slim);
        slim_pod(&mut slim_p);
        let pods = [pod.clone()];
        let slim_pods = [slim_p.clone()];
        assert_eq!(
            kairos_core::nodeop::JobInfo::from_job(&slim, &slim_pods),
            kairos_core::nodeop::JobInfo::from_job(&job, &pods)
        );
        assert_eq!(
            kairos_core::nodeop::EnginePod::from_pod(&slim_p),
            kairos_core::nodeop::EnginePod::from_pod(&pod)
        );
        assert!(serde_json::to_vec(&slim).unwrap().len() < 1000);
    }
}
