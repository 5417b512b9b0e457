//! Builds and runs the controllers over the process's shared caches (one watch per kind, see
//! [`caches`]), and stops them gracefully on shutdown. Does I/O (through the caches and the
//! controllers' modules).

pub(crate) mod caches;
mod decode;
pub(crate) mod kairos_node;
pub(crate) mod nodeop;
pub(crate) mod nodeop_upgrade;
pub(crate) mod retry;

pub(crate) use caches::Caches;
pub(crate) use decode::{Undecodable, decoded};

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_api::names::{LABEL_KAIROSNODE, LABEL_NODEOP_UID, LABEL_NODEOP_UPGRADE};
use kairos_api::v1alpha1::OperationPhase;
use kairos_api::{KairosNode, NodeOp, NodeOpTarget};
use kairos_core::k8s_names::label_value;
use kairos_core::nodeop::{RebootOnly, Verifier};
use kairos_core::upgrade::upgrade_target;
use kairos_core::upgrade_verifier::UpgradeVerifier;
use kube::runtime::Controller;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::backoff::WatchBackoff;
use crate::context::Context;
use crate::leader::Leadership;

/// The [`Verifier`] of `op`: the upgrade verifier for upgrade `NodeOp`s, else reboot-only.
/// It judges the nodes in flight (`nodes`), from their KairosNodes' reports.
pub(crate) fn upgrade_verifier<'a>(
    caches: &Caches,
    op: &NodeOp,
    nodes: impl Iterator<Item = &'a String>,
) -> Box<dyn Verifier + Send + Sync> {
    let Some(target) = upgrade_target(op) else {
        return Box::new(RebootOnly);
    };
    let reports: BTreeMap<String, _> = nodes
        .filter_map(|n| {
            let kn = caches.kairos_nodes.store.get(&ObjectRef::new(n))?;
            Some((n.clone(), kn.status.clone()?))
        })
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
        ctx.events.publish(event, obj.object_ref(&()));
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
            retries: retry::Retries::default(),
        });
        Controller::for_stream(caches.upgrades.changes(), caches.upgrades.store.clone())
            .owns_stream(caches.nodeops.changes())
            .reconcile_all_on(futures::stream::once(std::future::ready(())))
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
            retries: retry::Retries::default(),
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
        Controller::for_stream(
            caches.kairos_nodes.changes(),
            caches.kairos_nodes.store.clone(),
        )
        .watches_stream(caches.nodeops.changes(), targets)
        // A Node that changes or goes wakes its KairosNode (one whose Node is gone is deleted).
        .watches_stream(caches.nodes.changes(), |n: Node| {
            Some(ObjectRef::<KairosNode>::new(&n.name_any()))
        })
        .reconcile_all_on(futures::stream::once(std::future::ready(())))
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

/// The `NodeOp` engine's controller: woken by its `NodeOp`s, their target records, Jobs and
/// engine pods, the locks they hold, and changes of the Nodes (and their KairosNodes) they hold.
fn nodeop_controller(
    ctx: &Arc<Context>,
    caches: &Caches,
    engine: kairos_core::nodeop::Config,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let state = Arc::new(nodeop::State::new(ctx.clone(), caches.clone(), engine));
    let store = caches.nodeops.store.clone();
    let by_uid = move |uid: Option<&String>| -> Vec<ObjectRef<NodeOp>> {
        let Some(uid) = uid else { return Vec::new() };
        store
            .state()
            .iter()
            .filter(|op| op.meta().uid.as_deref().map(label_value).as_ref() == Some(uid))
            .map(|op| ObjectRef::from_obj(op.as_ref()))
            .collect()
    };
    let (by_uid_jobs, by_uid_pods, by_uid_targets) = (by_uid.clone(), by_uid.clone(), by_uid);
    // A node lock wakes its holder, and every unfinished operation: one may wait for the node.
    let ops = caches.nodeops.store.clone();
    let by_lock = move |lease: Lease| -> Vec<ObjectRef<NodeOp>> {
        let holder = lease.spec.and_then(|s| s.holder_identity);
        ops.state()
            .iter()
            .filter(|op| {
                let finished = op.status.as_ref().and_then(|s| s.phase).is_some_and(|p| {
                    !matches!(p, OperationPhase::Pending | OperationPhase::Running)
                });
                !finished || holder.as_deref() == Some(identity(op).as_str())
            })
            .map(|op| ObjectRef::from_obj(op.as_ref()))
            .collect()
    };
    // A Node (or its KairosNode) that changes wakes the operation holding it.
    let (locks, ops) = (caches.locks.store.clone(), caches.nodeops.store.clone());
    let lock_namespace = state.lock_namespace();
    let holder_of = move |node: &str| -> Vec<ObjectRef<NodeOp>> {
        let lease = ObjectRef::<Lease>::new(&kairos_core::nodeop::lock::lease_name(node))
            .within(&lock_namespace);
        let Some(holder) = locks
            .get(&lease)
            .and_then(|l| l.spec.clone()?.holder_identity)
        else {
            return Vec::new();
        };
        ops.state()
            .iter()
            .filter(|op| identity(op) == holder)
            .map(|op| ObjectRef::from_obj(op.as_ref()))
            .collect()
    };
    let holder_of_kn = holder_of.clone();
    Controller::for_stream(caches.nodeops.changes(), caches.nodeops.store.clone())
        .watches_stream(caches.targets.changes(), move |t: NodeOpTarget| {
            by_uid_targets(t.labels().get(LABEL_NODEOP_UID))
        })
        .watches_stream(caches.jobs.changes(), move |job: Job| {
            by_uid_jobs(job.labels().get(LABEL_NODEOP_UID))
        })
        .watches_stream(caches.engine_pods.changes(), move |pod: Pod| {
            by_uid_pods(pod.labels().get(LABEL_NODEOP_UID))
        })
        .watches_stream(caches.locks.changes(), by_lock)
        .watches_stream(caches.nodes.changes(), move |n: Node| {
            holder_of(&n.name_any())
        })
        .watches_stream(caches.kairos_nodes.changes(), move |kn: KairosNode| {
            holder_of_kn(&kn.name_any())
        })
        .reconcile_all_on(futures::stream::once(std::future::ready(())))
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown)
        .run(nodeop::reconcile, nodeop::error_policy, state)
        .for_each(log_result)
}

/// The holder identity of a `NodeOp` (`<ns>/<name>@<uid>`, `OpRef::cordoned_by`), as its locks
/// record it; empty for an object without namespace, name or uid, which holds nothing.
pub(crate) fn identity(op: &NodeOp) -> String {
    kairos_core::nodeop::OpRef::of(op)
        .map(|r| r.cordoned_by())
        .unwrap_or_default()
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
        Caches::empty()
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
        let state = Arc::new(nodeop::State::new(
            ctx,
            caches(),
            kairos_core::nodeop::Config::default(),
        ));
        let op = Arc::new(nodeop("default"));
        for _ in 0..3 {
            let action = nodeop::reconcile(op.clone(), state.clone()).await;
            assert_eq!(action.expect("no error"), Action::await_change());
        }
        // One Event (published by the queue's task), nothing else: no finalizer, no status,
        // no Job, no cordon.
        for _ in 0..100 {
            if !requests.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            *requests.lock().unwrap(),
            ["POST /apis/events.k8s.io/v1/namespaces/default/events"]
        );
    }

    #[tokio::test]
    async fn a_nodeop_in_an_operation_namespace_is_acted_on() {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let ctx = context(recording_client(requests.clone()), &["ops"]);
        let state = Arc::new(nodeop::State::new(
            ctx,
            caches(),
            kairos_core::nodeop::Config::default(),
        ));
        let _ = nodeop::reconcile(Arc::new(nodeop("ops")), state).await;
        let requests = requests.lock().unwrap();
        assert_eq!(
            requests.first().map(String::as_str),
            Some("PATCH /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeops/fw"),
            "the finalizer first: {requests:?}"
        );
    }
}
