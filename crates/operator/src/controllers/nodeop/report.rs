//! Writes the `NodeOp` status the planner computed (only when it changed) and queues its
//! Events on the `NodeOp` and on the Node concerned. Writes only.

use k8s_openapi::api::core::v1::ObjectReference;
use kairos_api::NodeOp;
use kairos_api::v1alpha1::NodeOpStatus;
use kairos_core::nodeop::Event;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event as KubeEvent, EventType};
use kube::{Resource, ResourceExt};

use crate::context::Context;
use crate::error::{Error, Result};

/// Replaces the status when it differs from the observed one, returning the written object. A
/// conflict (someone wrote in between) fails the reconcile, which re-plans from fresh data.
pub(crate) async fn status(
    ctx: &Context,
    op: &NodeOp,
    status: &NodeOpStatus,
) -> Result<Option<NodeOp>> {
    if op.status.as_ref() == Some(status) {
        return Ok(None);
    }
    let mut updated = op.clone();
    updated.status = Some(status.clone());
    updated.metadata.managed_fields = None;
    let ns = crate::error::namespace_of(op, "the NodeOp")?;
    let api: Api<NodeOp> = Api::namespaced(ctx.client.clone(), ns);
    api.replace_status(&op.name_any(), &PostParams::default(), &updated)
        .await
        .map(Some)
        .map_err(|source| Error::Report {
            name: op.name_any(),
            source,
        })
}

/// Queues the events, on the `NodeOp` and on the Node concerned (Events are best effort).
pub(crate) fn events(ctx: &Context, op: &NodeOp, events: &[Event]) {
    let op_ref = op.object_ref(&());
    for event in events {
        let ev = |secondary: Option<ObjectReference>| KubeEvent {
            type_: if event.reason.is_warning() {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.as_str().to_owned(),
            note: Some(truncate(&event.message)),
            action: "NodeOp".to_owned(),
            secondary,
        };
        ctx.events
            .publish(ev(event.node.as_deref().map(node_ref)), op_ref.clone());
        if let Some(node) = &event.node {
            ctx.events.publish(ev(Some(op_ref.clone())), node_ref(node));
        }
        if event.reason.is_warning() {
            tracing::warn!(nodeop = %op.name_any(), node = ?event.node, reason = event.reason.as_str(), message = %event.message);
        } else {
            tracing::info!(nodeop = %op.name_any(), node = ?event.node, reason = event.reason.as_str(), message = %event.message);
        }
    }
}

/// An Event's note is limited to 1 KiB by the API server.
fn truncate(message: &str) -> String {
    let mut out: String = message.chars().take(1000).collect();
    if out.len() < message.len() {
        out.push('…');
    }
    out
}

fn node_ref(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("Node".to_owned()),
        name: Some(name.to_owned()),
        // Events about cluster-scoped objects live in `default`, as kubectl expects.
        namespace: None,
        ..ObjectReference::default()
    }
}
