//! Tests of [`CertStore::ensure`] against an in-process API server that keeps Secrets and
//! ConfigMaps with resource versions and answers conflicts like the real one, and of the
//! requests [`KubeStore`] sends. No network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::{Request, Response, StatusCode};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::v1alpha1::KairosNodeStatus;
use kairos_core::node_labels::NodeMetadata;
use kube::client::Body;
use serde_json::{Value, json};

use crate::report::certs::CertStore;
use crate::report::store::{KubeStore, Store};
use crate::report::tls;

const SECRETS: &str = "/api/v1/namespaces/kairos-system/secrets";
const CONFIGMAPS: &str = "/api/v1/namespaces/kairos-system/configmaps";

/// The fake API server's state: objects by path, every request as `"<METHOD> <path>"`, and an
/// optional object another replica creates just before our first create of that path.
#[derive(Default)]
pub(super) struct Api {
    pub(super) objects: HashMap<String, Value>,
    requests: Vec<String>,
    bodies: Vec<(String, Value)>,
    version: u64,
    race: HashMap<String, Value>,
}

fn reply(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(body).unwrap()));
    *r.status_mut() = status;
    r
}

fn failure(code: u16, reason: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason,
            "code": code, "message": reason })
}

impl Api {
    fn store(&mut self, path: &str, mut obj: Value) -> Value {
        self.version += 1;
        obj["metadata"]["resourceVersion"] = json!(self.version.to_string());
        self.objects.insert(path.to_owned(), obj.clone());
        obj
    }

    fn handle(&mut self, method: &str, path: &str, query: &str, body: &[u8]) -> Response<Body> {
        self.requests.push(format!("{method} {path}"));
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.bodies
            .push((format!("{method} {path}?{query}"), body.clone()));
        match method {
            "GET" if path == "/apis/operator.kairos.io/v1alpha1/kairosnodes" => {
                let (name, next) = if query.contains("continue=page2") {
                    ("n2", "")
                } else {
                    ("n1", "page2")
                };
                assert!(query.contains("limit=500"), "{query}");
                reply(
                    StatusCode::OK,
                    &json!({
                    "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNodeList",
                    "metadata": { "continue": next },
                    "items": [{ "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
                                "metadata": { "name": name }, "spec": {} }] }),
                )
            }
            "GET" => match self.objects.get(path) {
                Some(obj) => reply(StatusCode::OK, obj),
                None => reply(StatusCode::NOT_FOUND, &failure(404, "NotFound")),
            },
            "POST" => {
                let full = format!("{path}/{}", body["metadata"]["name"].as_str().unwrap_or(""));
                if let Some(theirs) = self.race.remove(&full) {
                    self.store(&full, theirs);
                }
                if self.objects.contains_key(&full) {
                    return reply(StatusCode::CONFLICT, &failure(409, "AlreadyExists"));
                }
                reply(StatusCode::CREATED, &self.store(&full, body))
            }
            "PUT" => {
                let stored = self
                    .objects
                    .get(path)
                    .map(|o| o["metadata"]["resourceVersion"].clone());
                if stored != Some(body["metadata"]["resourceVersion"].clone()) {
                    return reply(StatusCode::CONFLICT, &failure(409, "Conflict"));
                }
                reply(StatusCode::OK, &self.store(path, body))
            }
            // Answers every patch with a minimal object of the patched kind.
            "PATCH" if path.starts_with("/api/v1/nodes/") => reply(
                StatusCode::OK,
                &json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                "metadata": { "name": "n1" } }),
            ),
            "PATCH" => reply(
                StatusCode::OK,
                &json!({
                "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
                "metadata": { "name": "n1", "resourceVersion": "8" }, "spec": {} }),
            ),
            _ => reply(
                StatusCode::METHOD_NOT_ALLOWED,
                &failure(405, "MethodNotAllowed"),
            ),
        }
    }
}

pub(super) fn client(api: Arc<Mutex<Api>>) -> kube::Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let api = api.clone();
        async move {
            let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
            let query = req.uri().query().unwrap_or_default().to_owned();
            let content_type = req
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let body = req.into_body().collect_bytes().await?;
            let mut api = api.lock().unwrap();
            if let Some(ct) = content_type {
                api.requests.push(format!("content-type {ct}"));
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                api.handle(&method, &path, &query, &body),
            )
        }
    });
    kube::Client::new(service, "kairos-system")
}

fn writes(api: &Mutex<Api>) -> usize {
    let api = api.lock().unwrap();
    api.requests
        .iter()
        .filter(|r| r.starts_with("POST") || r.starts_with("PUT"))
        .count()
}

pub(super) fn published(api: &Mutex<Api>) -> String {
    let api = api.lock().unwrap();
    let cm = &api.objects[&format!("{CONFIGMAPS}/kairos-operator-ca")];
    cm["data"]["ca.crt"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn first_start_creates_the_secret_and_the_ca_configmap_then_writes_nothing() {
    let api = Arc::new(Mutex::new(Api::default()));
    let certs = CertStore::new(client(api.clone()), "kairos-system", "kairos-operator");
    let now = Timestamp::now();
    let m = certs.ensure(now).await.unwrap();
    assert_eq!(writes(&api), 2);
    {
        let state = api.lock().unwrap();
        let secret = &state.objects[&format!("{SECRETS}/kairos-operator-grpc-tls")];
        assert_eq!(secret["type"], "kubernetes.io/tls");
        let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ca.crt", "ca.key", "tls.crt", "tls.key"]);
    }
    assert_eq!(published(&api), tls::ca_bundle(&m, None, now));

    let again = certs
        .ensure(now + SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(again, m);
    assert_eq!(writes(&api), 2, "nothing to rotate, nothing written");
}

#[tokio::test]
async fn two_replicas_starting_together_converge_on_one_ca() {
    let api = Arc::new(Mutex::new(Api::default()));
    let now = Timestamp::now();
    let names = tls::serving_names("kairos-operator", "kairos-system");
    // The other replica creates its Secret between our read and our create.
    let theirs = tls::execute(&[tls::Step::CreateAll], None, &names, now).unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": "kairos-operator-grpc-tls" },
        "data": {
            "ca.crt": b64(&theirs.ca_cert), "ca.key": b64(&theirs.ca_key),
            "tls.crt": b64(&theirs.tls_cert), "tls.key": b64(&theirs.tls_key) } });
    api.lock()
        .unwrap()
        .race
        .insert(format!("{SECRETS}/kairos-operator-grpc-tls"), secret);

    let certs = CertStore::new(client(api.clone()), "kairos-system", "kairos-operator");
    let ours = certs.ensure(now).await.unwrap();
    assert_eq!(
        ours.ca_cert, theirs.ca_cert,
        "the loser adopts the winner's CA"
    );
    assert!(published(&api).contains(theirs.ca_cert.trim()));
}

#[tokio::test]
async fn a_serving_certificate_near_its_end_is_renewed_by_the_same_ca() {
    let api = Arc::new(Mutex::new(Api::default()));
    let certs = CertStore::new(client(api.clone()), "kairos-system", "kairos-operator");
    let start = Timestamp::now() - SignedDuration::from_hours(24 * 61);
    let old = certs.ensure(start).await.unwrap();
    let new = certs.ensure(Timestamp::now()).await.unwrap();
    assert_eq!(new.ca_cert, old.ca_cert);
    assert_ne!(new.tls_cert, old.tls_cert);
    let requests = api.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&format!("PUT {SECRETS}/kairos-operator-grpc-tls")),
        "{requests:?}"
    );
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn kube_store_applies_with_its_own_field_managers() {
    let api = Arc::new(Mutex::new(Api::default()));
    let store = KubeStore::new(client(api.clone()));
    store
        .apply_status("n1", &KairosNodeStatus::default(), Some("7"))
        .await
        .unwrap();
    let mut meta = NodeMetadata::default();
    meta.labels
        .insert("kairos.io/managed".into(), "true".into());
    store.apply_node_metadata("n1", &meta).await.unwrap();
    store.apply("n1", "node-uid").await.unwrap();

    let state = api.lock().unwrap();
    let (first, body) = &state.bodies[0];
    assert!(
        first.starts_with("PATCH /apis/operator.kairos.io/v1alpha1/kairosnodes/n1/status?"),
        "{first}"
    );
    assert!(first.contains("fieldManager=kairos-operator-report") && first.contains("force=true"));
    assert_eq!(body["metadata"]["resourceVersion"], "7");
    let (second, body) = &state.bodies[1];
    assert!(second.starts_with("PATCH /api/v1/nodes/n1?"), "{second}");
    assert!(
        second.contains("fieldManager=kairos-operator-labels") && second.contains("force=true")
    );
    assert_eq!(body["metadata"]["labels"]["kairos.io/managed"], "true");
    assert_eq!(
        body["metadata"]["annotations"],
        json!({}),
        "an empty set removes old keys"
    );
    let (third, body) = &state.bodies[2];
    assert!(third.contains("fieldManager=kairos-operator-report") && !third.contains("force"));
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "node-uid");
    assert!(
        state
            .requests
            .contains(&"content-type application/apply-patch+yaml".to_owned())
    );
}

#[tokio::test]
async fn kube_store_lists_every_page() {
    let api = Arc::new(Mutex::new(Api::default()));
    let store = KubeStore::new(client(api.clone()));
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|kn| kn.metadata.name)
        .collect();
    assert_eq!(names, ["n1", "n2"]);
}

#[tokio::test]
async fn a_secret_issued_by_cert_manager_is_served_and_published_never_replaced() {
    let api = Arc::new(Mutex::new(Api::default()));
    let now = Timestamp::now();
    let names = tls::serving_names("kairos-operator", "kairos-system");
    let issued = tls::execute(&[tls::Step::CreateAll], None, &names, now).unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": "kairos-operator-grpc-tls" },
        "data": { "ca.crt": b64(&issued.ca_cert), "tls.crt": b64(&issued.tls_cert),
                  "tls.key": b64(&issued.tls_key) } });
    api.lock()
        .unwrap()
        .store(&format!("{SECRETS}/kairos-operator-grpc-tls"), secret);

    let certs = CertStore::new(client(api.clone()), "kairos-system", "kairos-operator");
    // Even far in the future, when we would rotate our own material.
    let later = now + SignedDuration::from_hours(24 * 80);
    let served = certs.ensure(later).await.unwrap();
    assert_eq!(served.tls_cert, issued.tls_cert);
    assert_eq!(writes(&api), 1, "only the ConfigMap is written");
    assert!(published(&api).contains(issued.ca_cert.trim()));
}
