//! The `NodeOpConfig` controller: observe (Nodes and KairosNodes, the other NodeOpConfigs, its
//! NodeOps and their NodeOpTargets, the source key from the caches of the operator's namespace)
//! → plan (`kairos_core::cloud_config::fleet`) → apply (the removal finalizer first, finished
//! NodeOps of earlier documents deleted, the new NodeOp applied) → report (status replaced
//! whole, Events queued; the finalizer let go last). The document is read only to hash and
//! check it. Does I/O.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kairos_api::names::{LABEL_NODEOP_CONFIG, NODEOPCONFIG_FINALIZER, OPERATOR_FIELD_MANAGER};
use kairos_api::v1alpha1::OperationPhase;
use kairos_api::{NodeOp, NodeOpConfig};
use kairos_core::cloud_config::fleet::{self, ConfigEvent, Finalizer, FleetConfigObserved};
use kairos_core::cloud_config::source::{ConfigSource, SourceKind};
use kairos_core::k8s_names::label_value;
use kairos_core::upgrade::node::NodeConfig;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use crate::controllers::Caches;
use crate::error::{Error, Result};

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "nodeopconfig";

/// Everything a `NodeOpConfig` reconcile needs.
pub(crate) struct State {
    /// Shared context.
    pub(crate) ctx: Arc<crate::context::Context>,
    /// The caches it reads.
    pub(crate) caches: Caches,
    /// The operator's namespace, the verify timeout, the gates of its NodeOps.
    pub(crate) config: NodeConfig,
    /// Consecutive failures per object (the retry delays).
    pub(crate) retries: super::retry::Retries,
}

/// The NodeOpConfigs naming `kind/name` (a Secret or ConfigMap that changed).
pub(crate) fn referencing(
    caches: &Caches,
    kind: SourceKind,
    name: &str,
) -> Vec<ObjectRef<NodeOpConfig>> {
    caches
        .configs
        .store
        .state()
        .iter()
        .filter(|c| {
            ConfigSource::of(&c.spec.config).is_some_and(|s| s.kind == kind && s.name == name)
        })
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// Every NodeOpConfig (a KairosNode or Node that changed may change any of their node sets).
pub(crate) fn every(caches: &Caches) -> Vec<ObjectRef<NodeOpConfig>> {
    caches
        .configs
        .store
        .state()
        .iter()
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect()
}

/// Reconciles one `NodeOpConfig`.
pub(crate) async fn reconcile(cfg: Arc<NodeOpConfig>, state: Arc<State>) -> Result<Action> {
    state
        .retries
        .tracked(super::retry::key(cfg.as_ref()), reconcile_once(cfg, &state))
        .await
}

async fn reconcile_once(cfg: Arc<NodeOpConfig>, state: &State) -> Result<Action> {
    let ctx = &state.ctx;
    let _timer = ctx.metrics.start(CONTROLLER);
    if !crate::controllers::scope::in_scope(ctx, cfg.as_ref()).await {
        return Ok(Action::await_change());
    }
    let ns = crate::error::namespace_of(cfg.as_ref(), "the NodeOpConfig")?.to_owned();
    let name = cfg.name_any();
    let nodeops: Api<NodeOp> = Api::namespaced(ctx.client.clone(), &ns);
    let configs: Api<NodeOpConfig> = Api::namespaced(ctx.client.clone(), &ns);

    // Observe.
    let label = label_value(&name);
    let own: Vec<NodeOp> = state
        .caches
        .nodeops
        .store
        .state()
        .iter()
        .filter(|op| {
            op.namespace().as_deref() == Some(ns.as_str())
                && op.labels().get(LABEL_NODEOP_CONFIG) == Some(&label)
        })
        .map(|op| op.as_ref().clone())
        .collect();
    let mut targets: BTreeMap<String, BTreeMap<String, _>> = BTreeMap::new();
    for t in state.caches.targets.store.state() {
        let ours = t.namespace().as_deref() == Some(ns.as_str())
            && own.iter().any(|op| op.name_any() == t.spec.node_op);
        if let (true, Some(st)) = (ours, t.status.clone()) {
            targets
                .entry(t.spec.node_op.clone())
                .or_default()
                .insert(t.spec.node.clone(), st);
        }
    }
    let in_namespace = ns == state.config.namespace;
    let source = in_namespace.then(|| {
        super::kairos_node_config::read_source(
            &state.caches,
            &ns,
            ConfigSource::of(&cfg.spec.config),
        )
    });
    let others = state
        .caches
        .configs
        .store
        .state()
        .iter()
        .filter(|c| c.uid() != cfg.uid())
        .map(|c| c.as_ref().clone())
        .collect();
    let observed = FleetConfigObserved {
        source,
        nodes: super::nodeop_upgrade::observed_nodes(&state.caches),
        others,
        nodeops: own,
        targets,
    };

    // Plan.
    let plan = fleet::plan_fleet_config(&cfg, &observed, ctx.now(), &state.config)
        .map_err(Error::MissingMetadata)?;

    // Apply: the finalizer before any NodeOp, so none is left behind by a deletion. Each write
    // of the object returns its new resourceVersion, the precondition of the next one.
    let mut current = cfg.as_ref().clone();
    if plan.finalizer == Finalizer::Add {
        current.metadata.resource_version = set_finalizers(&configs, &current, true).await?;
    }
    for done in &plan.delete_nodeops {
        super::kairos_node::apply_nodeop_plan(&nodeops, Some(done), None, OPERATOR_FIELD_MANAGER)
            .await?;
    }
    if let Some(op) = &plan.nodeop_to_apply {
        super::kairos_node::apply_nodeop_plan(&nodeops, None, Some(op), OPERATOR_FIELD_MANAGER)
            .await?;
        tracing::info!(nodeopconfig = %name, nodeop = %op.name_any(), "cloud-config NodeOp applied");
    }

    // Report.
    if cfg.status.as_ref() != Some(&plan.status) {
        let mut updated = current.clone();
        updated.status = Some(plan.status.clone());
        updated.metadata.managed_fields = None;
        match configs
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(written) => current.metadata.resource_version = written.resource_version(),
            // Gone already (its finalizer was let go by an earlier reconcile).
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(source) => return Err(Error::Report { name, source }),
        }
    }
    events(ctx, &cfg, &plan.events);
    if plan.finalizer == Finalizer::Remove {
        set_finalizers(&configs, &current, false).await?;
    }
    let busy = matches!(
        plan.status.phase,
        Some(OperationPhase::Pending | OperationPhase::Running)
    );
    Ok(Action::requeue(Duration::from_secs(if busy {
        10
    } else {
        60
    })))
}

/// Adds (`add`) or removes the removal finalizer, with `cfg`'s resourceVersion as a
/// precondition; returns the new resourceVersion.
async fn set_finalizers(
    api: &Api<NodeOpConfig>,
    cfg: &NodeOpConfig,
    add: bool,
) -> Result<Option<String>> {
    let mut list: Vec<String> = cfg
        .finalizers()
        .iter()
        .filter(|f| *f != NODEOPCONFIG_FINALIZER)
        .cloned()
        .collect();
    if add {
        list.push(NODEOPCONFIG_FINALIZER.to_owned());
    }
    let patch = json!({"metadata": {
        "finalizers": list,
        "resourceVersion": cfg.resource_version(),
    }});
    match api
        .patch(
            &cfg.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(patched) => Ok(patched.resource_version()),
        Err(kube::Error::Api(e)) if e.code == 404 && !add => Ok(None),
        Err(source) => Err(Error::Apply {
            what: format!(
                "{} the finalizer of NodeOpConfig {}",
                if add { "add" } else { "remove" },
                cfg.name_any()
            ),
            source,
        }),
    }
}

/// Queues `events` about `cfg` (best effort) and logs them.
fn events(ctx: &crate::context::Context, cfg: &NodeOpConfig, events: &[ConfigEvent]) {
    let reference = cfg.object_ref(&());
    for e in events {
        let note: String = e.message.chars().take(1000).collect();
        ctx.events.publish(
            Event {
                type_: if e.warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                },
                reason: e.reason.to_owned(),
                note: Some(note),
                action: "NodeOpConfig".to_owned(),
                secondary: None,
            },
            reference.clone(),
        );
        if e.warning {
            tracing::warn!(nodeopconfig = %cfg.name_any(), reason = e.reason, message = %e.message);
        } else {
            tracing::info!(nodeopconfig = %cfg.name_any(), reason = e.reason, message = %e.message);
        }
    }
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(cfg: Arc<NodeOpConfig>, error: &Error, state: Arc<State>) -> Action {
    super::retry::failed(&state.ctx, &state.retries, CONTROLLER, cfg.as_ref(), error)
}
