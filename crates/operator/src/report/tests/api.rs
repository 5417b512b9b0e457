//! The API server of the report tests: the Kubernetes API simulator ([`kairos_kube_sim`]),
//! started in process on a loopback port, with the report channel's namespace, the agents'
//! service account, their pods and tokens; and a client that records what it sends, for the
//! tests that check the requests themselves (the simulator counts requests, it does not keep
//! their query strings or bodies). Uses 127.0.0.1 only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::Request;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, ServiceAccount};
use kairos_api::names::{AGENT_SERVICE_ACCOUNT, AGENT_TOKEN_AUDIENCE};
use kairos_kube_sim::{SimConfig, SimServer};
use kube::api::{Api, PostParams};
use kube::client::Body;
use serde_json::{Value, json};

/// The namespace the operator runs in.
pub(crate) const NS: &str = "kairos-system";

/// A simulator with the project's CRDs and the namespace [`NS`], and its admin client. Its
/// request log starts empty after that.
pub(crate) async fn start() -> (SimServer, kube::Client) {
    let server = SimServer::start_local(SimConfig::default())
        .await
        .expect("the simulator starts");
    let client = server.client().await.expect("a client of the simulator");
    create(
        &client,
        json!({"metadata": {"name": NS}}),
        Api::<Namespace>::all,
    )
    .await;
    let _ = server.sim().requests().take();
    (server, client)
}

async fn create<K>(client: &kube::Client, object: Value, api: fn(kube::Client) -> Api<K>) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(object).expect("a valid object");
    api(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .expect("the simulator creates it")
}

fn in_ns<K>(client: kube::Client) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    Api::namespaced(client, NS)
}

/// A pod of service account `sa` in [`NS`], on `node` when given.
async fn pod(client: &kube::Client, name: &str, sa: &str, node: Option<&str>) {
    let mut spec = json!({"serviceAccountName": sa,
        "containers": [{"name": "agent", "image": "kairos-node-agent"}]});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    create::<Pod>(
        client,
        json!({"metadata": {"name": name}, "spec": spec}),
        in_ns,
    )
    .await;
}

/// A token of service account `sa` bound to pod `pod`, for `audience` (the API server's own
/// audience when `None`).
async fn token(client: &kube::Client, sa: &str, pod: &str, audience: Option<&str>) -> String {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: audience.map(|a| vec![a.to_owned()]).unwrap_or_default(),
            bound_object_ref: serde_json::from_value(json!({"kind": "Pod", "apiVersion": "v1",
                "name": pod}))
            .expect("a bound object reference"),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    in_ns::<ServiceAccount>(client.clone())
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .expect("the simulator issues a token")
        .status
        .expect("a token")
        .token
}

/// The agents of the report tests, each with a token for the operator's audience, by name:
/// - `tok-n1`: the agent pod `agent-n1`, scheduled on `n1` after its token was issued, so the
///   token names the pod but not the node (as an API server before 1.30 issues them) and the
///   operator reads the node from the pod;
/// - `tok-n2`: the agent pod `agent-n2` on `n2`, whose token names the node;
/// - `tok-default-sa`: a pod on `n1` running as the namespace's `default` service account;
/// - `tok-wrong-audience`: `agent-n2`'s token for the API server's own audience.
pub(crate) async fn agents(client: &kube::Client) -> HashMap<&'static str, String> {
    for node in ["n1", "n2"] {
        create::<Node>(client, json!({"metadata": {"name": node}}), Api::all).await;
    }
    for sa in [AGENT_SERVICE_ACCOUNT, "default"] {
        create::<ServiceAccount>(client, json!({"metadata": {"name": sa}}), in_ns).await;
    }
    pod(client, "agent-n1", AGENT_SERVICE_ACCOUNT, None).await;
    pod(client, "agent-n2", AGENT_SERVICE_ACCOUNT, Some("n2")).await;
    pod(client, "other-n1", "default", Some("n1")).await;
    let audience = Some(AGENT_TOKEN_AUDIENCE);
    let tok_n1 = token(client, AGENT_SERVICE_ACCOUNT, "agent-n1", audience).await;
    let binding =
        json!({"metadata": {"name": "agent-n1"}, "target": {"kind": "Node", "name": "n1"}});
    in_ns::<Pod>(client.clone())
        .create_subresource::<_, Value>("binding", "agent-n1", &PostParams::default(), &binding)
        .await
        .expect("agent-n1 is scheduled on n1");
    HashMap::from([
        ("tok-n1", tok_n1),
        (
            "tok-n2",
            token(client, AGENT_SERVICE_ACCOUNT, "agent-n2", audience).await,
        ),
        (
            "tok-default-sa",
            token(client, "default", "other-n1", audience).await,
        ),
        (
            "tok-wrong-audience",
            token(client, AGENT_SERVICE_ACCOUNT, "agent-n2", None).await,
        ),
    ])
}

/// What a [`recording`] client sent: every request as `"<METHOD> <path>"` (preceded by
/// `"content-type <type>"` when it has a body type), and every body with its method, path and
/// query.
#[derive(Default)]
pub(crate) struct Sent {
    pub(crate) requests: Vec<String>,
    pub(crate) bodies: Vec<(String, Value)>,
    /// A Secret created through the inner client just before the first create of a Secret
    /// passes, as if another replica won the race to create it.
    pub(crate) race: Option<Secret>,
}

/// `client`, recording what it sends in the returned [`Sent`].
pub(crate) fn recording(client: kube::Client) -> (kube::Client, Arc<Mutex<Sent>>) {
    let sent = Arc::new(Mutex::new(Sent::default()));
    let log = sent.clone();
    let service = tower::service_fn(move |req: Request<Body>| {
        let (inner, log) = (client.clone(), log.clone());
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect_bytes().await?;
            let (method, path) = (parts.method.to_string(), parts.uri.path().to_owned());
            let query = parts.uri.query().unwrap_or_default().to_owned();
            let race = {
                let mut log = log.lock().unwrap();
                if let Some(ct) = parts.headers.get("content-type") {
                    log.requests
                        .push(format!("content-type {}", ct.to_str().unwrap_or("")));
                }
                log.requests.push(format!("{method} {path}"));
                let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                log.bodies.push((format!("{method} {path}?{query}"), value));
                let creates_secret = method == "POST" && path.ends_with("/secrets");
                creates_secret.then(|| log.race.take()).flatten()
            };
            if let Some(theirs) = race {
                in_ns::<Secret>(inner.clone())
                    .create(&PostParams::default(), &theirs)
                    .await?;
            }
            inner
                .send(Request::from_parts(parts, Body::from(body)))
                .await
        }
    });
    (kube::Client::new(service, NS), sent)
}
