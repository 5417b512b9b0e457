//! Which operations the operator acts on: those in `--operation-namespaces`. One outside them
//! is left alone and noted once (log and Warning Event). Does I/O only through the Event queue.

use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use crate::context::Context;

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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http_body_util::BodyExt as _;
    use kube::client::Body;
    use prometheus_client::registry::Registry;

    use kube::runtime::controller::Action;

    use super::*;
    use crate::context::Config;
    use crate::controllers::{Caches, nodeop};
    use crate::metrics::ReconcileMetrics;
    use crate::scope::OperationNamespaces;
    use kairos_api::NodeOp;
    use std::sync::Arc;
    use std::time::Duration;

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
            node_upgrade_gates: kairos_api::v1alpha1::Gates::default(),
        };
        Context::new(
            client,
            ReconcileMetrics::register(&mut Registry::default()),
            config,
            None,
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
