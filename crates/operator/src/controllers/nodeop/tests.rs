//! Reconcile tests of the `NodeOp` controller, without a cluster: a fake API server records
//! every request, and each test checks which requests one reconcile sends, in which order, for
//! a scenario (the controller's shape: locks first, then records, status, actions). No real I/O.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kairos_api::NodeOp;
use kube::client::Body;
use kube::runtime::controller::Action;
use prometheus_client::registry::Registry;

use super::{State, reconcile};
use crate::context::{Config, Context};
use crate::controllers::Caches;
use crate::metrics::ReconcileMetrics;
use crate::scope::OperationNamespaces;

/// A fake API server: records `METHOD path` of every request and answers it, echoing what is
/// written (with a resourceVersion), an empty list to lists, and `conflict_on` (a path
/// fragment) with 409 AlreadyExists.
fn fake_api(requests: Arc<Mutex<Vec<String>>>, conflict_on: Option<&'static str>) -> kube::Client {
    let service = tower::service_fn(move |req: axum::http::Request<Body>| {
        let requests = requests.clone();
        async move {
            let (method, path) = (req.method().clone(), req.uri().path().to_owned());
            requests.lock().unwrap().push(format!("{method} {path}"));
            let body = req.into_body().collect().await?.to_bytes();
            let (code, answer) = if conflict_on.is_some_and(|c| path.contains(c))
                && method == "POST"
            {
                let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "AlreadyExists", "code": 409, "message": "already exists"});
                (409, status)
            } else if method == "GET" {
                (
                    200,
                    serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": []}),
                )
            } else {
                let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if v.is_object() {
                    v["metadata"]["resourceVersion"] = serde_json::json!("7");
                }
                (200, v)
            };
            let mut response =
                axum::http::Response::new(Body::from(answer.to_string().into_bytes()));
            *response.status_mut() = axum::http::StatusCode::from_u16(code).unwrap();
            Ok::<_, kube::Error>(response)
        }
    });
    kube::Client::new(service, "kairos-system")
}

fn state(client: kube::Client, caches: Caches) -> Arc<State> {
    let config = Config {
        namespace: "kairos-system".into(),
        node_name: None,
        reboot_timeout: Duration::from_secs(60),
        operation_namespaces: OperationNamespaces::new(&[], "kairos-system"),
        node_upgrade_gates: kairos_api::v1alpha1::Gates::default(),
    };
    let ctx = Context::new(
        client,
        ReconcileMetrics::register(&mut Registry::default()),
        config,
        None,
        None,
    );
    let engine = kairos_core::nodeop::Config {
        job_namespace: Some("kairos-system".into()),
        ..kairos_core::nodeop::Config::default()
    };
    Arc::new(State::new(ctx, caches, engine))
}

fn node(name: &str) -> Node {
    serde_json::from_value(serde_json::json!({"metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
    .unwrap()
}

fn nodeop() -> NodeOp {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": "fw", "namespace": "ops", "uid": "uid-1", "resourceVersion": "1",
            "finalizers": [kairos_api::names::NODEOP_FINALIZER]},
        "spec": {"command": ["sh", "-c", "true"], "targetNodes": ["w1"], "cordon": true},
    }))
    .unwrap()
}

/// The operation holding `other_lock`s: it exists, so its locks are not stale.
fn other_op() -> NodeOp {
    let mut op = nodeop();
    op.metadata.name = Some("other".into());
    op.metadata.uid = Some("uid-2".into());
    op
}

/// The path of the target record of `node` of [`nodeop`].
fn record(node: &str) -> String {
    let op = kairos_core::nodeop::OpRef::of(&nodeop()).unwrap();
    format!(
        "PUT /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeoptargets/{}/status",
        super::targets::name(&op, node)
    )
}

fn other_lock(node: &str) -> Lease {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("kairos-node-{node}"), "namespace": "kairos-system",
            "labels": {"operator.kairos.io/node-lock": node},
            "annotations": {"operator.kairos.io/node": node, "operator.kairos.io/control-plane": "false"}},
        "spec": {"holderIdentity": "ops/other@uid-2"},
    }))
    .unwrap()
}

/// The writes (not the Events) of `requests`, in order.
fn writes(requests: &Mutex<Vec<String>>) -> Vec<String> {
    requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| !r.contains("/events"))
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_start_takes_the_lock_then_writes_the_records_the_status_and_the_cordon() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let caches = Caches::holding(vec![node("w1")], vec![], vec![]);
    let s = state(fake_api(requests.clone(), None), caches);
    let action = reconcile(Arc::new(nodeop()), s).await.expect("reconciled");
    assert!(matches!(action, a if a != Action::await_change()));
    assert_eq!(
        writes(&requests),
        [
            "GET /apis/coordination.k8s.io/v1/namespaces/kairos-system/leases",
            "POST /apis/coordination.k8s.io/v1/namespaces/kairos-system/leases",
            "POST /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeoptargets",
            &record("w1"),
            "PUT /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeops/fw/status",
            "PATCH /api/v1/nodes/w1",
        ]
    );
}

#[tokio::test]
async fn a_node_held_by_another_operation_is_recorded_waiting_and_left_alone() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let caches = Caches::holding(vec![node("w1")], vec![other_lock("w1")], vec![other_op()]);
    let s = state(fake_api(requests.clone(), None), caches);
    reconcile(Arc::new(nodeop()), s).await.expect("reconciled");
    let w = writes(&requests);
    assert!(
        !w.iter()
            .any(|r| r.contains("/leases") || r.contains("/nodes/")),
        "{w:#?}"
    );
    assert_eq!(
        w,
        [
            "POST /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeoptargets",
            &record("w1"),
            "PUT /apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeops/fw/status",
        ]
    );
}

#[tokio::test]
async fn a_lock_taken_by_someone_else_first_stops_the_plan_before_any_write() {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let caches = Caches::holding(vec![node("w1")], vec![], vec![]);
    let s = state(fake_api(requests.clone(), Some("/leases")), caches);
    let action = reconcile(Arc::new(nodeop()), s).await.expect("reconciled");
    assert_eq!(action, Action::requeue(super::LOCK_LOST_RETRY));
    assert_eq!(
        writes(&requests),
        [
            "GET /apis/coordination.k8s.io/v1/namespaces/kairos-system/leases",
            "POST /apis/coordination.k8s.io/v1/namespaces/kairos-system/leases",
        ]
    );
}
