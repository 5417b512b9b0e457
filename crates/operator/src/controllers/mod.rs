//! Builds and runs the controllers over shared caches of Nodes and KairosNodes, and stops them
//! gracefully on shutdown. Does I/O (watches).

pub(crate) mod kairos_node;
pub(crate) mod nodeop;
pub(crate) mod nodeop_upgrade;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_api::names::{LABEL_KAIROSNODE, LABEL_NODEOP_UPGRADE, LABEL_ROLE};
use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use kairos_core::nodeop::job::LABEL_NODEOP_UID;
use kairos_core::nodeop::{RebootOnly, Verifier};
use kairos_core::upgrade::upgrade_target;
use kairos_core::upgrade_verifier::UpgradeVerifier;
use kube::api::Api;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};

use crate::backoff::WatchBackoff;
use crate::context::Context;
use crate::leader::Leadership;
use crate::permissions::warn_unless_forbidden;

/// Caches every controller reads instead of listing: all Nodes and all KairosNodes.
#[derive(Clone)]
pub(crate) struct Caches {
    /// Every Node.
    pub(crate) nodes: Store<Node>,
    /// Every KairosNode.
    pub(crate) kairos_nodes: Store<KairosNode>,
    /// Every NodeOp (for metrics).
    pub(crate) nodeops: Store<NodeOp>,
}

impl Caches {
    /// Creates the caches and the task that fills them (it runs until dropped or aborted).
    pub(crate) fn start(
        client: &kube::Client,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (nodes, nodes_writer) = reflector::store();
        let (kairos_nodes, kn_writer) = reflector::store();
        let (nodeops, nodeops_writer) = reflector::store();
        let nodeop_stream = watcher(
            Api::<NodeOp>::all(client.clone()),
            watcher::Config::default(),
        )
        .backoff(WatchBackoff::default())
        .modify(strip_managed_fields)
        .reflect(nodeops_writer)
        .applied_objects()
        .for_each(|_| async {});
        let node_stream = watcher(Api::<Node>::all(client.clone()), watcher::Config::default())
            .backoff(WatchBackoff::default())
            .modify(slim_node)
            .reflect(nodes_writer)
            .applied_objects()
            .for_each(|_| async {});
        let kn_stream = watcher(
            Api::<KairosNode>::all(client.clone()),
            watcher::Config::default(),
        )
        .backoff(WatchBackoff::default())
        .modify(strip_managed_fields)
        .reflect(kn_writer)
        .applied_objects()
        .for_each(|_| async {});
        let run = async move {
            futures::join!(node_stream, kn_stream, nodeop_stream);
        };
        (
            Self {
                nodes,
                kairos_nodes,
                nodeops,
            },
            run,
        )
    }

    /// Resolves once both caches hold a full list.
    pub(crate) async fn wait_until_ready(&self) -> anyhow::Result<()> {
        self.nodes.wait_until_ready().await?;
        self.kairos_nodes.wait_until_ready().await?;
        self.nodeops.wait_until_ready().await?;
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
fn slim_node(node: &mut Node) {
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

/// The [`Verifier`] of `op`: the upgrade verifier for upgrade `NodeOp`s, else reboot-only.
pub(crate) fn upgrade_verifier(caches: &Caches, op: &NodeOp) -> Box<dyn Verifier + Send + Sync> {
    let Some(target) = upgrade_target(op) else {
        return Box::new(RebootOnly);
    };
    let wanted: Vec<&String> = op
        .status
        .iter()
        .flat_map(|s| s.node_statuses.keys())
        .collect();
    let reports: BTreeMap<String, _> = caches
        .kairos_nodes
        .state()
        .iter()
        .filter(|kn| wanted.contains(&&kn.name_any()))
        .filter_map(|kn| Some((kn.name_any(), kn.status.clone()?)))
        .collect();
    Box::new(UpgradeVerifier { target, reports })
}

/// Reason of the Warning Event on a `NodeOp` or `NodeOpUpgrade` outside the operation namespaces.
pub(crate) const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";

/// Whether the operator acts on `obj`: its namespace is one of `--operation-namespaces`. The
/// first time it is not, says so in the log and in a Warning Event on the object (best effort:
/// the RBAC may not allow Events there); never writes the object itself.
pub(crate) async fn in_scope<K>(ctx: &Context, obj: &K) -> bool
where
    K: Resource<DynamicType = ()>,
{
    let namespace = obj.namespace().unwrap_or_default();
    let allowed = &ctx.config.operation_namespaces;
    if allowed.allows(&namespace) {
        return true;
    }
    let uid = obj.meta().uid.clone().unwrap_or_default();
    let first = ctx
        .noted_out_of_scope
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(uid);
    if first {
        let kind = K::kind(&());
        tracing::warn!(
            %kind,
            %namespace,
            name = %obj.name_any(),
            %allowed,
            "not acting on an object outside the operation namespaces (--operation-namespaces)"
        );
        let event = Event {
            type_: EventType::Warning,
            reason: NAMESPACE_NOT_ALLOWED.to_owned(),
            note: Some(format!(
                "the operator acts only on {kind}s in {allowed} (--operation-namespaces): \
                 this one is left alone"
            )),
            action: "Skip".to_owned(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &obj.object_ref(&())).await {
            warn_unless_forbidden!(&e, error = %e, %kind, "failed to publish an event");
        }
    }
    false
}

/// How long the controllers may take to finish their running reconciles once told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs every controller until `shutdown` resolves. `on_ready` is called once the caches are
/// synced.
pub(crate) async fn run(
    ctx: Arc<Context>,
    caches: Caches,
    engine: kairos_core::nodeop::Config,
    on_ready: impl FnOnce() + Send,
    leadership: Leadership,
    shutdown_rx: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut leader = leadership.is_leader.clone();
    // Controllers stop on shutdown, and when this replica stops leading.
    let stop_rx = shutdown_rx.clone();
    let stop_leader = leader.clone();
    let shutdown = move || {
        let mut stop = stop_rx.clone();
        let mut leading = stop_leader.clone();
        async move {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => {}
                _ = leading.wait_for(|leads| !*leads) => {}
            }
        }
    };
    let client = ctx.client.clone();
    caches.wait_until_ready().await?;
    on_ready();

    let mut stop = shutdown_rx.clone();
    tokio::select! {
        led = leader.wait_for(|leads| *leads) => {
            led.map_err(|_| anyhow::anyhow!("failed to follow the leader election: it stopped"))?;
        }
        _ = stop.wait_for(|stop| *stop) => {
            return Ok(());
        }
    }
    tracing::info!("leading: starting the controllers");

    let nodeop_controller = nodeop_controller(&ctx, &caches, engine, shutdown());
    let upgrade_controller = {
        let state = Arc::new(nodeop_upgrade::State {
            ctx: ctx.clone(),
            caches: caches.clone(),
        });
        Controller::new(
            Api::<NodeOpUpgrade>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns(
            Api::<NodeOp>::all(client.clone()),
            watcher::Config::default(),
        )
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown())
        .run(
            nodeop_upgrade::reconcile,
            nodeop_upgrade::error_policy,
            state,
        )
        .for_each(log_result)
    };
    let kairos_node_controller = {
        let config = kairos_core::upgrade::node::NodeConfig {
            namespace: ctx.config.namespace.clone(),
            verify_timeout: ctx.config.reboot_timeout,
        };
        let state = Arc::new(kairos_node::State {
            ctx: ctx.clone(),
            caches: caches.clone(),
            config,
        });
        // Any upgrade NodeOp (per-node or fleet) wakes the KairosNodes it targets.
        let targets = |op: NodeOp| -> Vec<ObjectRef<KairosNode>> {
            let labels = op.labels();
            if !labels.contains_key(LABEL_KAIROSNODE) && !labels.contains_key(LABEL_NODEOP_UPGRADE)
            {
                return Vec::new();
            }
            op.spec
                .target_nodes
                .iter()
                .flatten()
                .map(|n| ObjectRef::new(n))
                .collect()
        };
        Controller::new(
            Api::<KairosNode>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<NodeOp>::all(client.clone()),
            watcher::Config::default(),
            targets,
        )
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown())
        .run(kairos_node::reconcile, kairos_node::error_policy, state)
        .for_each(log_result)
    };
    let controllers = async {
        futures::join!(
            nodeop_controller,
            upgrade_controller,
            kairos_node_controller
        );
    };
    // A controller told to stop before its first LIST completed never stops (kube-runtime's
    // applier waits for a store that is no longer being filled), so the stop is bounded. Every
    // reconcile is safe to cut: status is written before actions.
    let deadline = async {
        shutdown().await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::select! {
        () = controllers => {}
        () = deadline => tracing::warn!(
            grace = ?STOP_GRACE,
            "the controllers did not stop in time after the stop signal; leaving them"
        ),
    }
    if !*shutdown_rx.borrow() && !*leader.borrow() {
        // Another replica leads now; exit so that this one starts afresh as a follower.
        anyhow::bail!("lost the leader lease: stopping the controllers");
    }
    drop(leadership);
    Ok(())
}

async fn log_result<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "controller event");
    }
}

/// The `NodeOp` engine's controller: woken by its `NodeOp`s and by their Jobs and engine pods.
fn nodeop_controller(
    ctx: &Arc<Context>,
    caches: &Caches,
    engine: kairos_core::nodeop::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let client = ctx.client.clone();
    let job_namespace = engine
        .job_namespace
        .clone()
        .unwrap_or_else(|| ctx.config.namespace.clone());
    let state = Arc::new(nodeop::State {
        ctx: ctx.clone(),
        caches: caches.clone(),
        engine,
    });
    let controller = Controller::new(
        Api::<NodeOp>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    let by_uid = move |uid: Option<&String>| -> Vec<ObjectRef<NodeOp>> {
        let Some(uid) = uid else { return Vec::new() };
        store
            .state()
            .iter()
            .filter(|op| {
                op.meta()
                    .uid
                    .as_deref()
                    .map(kairos_core::nodeop::job::label_value)
                    .as_ref()
                    == Some(uid)
            })
            .map(|op| ObjectRef::from_obj(op.as_ref()))
            .collect()
    };
    let by_uid_pods = by_uid.clone();
    let engine_objects = watcher::Config::default().labels(LABEL_NODEOP_UID);
    let engine_pods =
        watcher::Config::default().labels(&format!("{LABEL_NODEOP_UID},{LABEL_ROLE}"));
    controller
        .watches(
            Api::<Job>::namespaced(client.clone(), &job_namespace),
            engine_objects,
            move |job: Job| by_uid(job.labels().get(LABEL_NODEOP_UID)),
        )
        .watches(
            Api::<Pod>::namespaced(client, &job_namespace),
            engine_pods,
            move |pod: Pod| by_uid_pods(pod.labels().get(LABEL_NODEOP_UID)),
        )
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown)
        .run(nodeop::reconcile, nodeop::error_policy, state)
        .for_each(log_result)
}

#[cfg(test)]
mod slim_tests {
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
}

#[cfg(test)]
mod scope_tests {
    use std::sync::Mutex;

    use http_body_util::BodyExt as _;
    use kube::client::Body;
    use prometheus_client::registry::Registry;

    use kube::runtime::controller::Action;

    use super::*;
    use crate::context::Config;
    use crate::metrics::ReconcileMetrics;
    use crate::scope::OperationNamespaces;

    /// A fake API server that records every request and echoes what is created.
    fn recording_client(requests: Arc<Mutex<Vec<String>>>) -> kube::Client {
        let service = tower::service_fn(move |req: axum::http::Request<Body>| {
            let requests = requests.clone();
            async move {
                requests
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", req.method(), req.uri().path()));
                let body = req.into_body().collect().await?.to_bytes();
                let mut response = axum::http::Response::new(Body::from(body.to_vec()));
                *response.status_mut() = axum::http::StatusCode::CREATED;
                Ok::<_, kube::Error>(response)
            }
        });
        kube::Client::new(service, "kairos-system")
    }

    fn context(client: kube::Client, only: &[&str]) -> Arc<Context> {
        let listed: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
        let config = Config {
            namespace: "kairos-system".into(),
            node_name: None,
            reboot_timeout: Duration::from_secs(60),
            operation_namespaces: OperationNamespaces::new(&listed, "kairos-system"),
        };
        Context::new(
            client,
            ReconcileMetrics::register(&mut Registry::default()),
            config,
            None,
        )
    }

    fn caches() -> Caches {
        Caches {
            nodes: reflector::store().0,
            kairos_nodes: reflector::store().0,
            nodeops: reflector::store().0,
        }
    }

    fn nodeop(namespace: &str) -> NodeOp {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "fw", "namespace": namespace, "uid": "uid-1", "resourceVersion": "1"},
            "spec": {"command": ["sh", "-c", "true"], "targetNodes": ["n1"]},
        }))
        .expect("a NodeOp")
    }

    #[tokio::test]
    async fn a_nodeop_outside_the_operation_namespaces_is_left_alone_and_noted_once() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let ctx = context(recording_client(requests.clone()), &["ops"]);
        let state = Arc::new(nodeop::State {
            ctx,
            caches: caches(),
            engine: kairos_core::nodeop::Config::default(),
        });
        let op = Arc::new(nodeop("default"));
        for _ in 0..3 {
            let action = nodeop::reconcile(op.clone(), state.clone()).await;
            assert_eq!(action.expect("no error"), Action::await_change());
        }
        // One Event, nothing else: no finalizer, no status, no Job, no cordon.
        assert_eq!(
            *requests.lock().unwrap(),
            ["POST /apis/events.k8s.io/v1/namespaces/default/events"]
        );
    }

    #[tokio::test]
    async fn a_nodeop_in_an_operation_namespace_is_acted_on() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let ctx = context(recording_client(requests.clone()), &["ops"]);
        let state = Arc::new(nodeop::State {
            ctx,
            caches: caches(),
            engine: kairos_core::nodeop::Config::default(),
        });
        let _ = nodeop::reconcile(Arc::new(nodeop("ops")), state).await;
        let requests = requests.lock().unwrap();
        assert_eq!(
            requests.first().map(String::as_str),
            Some("PATCH /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeops/fw"),
            "the finalizer first: {requests:?}"
        );
    }
}
