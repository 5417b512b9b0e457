//! Builds and runs the controllers over the process's shared caches (one watch per kind, see
//! [`caches`]), and stops them gracefully on shutdown. Does I/O (through the caches and the
//! controllers' modules).

pub(crate) mod caches;
mod decode;
pub(crate) mod kairos_node;
pub(crate) mod kairos_node_config;
pub(crate) mod nodeop;
pub(crate) mod nodeop_config;
pub(crate) mod nodeop_upgrade;
pub(crate) mod retry;
pub(crate) mod scope;

pub(crate) use caches::Caches;
pub(crate) use decode::{Undecodable, decoded};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kairos_api::names::{
    LABEL_KAIROSNODE, LABEL_KAIROSNODE_CONFIG, LABEL_NODEOP_UID, LABEL_NODEOP_UPGRADE,
};
use kairos_api::v1alpha1::OperationPhase;
use kairos_api::{KairosNode, NodeOp, NodeOpTarget};
use kairos_core::k8s_names::label_value;
use kube::runtime::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use crate::backoff::WatchBackoff;
use crate::context::Context;
use crate::controllers::nodeop::identity;
use crate::leader::Leadership;

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
        let config = per_node_config(&ctx);
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
            target_refs(&op)
        };
        Controller::for_stream(
            caches.kairos_nodes.changes(),
            caches.kairos_nodes.store.clone(),
        )
        .watches_stream(caches.nodeops.changes(), targets)
        // A Node that goes wakes its KairosNode, which is then deleted. The planner reads only
        // whether the Node exists, so its other changes (labels, kubelet status) wake nothing:
        // the cache is updated before a change is fanned out, so a Node still in it is there.
        .watches_stream(caches.nodes.changes(), {
            let nodes = caches.nodes.store.clone();
            move |n: Node| {
                let gone = nodes.get(&ObjectRef::from_obj(&n)).is_none();
                gone.then(|| ObjectRef::<KairosNode>::new(&n.name_any()))
            }
        })
        .reconcile_all_on(futures::stream::once(std::future::ready(())))
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown())
        .run(kairos_node::reconcile, kairos_node::error_policy, state)
        .for_each(log_result)
    };
    let config_controller = config_controller(&ctx, &caches, shutdown());
    let fleet_config_controller = fleet_config_controller(&ctx, &caches, shutdown());
    let controllers = async {
        futures::join!(
            nodeop_controller,
            upgrade_controller,
            kairos_node_controller,
            config_controller,
            fleet_config_controller
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

/// The settings of the per-node planners (upgrade and cloud-config): the operator's namespace,
/// the reboot timeout as the verification timeout, the `--node-upgrade-*` gates.
fn per_node_config(ctx: &Context) -> kairos_core::upgrade::node::NodeConfig {
    kairos_core::upgrade::node::NodeConfig {
        namespace: ctx.config.namespace.clone(),
        verify_timeout: ctx.config.reboot_timeout,
        gates: ctx.config.node_upgrade_gates.clone(),
    }
}

/// The KairosNodes a NodeOp targets (its `targetNodes`).
fn target_refs(op: &NodeOp) -> Vec<ObjectRef<KairosNode>> {
    op.spec
        .target_nodes
        .iter()
        .flatten()
        .map(|n| ObjectRef::new(n))
        .collect()
}

/// The cloud-config controller of KairosNodes: woken by KairosNodes, their config NodeOps, and
/// the Secrets and ConfigMaps (of the operator's namespace) they reference, so editing one
/// rolls the change out.
fn config_controller(
    ctx: &Arc<Context>,
    caches: &Caches,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    use kairos_core::cloud_config::source::SourceKind;
    let state = Arc::new(kairos_node_config::State {
        ctx: ctx.clone(),
        caches: caches.clone(),
        config: per_node_config(ctx),
        retries: retry::Retries::default(),
    });
    let targets = |op: NodeOp| -> Vec<ObjectRef<KairosNode>> {
        if !op.labels().contains_key(LABEL_KAIROSNODE_CONFIG) {
            return Vec::new();
        }
        target_refs(&op)
    };
    let (by_secret, by_config_map) = (caches.clone(), caches.clone());
    Controller::for_stream(
        caches.kairos_nodes.changes(),
        caches.kairos_nodes.store.clone(),
    )
    .watches_stream(caches.nodeops.changes(), targets)
    .watches_stream(caches.secrets.changes(), move |s: Secret| {
        kairos_node_config::referencing(&by_secret, SourceKind::Secret, &s.name_any())
    })
    .watches_stream(caches.config_maps.changes(), move |c: ConfigMap| {
        kairos_node_config::referencing(&by_config_map, SourceKind::ConfigMap, &c.name_any())
    })
    .reconcile_all_on(futures::stream::once(std::future::ready(())))
    .trigger_backoff(WatchBackoff::default())
    .graceful_shutdown_on(shutdown)
    .run(
        kairos_node_config::reconcile,
        kairos_node_config::error_policy,
        state,
    )
    .for_each(log_result)
}

/// The NodeOpConfig controller: woken by NodeOpConfigs, the NodeOps they own, the Secrets and
/// ConfigMaps (of the operator's namespace) they reference, and the Nodes and KairosNodes
/// (their labels and reported file hashes decide which nodes differ).
fn fleet_config_controller(
    ctx: &Arc<Context>,
    caches: &Caches,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    use kairos_core::cloud_config::source::SourceKind;
    let state = Arc::new(nodeop_config::State {
        ctx: ctx.clone(),
        caches: caches.clone(),
        config: per_node_config(ctx),
        retries: retry::Retries::default(),
    });
    let (by_secret, by_config_map) = (caches.clone(), caches.clone());
    let (by_kn, by_node) = (caches.clone(), caches.clone());
    // Node and KairosNode changes wake every NodeOpConfig; triggers that come while one is
    // queued or running make one more reconcile, not one each. No debounce: with a steady
    // stream of changes a debounce would postpone the reconcile for as long as it lasts.
    Controller::for_stream(caches.configs.changes(), caches.configs.store.clone())
        .owns_stream(caches.nodeops.changes())
        .watches_stream(caches.secrets.changes(), move |s: Secret| {
            nodeop_config::referencing(&by_secret, SourceKind::Secret, &s.name_any())
        })
        .watches_stream(caches.config_maps.changes(), move |c: ConfigMap| {
            nodeop_config::referencing(&by_config_map, SourceKind::ConfigMap, &c.name_any())
        })
        .watches_stream(caches.kairos_nodes.changes(), move |_: KairosNode| {
            nodeop_config::every(&by_kn)
        })
        .watches_stream(caches.nodes.changes(), move |_: Node| {
            nodeop_config::every(&by_node)
        })
        .reconcile_all_on(futures::stream::once(std::future::ready(())))
        .trigger_backoff(WatchBackoff::default())
        .graceful_shutdown_on(shutdown)
        .run(nodeop_config::reconcile, nodeop_config::error_policy, state)
        .for_each(log_result)
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
