//! Authentication of node agents: the [`Authenticator`] trait, its TokenReview implementation
//! (I/O: TokenReview create, Pod get), the pure judgement of a TokenReview answer ([`judge`]),
//! and a bounded cache keyed by the token's SHA-256, trusted while the token's pod lives
//! ([`Cached`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::metrics::ReportMetrics;
use super::pods::{LivePods, PodState, UNVOUCHED_FOR};

/// TokenReview extra naming the node the token's pod is bound to (Kubernetes 1.30+).
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
/// TokenReview extra naming the pod the token is bound to.
pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
/// TokenReview extra carrying the UID of the pod the token is bound to.
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";

/// Who an authenticated agent is: the node its token is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The Node the agent's pod runs on; it may report for this node only.
    pub node_name: String,
    /// The UID of the pod the token is bound to, when known: a cached check of the token is
    /// trusted only while that pod lives ([`LivePods`]).
    pub pod_uid: Option<String>,
}

/// Why a token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token is invalid, has the wrong audience or belongs to another identity. Answered
    /// with gRPC `Unauthenticated`. The reason never contains the token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The operator could not check the token (API server unreachable). Answered with gRPC
    /// `Unavailable`: the agent retries.
    #[error("failed to check the token: {0}")]
    Unavailable(String),
}

/// Turns a bearer token into the [`Identity`] it proves.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks `token` and returns who it belongs to.
    ///
    /// # Errors
    /// [`AuthError::Unauthenticated`] for a token that proves nothing acceptable,
    /// [`AuthError::Unavailable`] when the check itself failed.
    fn authenticate(&self, token: &str)
    -> impl Future<Output = Result<Identity, AuthError>> + Send;
}

/// Where the token says its pod is bound, as found in a TokenReview answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binding {
    /// The `node-name` extra names the node directly.
    Node(String),
    /// Only the pod is named: its `spec.nodeName` must be looked up (and its UID checked).
    Pod {
        /// The pod's name, in the agent's service-account namespace.
        name: String,
        /// The pod's UID, when the extra is present.
        uid: Option<String>,
    },
}

/// Judges a TokenReview answer: authenticated, `audience` among the audiences, user exactly
/// `system:serviceaccount:<namespace>:<service_account>`, and bound to a node or pod. Pure.
///
/// # Errors
/// The reason the token is refused, fit for a log line and a gRPC message.
pub fn judge(
    status: &TokenReviewStatus,
    audience: &str,
    namespace: &str,
    service_account: &str,
) -> Result<Binding, String> {
    if status.authenticated != Some(true) {
        let why = status.error.as_deref().unwrap_or("no reason given");
        return Err(format!("token not authenticated: {why}"));
    }
    if !status.audiences.iter().flatten().any(|a| a == audience) {
        return Err(format!("token audience is not {audience:?}"));
    }
    let user = status.user.as_ref();
    let username = user.and_then(|u| u.username.as_deref()).unwrap_or_default();
    let expected = format!("system:serviceaccount:{namespace}:{service_account}");
    if username != expected {
        return Err(format!(
            "token belongs to {username:?}, not to {expected:?}"
        ));
    }
    if let Some(node) = extra(status, EXTRA_NODE_NAME) {
        return Ok(Binding::Node(node));
    }
    match extra(status, EXTRA_POD_NAME) {
        Some(name) => Ok(Binding::Pod {
            name,
            uid: bound_pod_uid(status),
        }),
        None => Err("token is not bound to a pod".to_owned()),
    }
}

/// The first non-empty value of the user extra `key` of a TokenReview answer.
fn extra(status: &TokenReviewStatus, key: &str) -> Option<String> {
    let values = status.user.as_ref()?.extra.as_ref()?.get(key)?;
    values.first().filter(|v| !v.is_empty()).cloned()
}

/// The UID of the pod a TokenReview answer says the token is bound to, if it says. Pure.
pub fn bound_pod_uid(status: &TokenReviewStatus) -> Option<String> {
    extra(status, EXTRA_POD_UID)
}

/// Authenticates with the API server's TokenReview, then resolves the pod's node if needed.
#[derive(Clone)]
pub struct TokenReviewAuthenticator {
    client: kube::Client,
    namespace: String,
    service_account: String,
    metrics: ReportMetrics,
}

impl TokenReviewAuthenticator {
    /// Accepts tokens of `service_account` in `namespace` with audience
    /// [`kairos_api::names::AGENT_TOKEN_AUDIENCE`].
    pub fn new(
        client: kube::Client,
        namespace: String,
        service_account: String,
        metrics: ReportMetrics,
    ) -> Self {
        Self {
            client,
            namespace,
            service_account,
            metrics,
        }
    }
}

impl Authenticator for TokenReviewAuthenticator {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let audience = kairos_api::names::AGENT_TOKEN_AUDIENCE;
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![audience.to_owned()]),
            },
            ..TokenReview::default()
        };
        self.metrics.token_review();
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| AuthError::Unavailable(format!("failed to create a TokenReview: {e}")))?;
        let status = answer.status.unwrap_or_default();
        let binding = judge(&status, audience, &self.namespace, &self.service_account)
            .map_err(AuthError::Unauthenticated)?;
        let mut pod_uid = bound_pod_uid(&status);
        let node_name = match binding {
            Binding::Node(node) => node,
            Binding::Pod { name, uid } => {
                let pods = Api::<Pod>::namespaced(self.client.clone(), &self.namespace);
                let pod = pods.get_opt(&name).await.map_err(|e| {
                    AuthError::Unavailable(format!("failed to get the bound pod {name}: {e}"))
                })?;
                let pod = pod.ok_or_else(|| {
                    AuthError::Unauthenticated(format!("the bound pod {name} does not exist"))
                })?;
                if uid.is_some() && pod.metadata.uid != uid {
                    return Err(AuthError::Unauthenticated(format!(
                        "the bound pod {name} was replaced (its UID changed)"
                    )));
                }
                pod_uid = pod.metadata.uid.clone();
                pod.spec.and_then(|s| s.node_name).ok_or_else(|| {
                    AuthError::Unauthenticated(format!("the bound pod {name} is not scheduled"))
                })?
            }
        };
        Ok(Identity { node_name, pod_uid })
    }
}

/// Caches successful authentications by the SHA-256 of the token, for `ttl` or until the
/// token's own `exp` claim, whichever comes first, and only while the token's pod lives
/// ([`LivePods`]; [`UNVOUCHED_FOR`] when that is not known). Bounded: at most `capacity`
/// entries.
///
/// A projected token is rotated by the kubelet after about 80% of its lifetime (8 minutes for
/// 600 s tokens), so at steady state each agent costs one TokenReview per token, not per report;
/// a token whose pod was deleted is reviewed again (and refused) at its next report.
pub struct Cached<A> {
    inner: A,
    ttl: Duration,
    capacity: usize,
    pods: LivePods,
    /// Token hash -> (identity, valid until, checked at).
    entries: Mutex<HashMap<[u8; 32], (Identity, Instant, Instant)>>,
}

impl<A> Cached<A> {
    /// Wraps `inner`; `pods` vouches for the cached answers' pods.
    pub fn new(inner: A, ttl: Duration, capacity: usize, pods: LivePods) -> Self {
        Self {
            inner,
            ttl,
            capacity: capacity.max(1),
            pods,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, key: &[u8; 32], now: Instant) -> Option<Identity> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (identity, _, checked) = entries.get(key).filter(|(_, until, _)| *until > now)?;
        let trusted = match self.pods.state(identity.pod_uid.as_deref()) {
            PodState::Live => true,
            PodState::Gone => false,
            PodState::Unknown => now.saturating_duration_since(*checked) < UNVOUCHED_FOR,
        };
        trusted.then(|| identity.clone())
    }

    fn store(&self, key: [u8; 32], identity: Identity, until: Instant, now: Instant) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until, _)| *until > now);
        }
        if entries.len() >= self.capacity {
            // Still full of live entries: drop the one that expires first.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (_, u, _))| *u)
                .map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (identity, until, now));
    }
}

impl<A: Authenticator> Authenticator for Cached<A> {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Some(identity) = self.lookup(&key, now) {
            return Ok(identity);
        }
        let identity = self.inner.authenticate(token).await?;
        let ttl = match token_lifetime(token, std::time::SystemTime::now()) {
            Some(left) => left.min(self.ttl),
            None => self.ttl,
        };
        self.store(key, identity.clone(), now + ttl, now);
        Ok(identity)
    }
}

/// Time left until the JWT's `exp` claim, read without checking the signature (the token was
/// just validated by TokenReview). `None` when the token is not a JWT with an `exp`.
fn token_lifetime(token: &str, now: std::time::SystemTime) -> Option<Duration> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = u64::try_from(claims.get("exp")?.as_i64()?).ok()?;
    let exp = std::time::UNIX_EPOCH + Duration::from_secs(exp);
    Some(exp.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests;
