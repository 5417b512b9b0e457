//! Tests of [`CertStore::ensure`] against the API simulator, which keeps Secrets and ConfigMaps
//! with resource versions and answers conflicts like the real server, and of the requests
//! [`KubeStore`] sends. Uses 127.0.0.1 only.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::names::{CA_CONFIGMAP, CA_CONFIGMAP_KEY, TLS_SECRET};
use kairos_api::v1alpha1::{KairosNode, KairosNodeSpec, KairosNodeStatus};
use kairos_core::node_labels::NodeMetadata;
use kairos_kube_sim::SimServer;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::api::{self, NS, recording};
use crate::report::certs::CertStore;
use crate::report::store::{KubeStore, Store, Watched};
use crate::report::tls;

const SECRETS: &str = "/api/v1/namespaces/kairos-system/secrets";

/// How many creates and updates the simulator served since it started (after
/// [`api::start`]'s own) or since the last [`kairos_kube_sim::RequestLog::take`].
fn writes(server: &SimServer) -> u64 {
    (server.sim().requests().snapshot())
        .iter()
        .filter(|(k, _)| matches!(k.verb, "create" | "update"))
        .map(|(_, n)| n)
        .sum()
}

/// The CA bundle published in the ConfigMap.
pub(super) async fn published(client: &kube::Client) -> String {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), NS)
        .get(CA_CONFIGMAP)
        .await
        .unwrap();
    cm.data.unwrap()[CA_CONFIGMAP_KEY].clone()
}

fn secret(client: &kube::Client) -> Api<Secret> {
    Api::namespaced(client.clone(), NS)
}

#[tokio::test]
async fn first_start_creates_the_secret_and_the_ca_configmap_then_writes_nothing() {
    let (server, client) = api::start().await;
    let certs = CertStore::new(client.clone(), "kairos-system", "kairos-operator");
    let now = Timestamp::now();
    let m = certs.ensure(now).await.unwrap();
    assert_eq!(writes(&server), 2);
    let stored = secret(&client).get(TLS_SECRET).await.unwrap();
    assert_eq!(stored.type_.as_deref(), Some("kubernetes.io/tls"));
    let keys: Vec<String> = stored.data.unwrap().into_keys().collect();
    assert_eq!(keys, ["ca.crt", "ca.key", "tls.crt", "tls.key"]);
    assert_eq!(published(&client).await, tls::ca_bundle(&m, None, now));

    let again = certs
        .ensure(now + SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(again, m);
    assert_eq!(writes(&server), 2, "nothing to rotate, nothing written");
}

#[tokio::test]
async fn two_replicas_starting_together_converge_on_one_ca() {
    let (_server, client) = api::start().await;
    let now = Timestamp::now();
    let names = tls::serving_names("kairos-operator", "kairos-system");
    // The other replica creates its Secret between our read and our create: the recording
    // client creates it just before our create reaches the simulator.
    let theirs = tls::execute(&[tls::Step::CreateAll], None, &names, now).unwrap();
    let their_secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": "kairos-operator-grpc-tls" },
        "data": {
            "ca.crt": b64(&theirs.ca_cert), "ca.key": b64(&theirs.ca_key),
            "tls.crt": b64(&theirs.tls_cert), "tls.key": b64(&theirs.tls_key) } });
    let (ours_client, sent) = recording(client.clone());
    sent.lock().unwrap().race = Some(serde_json::from_value(their_secret).unwrap());

    let certs = CertStore::new(ours_client, "kairos-system", "kairos-operator");
    let ours = certs.ensure(now).await.unwrap();
    assert_eq!(
        ours.ca_cert, theirs.ca_cert,
        "the loser adopts the winner's CA"
    );
    assert!(published(&client).await.contains(theirs.ca_cert.trim()));
}

#[tokio::test]
async fn a_serving_certificate_near_its_end_is_renewed_by_the_same_ca() {
    let (_server, client) = api::start().await;
    let (client, sent) = recording(client);
    let certs = CertStore::new(client, "kairos-system", "kairos-operator");
    let start = Timestamp::now() - SignedDuration::from_hours(24 * 61);
    let old = certs.ensure(start).await.unwrap();
    let new = certs.ensure(Timestamp::now()).await.unwrap();
    assert_eq!(new.ca_cert, old.ca_cert);
    assert_ne!(new.tls_cert, old.tls_cert);
    let requests = sent.lock().unwrap().requests.clone();
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
    let (_server, client) = api::start().await;
    let node = Api::<Node>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap(),
        )
        .await
        .unwrap();
    let node_uid = node.metadata.uid.unwrap();
    let kn = Api::<KairosNode>::all(client.clone())
        .create(
            &PostParams::default(),
            &KairosNode::new("n1", KairosNodeSpec::default()),
        )
        .await
        .unwrap();
    let rv = kn.metadata.resource_version.unwrap();
    let (client, sent) = recording(client);
    let store = KubeStore::new(client, Watched::unlisted());
    store
        .apply_status("n1", &KairosNodeStatus::default(), Some(&rv))
        .await
        .unwrap();
    let mut meta = NodeMetadata::default();
    meta.labels
        .insert("kairos.io/managed".into(), "true".into());
    store.apply_node_metadata("n1", &meta).await.unwrap();
    store.apply("n1", &node_uid).await.unwrap();

    let sent = sent.lock().unwrap();
    let (first, body) = &sent.bodies[0];
    assert!(
        first.starts_with("PATCH /apis/operator.kairos.io/v1alpha1/kairosnodes/n1/status?"),
        "{first}"
    );
    assert!(first.contains("fieldManager=kairos-operator-report") && first.contains("force=true"));
    assert_eq!(body["metadata"]["resourceVersion"], rv.as_str());
    let (second, body) = &sent.bodies[1];
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
    let (third, body) = &sent.bodies[2];
    assert!(third.contains("fieldManager=kairos-operator-report") && !third.contains("force"));
    assert_eq!(
        body["metadata"]["ownerReferences"][0]["uid"],
        node_uid.as_str()
    );
    assert!(
        sent.requests
            .contains(&"content-type application/apply-patch+yaml".to_owned())
    );
}

#[tokio::test]
async fn kube_store_lists_every_page() {
    let (_server, client) = api::start().await;
    // One more than a page.
    let expected: Vec<String> = (0..501).map(|i| format!("n{i:03}")).collect();
    let kairos_nodes = Api::<KairosNode>::all(client.clone());
    futures::stream::iter(&expected)
        .map(|name| {
            let kn = KairosNode::new(name, KairosNodeSpec::default());
            let api = kairos_nodes.clone();
            async move { api.create(&PostParams::default(), &kn).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let (client, sent) = recording(client);
    let store = KubeStore::new(client, Watched::unlisted());
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|kn| kn.metadata.name.clone())
        .collect();
    assert_eq!(names, expected);
    let sent = sent.lock().unwrap();
    let lists: Vec<&String> = (sent.bodies.iter())
        .map(|(request, _)| request)
        .filter(|r| r.starts_with("GET /apis/operator.kairos.io/v1alpha1/kairosnodes?"))
        .collect();
    assert_eq!(lists.len(), 2, "two pages: {lists:?}");
    assert!(lists.iter().all(|r| r.contains("limit=500")), "{lists:?}");
    assert!(lists[1].contains("continue="), "{lists:?}");
}

#[tokio::test]
async fn a_secret_issued_by_cert_manager_is_served_and_published_never_replaced() {
    let (server, client) = api::start().await;
    let now = Timestamp::now();
    let names = tls::serving_names("kairos-operator", "kairos-system");
    let issued = tls::execute(&[tls::Step::CreateAll], None, &names, now).unwrap();
    let issued_secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": "kairos-operator-grpc-tls" },
        "data": { "ca.crt": b64(&issued.ca_cert), "tls.crt": b64(&issued.tls_cert),
                  "tls.key": b64(&issued.tls_key) } });
    secret(&client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(issued_secret).unwrap(),
        )
        .await
        .unwrap();
    let _ = server.sim().requests().take();

    let certs = CertStore::new(client.clone(), "kairos-system", "kairos-operator");
    // Even far in the future, when we would rotate our own material.
    let later = now + SignedDuration::from_hours(24 * 80);
    let served = certs.ensure(later).await.unwrap();
    assert_eq!(served.tls_cert, issued.tls_cert);
    assert_eq!(writes(&server), 1, "only the ConfigMap is written");
    assert!(published(&client).await.contains(issued.ca_cert.trim()));
}
