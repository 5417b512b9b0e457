//! The `KairosNode` cloud-config controller: observe (the referenced Secret or ConfigMap key in
//! the operator's namespace, from the caches; the node's config `NodeOp`) → plan
//! (`kairos_core::cloud_config`) → apply (create or delete the single-node `NodeOp` that writes
//! or removes the managed file) → report (`status.config` and the `ConfigApplied` condition,
//! under their own field manager). The document is read only to hash and check it: it never
//! leaves the operator (the Job's pod mounts the object itself). Does I/O.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kairos_api::names::{
    CONFIG_FIELD_MANAGER, LABEL_KAIROSNODE_CONFIG, conditions::CONFIG_APPLIED,
};
use kairos_api::v1alpha1::ConfigState;
use kairos_api::{KairosNode, NodeOp};
use kairos_core::cloud_config::source::{ConfigSource, SourceKind};
use kairos_core::cloud_config::{self, ConfigObserved, SourceRead};
use kairos_core::conditions;
use kairos_core::k8s_names::label_value;
use kairos_core::upgrade::node;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::kairos_node::{apply_nodeop_plan, apply_status, fresh, newest};
use crate::controllers::Caches;
use crate::error::{Error, Result};

/// Name of this controller on metrics.
pub(crate) const CONTROLLER: &str = "kairosnode-config";

/// Everything a reconcile needs: the same as the upgrade side's (the KairosNode, NodeOp, Secret
/// and ConfigMap caches, the per-node planners' settings, the retry delays).
pub(crate) use super::kairos_node::State;

/// The KairosNodes whose `spec.config` names `kind/name` (a Secret or ConfigMap that changed).
pub(crate) fn referencing(
    caches: &Caches,
    kind: SourceKind,
    name: &str,
) -> Vec<ObjectRef<KairosNode>> {
    caches
        .kairos_nodes
        .store
        .state()
        .iter()
        .filter(|kn| {
            kn.spec
                .config
                .as_ref()
                .and_then(ConfigSource::of)
                .is_some_and(|s| s.kind == kind && s.name == name)
        })
        .map(|kn| ObjectRef::from_obj(kn.as_ref()))
        .collect()
}

/// Reconciles the cloud-config side of one `KairosNode`.
pub(crate) async fn reconcile(kn: Arc<KairosNode>, state: Arc<State>) -> Result<Action> {
    state
        .retries
        .tracked(super::retry::key(kn.as_ref()), reconcile_once(kn, &state))
        .await
}

async fn reconcile_once(kn: Arc<KairosNode>, state: &State) -> Result<Action> {
    let ctx = &state.ctx;
    let status = kn.status.clone().unwrap_or_default();
    let declared = kn.spec.config.is_some();
    let was_declared =
        status.config.is_some() || conditions::find(&status.conditions, CONFIG_APPLIED).is_some();
    if !declared && !was_declared {
        return Ok(Action::await_change());
    }
    let _timer = ctx.metrics.start(CONTROLLER);
    let name = kn.name_any();
    let namespace = state.config.namespace.as_str();
    let nodeops: Api<NodeOp> = Api::namespaced(ctx.client.clone(), namespace);

    // Observe.
    let node_label = label_value(&name);
    let own = state.caches.nodeops.store.state().into_iter().filter(|op| {
        op.namespace().as_deref() == Some(namespace)
            && op.labels().get(LABEL_KAIROSNODE_CONFIG) == Some(&node_label)
    });
    let own = newest(own.map(|op| op.as_ref().clone()));
    let source = kn
        .spec
        .config
        .as_ref()
        .map(|spec| read_source(&state.caches, namespace, ConfigSource::of(spec)));
    // Whether an agent reports for it shows in the managed fields, which the cache drops.
    let fresh_kn = Api::<KairosNode>::all(ctx.client.clone())
        .get_opt(&name)
        .await
        .map_err(|source| Error::Observe {
            what: format!("get KairosNode {name}"),
            source,
        })?;
    let Some(fresh_kn) = fresh_kn else {
        return Ok(Action::await_change());
    };
    let observed = ConfigObserved {
        source,
        own_nodeop: fresh(ctx, own).await?,
        no_agent_report: !node::reported_by_agent(&fresh_kn),
    };

    // Plan.
    let plan = cloud_config::plan_config(&kn, &observed, ctx.now(), &state.config)
        .map_err(Error::MissingMetadata)?;

    // Apply.
    apply_nodeop_plan(
        &nodeops,
        plan.delete_nodeop.as_deref(),
        plan.nodeop_to_apply.as_ref(),
        CONFIG_FIELD_MANAGER,
    )
    .await?;
    if let Some(op) = &plan.nodeop_to_apply {
        tracing::info!(kairosnode = %name, nodeop = %op.name_any(), "cloud-config NodeOp applied");
    }

    // Report: only the fields this controller owns, and only when they changed.
    let mut desired = status.clone();
    plan.apply_to(&mut desired);
    if desired.config != status.config || !conditions::same(&desired.conditions, &status.conditions)
    {
        let mine: Vec<_> = plan.condition.iter().collect();
        let status = json!({"config": plan.config, "conditions": mine});
        apply_status(ctx, &name, CONFIG_FIELD_MANAGER, status).await?;
    }
    // An operation in flight, or a written file not yet reported, has a timeout to check;
    // otherwise the watches wake it up.
    let busy = plan.config.as_ref().is_some_and(|c| {
        matches!(
            c.state,
            ConfigState::Applying | ConfigState::Removing | ConfigState::Pending
        )
    });
    Ok(Action::requeue(Duration::from_secs(if busy {
        10
    } else {
        300
    })))
}

/// The document `source` names, from the caches of the operator's namespace.
pub(crate) fn read_source(
    caches: &Caches,
    namespace: &str,
    source: Option<ConfigSource>,
) -> SourceRead {
    let Some(source) = source else {
        return SourceRead::Missing("spec.config names no Secret or ConfigMap".to_owned());
    };
    let kind = source.kind.kind();
    let (exists, content) = match source.kind {
        SourceKind::Secret => {
            let obj = caches
                .secrets
                .store
                .get(&ObjectRef::<Secret>::new(&source.name).within(namespace));
            let content = obj.as_ref().and_then(|s| {
                s.data
                    .as_ref()
                    .and_then(|d| d.get(&source.key))
                    .map(|b| b.0.clone())
            });
            (obj.is_some(), content)
        }
        SourceKind::ConfigMap => {
            let obj = caches
                .config_maps
                .store
                .get(&ObjectRef::<ConfigMap>::new(&source.name).within(namespace));
            let content = obj.as_ref().and_then(|c| {
                c.data
                    .as_ref()
                    .and_then(|d| d.get(&source.key))
                    .map(|s| s.as_bytes().to_vec())
                    .or_else(|| {
                        c.binary_data
                            .as_ref()
                            .and_then(|d| d.get(&source.key))
                            .map(|b| b.0.clone())
                    })
            });
            (obj.is_some(), content)
        }
    };
    match (exists, content) {
        (_, Some(bytes)) => SourceRead::Content(bytes),
        (true, None) => SourceRead::Missing(format!(
            "{kind} {namespace}/{} has no key {}",
            source.name, source.key
        )),
        (false, None) => {
            SourceRead::Missing(format!("{kind} {namespace}/{} does not exist", source.name))
        }
    }
}

/// Decides when to retry a failed reconcile.
pub(crate) fn error_policy(kn: Arc<KairosNode>, error: &Error, state: Arc<State>) -> Action {
    super::retry::failed(&state.ctx, &state.retries, CONTROLLER, kn.as_ref(), error)
}
