//! Permission errors of the operator's API requests. Every request of the operator's client goes
//! through [`PermissionsLayer`], which classifies it the way the API server's authorizer does
//! (verb and resource, see [`classify`]) and keeps a ledger: a 403 Forbidden answer is logged
//! once per (resource, verb) with the API server's own message (it names the user, verb,
//! resource, group and namespace), counted in `kairos_api_forbidden_total{resource,verb}`, shown
//! in `kairos_api_permission_missing{resource,verb}` and holds `/readyz` down until a request of
//! the same (resource, verb) succeeds again. Refused Events are logged and counted but do not
//! hold readiness down: Events are best effort. The ledger is pure; the layer reads the body of
//! a 403 answer (network I/O in passing) and otherwise only looks at the status codes.
//!
//! Resource labels are RBAC's names (`leases.coordination.k8s.io`, `pods/eviction`,
//! `nodeops.operator.kairos.io/status`): bounded by the fixed set of APIs the operator calls.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::http::{Method, Request, Response, StatusCode, Uri};
use futures::future::BoxFuture;
use http_body_util::{BodyExt as _, Full};
use kube::client::{Body, DynBody};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

/// The error type of the client's service stack.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request asks for, in RBAC's terms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Access {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub(crate) verb: &'static str,
    /// The resource with its subresource and group, as RBAC names them: `pods/eviction`,
    /// `leases.coordination.k8s.io`, `nodeops.operator.kairos.io/status`.
    pub(crate) resource: String,
}

impl Access {
    /// Whether a refusal of this access makes the operator not ready (Events do not: they are
    /// best effort, and one refused in a single namespace would never be retried).
    fn blocks_readiness(&self) -> bool {
        self.resource != "events" && !self.resource.starts_with("events.")
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)
    }
}

/// A request's access and namespace (`None`: cluster scope or all namespaces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Classified {
    /// Verb and resource.
    pub(crate) access: Access,
    /// Namespace of the request.
    pub(crate) namespace: Option<String>,
}

/// Classifies an API request as the API server's authorizer does; `None` for non-resource
/// requests (`/version`, discovery). Pure.
pub(crate) fn classify(method: &Method, uri: &Uri) -> Option<Classified> {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (resource, named, subresource) = match rest {
        [resource] => (*resource, false, None),
        [resource, _name] => (*resource, true, None),
        [resource, _name, sub] => (*resource, true, Some(*sub)),
        _ => return None,
    };
    if resource.is_empty() {
        return None;
    }
    let watch = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => return None,
    };
    let mut name = resource.to_owned();
    if !group.is_empty() {
        name = format!("{name}.{group}");
    }
    if let Some(sub) = subresource {
        name = format!("{name}/{sub}");
    }
    Some(Classified {
        access: Access {
            verb,
            resource: name,
        },
        namespace,
    })
}

/// What the API server said when it refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The API server's message.
    pub(crate) message: String,
    /// Namespace of the refused request.
    pub(crate) namespace: Option<String>,
}

/// The accesses refused and not granted since. Pure.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    missing: BTreeMap<Access, Refusal>,
}

impl Ledger {
    /// Records a refusal. Returns true when the access was not already missing (the caller
    /// says so once).
    pub(crate) fn refused(&mut self, access: Access, refusal: Refusal) -> bool {
        self.missing.insert(access, refusal).is_none()
    }

    /// Records a success. Returns the refusal it ends, if any.
    pub(crate) fn allowed(&mut self, access: &Access) -> Option<Refusal> {
        self.missing.remove(access)
    }

    /// Whether no missing access holds readiness down.
    pub(crate) fn ready(&self) -> bool {
        !self.missing.keys().any(Access::blocks_readiness)
    }

    /// The missing accesses, one line each (`list leases.coordination.k8s.io in kairos-system`).
    pub(crate) fn missing(&self) -> Vec<String> {
        self.missing
            .iter()
            .map(|(access, refusal)| match &refusal.namespace {
                Some(ns) => format!("{access} in {ns}"),
                None => access.to_string(),
            })
            .collect()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccessLabels {
    resource: String,
    verb: &'static str,
}

impl From<&Access> for AccessLabels {
    fn from(access: &Access) -> Self {
        Self {
            resource: access.resource.clone(),
            verb: access.verb,
        }
    }
}

/// The shared record of refused accesses: the ledger, its metrics and the readiness signal.
#[derive(Clone)]
pub(crate) struct Permissions {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Mutex<Ledger>,
    refused: Family<AccessLabels, Counter>,
    missing: Family<AccessLabels, Gauge>,
    granted: watch::Sender<bool>,
}

impl Permissions {
    /// Creates the record and registers its metrics in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let refused = Family::<AccessLabels, Counter>::default();
        let missing = Family::<AccessLabels, Gauge>::default();
        registry.register(
            "api_forbidden",
            "API requests refused with 403 Forbidden (the installed RBAC lacks the permission), by resource and verb",
            refused.clone(),
        );
        registry.register(
            "api_permission_missing",
            "1 while requests of this resource and verb are refused with 403 Forbidden, 0 once one succeeds again",
            missing.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                ledger: Mutex::new(Ledger::default()),
                refused,
                missing,
                granted: watch::channel(true).0,
            }),
        }
    }

    /// True while no refused access holds readiness down.
    pub(crate) fn granted(&self) -> watch::Receiver<bool> {
        self.inner.granted.subscribe()
    }

    /// The accesses refused and not granted since, one line each.
    pub(crate) fn missing(&self) -> Vec<String> {
        self.ledger().missing()
    }

    /// The layer to put in front of the API client's service.
    pub(crate) fn layer(&self) -> PermissionsLayer {
        PermissionsLayer {
            permissions: self.clone(),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.inner
            .ledger
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a 403 answer; says so the first time.
    pub(crate) fn refused(&self, request: &Classified, message: &str) {
        let labels = AccessLabels::from(&request.access);
        self.inner.refused.get_or_create(&labels).inc();
        self.inner.missing.get_or_create(&labels).set(1);
        let refusal = Refusal {
            message: message.to_owned(),
            namespace: request.namespace.clone(),
        };
        let (new, ready) = {
            let mut ledger = self.ledger();
            (
                ledger.refused(request.access.clone(), refusal),
                ledger.ready(),
            )
        };
        if new {
            let access = &request.access;
            let namespace = request.namespace.as_deref().unwrap_or("");
            if access.blocks_readiness() {
                tracing::error!(
                    verb = access.verb,
                    resource = %access.resource,
                    namespace,
                    message,
                    "the API server refused a request: the installed RBAC lacks this permission \
                     (see deploy/operator); retrying with backoff, and not ready until it is granted"
                );
            } else {
                tracing::warn!(
                    verb = access.verb,
                    resource = %access.resource,
                    namespace,
                    message,
                    "the API server refused to record an Event: the installed RBAC lacks this \
                     permission (see deploy/operator); Events are best effort"
                );
            }
        }
        self.inner
            .granted
            .send_if_modified(|g| std::mem::replace(g, ready) != ready);
    }

    /// Records a successful answer; ends a refusal of the same access.
    pub(crate) fn allowed(&self, access: &Access) {
        let (ended, ready) = {
            let mut ledger = self.ledger();
            (ledger.allowed(access), ledger.ready())
        };
        if ended.is_some() {
            self.inner
                .missing
                .get_or_create(&AccessLabels::from(access))
                .set(0);
            tracing::info!(verb = access.verb, resource = %access.resource, "permission granted again");
            self.inner
                .granted
                .send_if_modified(|g| std::mem::replace(g, ready) != ready);
        }
    }
}

/// Whether `error` or one of its sources is a 403 Forbidden answer of the API server (already
/// logged once by [`Permissions`], so callers log it at debug level only).
pub(crate) fn is_forbidden(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(kube::Error::Api(status)) = e.downcast_ref::<kube::Error>()
            && status.is_forbidden()
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Logs a failure at WARN, or at DEBUG when it is a permission refusal (which [`Permissions`]
/// already reported once): `warn_unless_forbidden!(&error, field = value, "message")`.
macro_rules! warn_unless_forbidden {
    ($error:expr, $($arg:tt)+) => {
        if $crate::permissions::is_forbidden($error) {
            tracing::debug!($($arg)+)
        } else {
            tracing::warn!($($arg)+)
        }
    };
}
pub(crate) use warn_unless_forbidden;

/// A [`tower::Layer`] that records every API answer in [`Permissions`].
#[derive(Clone)]
pub(crate) struct PermissionsLayer {
    permissions: Permissions,
}

impl<S> tower::Layer<S> for PermissionsLayer {
    type Service = PermissionsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PermissionsService {
            inner,
            permissions: self.permissions.clone(),
        }
    }
}

/// The service of [`PermissionsLayer`].
#[derive(Clone)]
pub(crate) struct PermissionsService<S> {
    inner: S,
    permissions: Permissions,
}

impl<S> tower::Service<Request<Body>> for PermissionsService<S>
where
    S: tower::Service<Request<Body>, Response = Response<Box<DynBody>>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Box<DynBody>>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let classified = classify(request.method(), request.uri());
        let answer = self.inner.call(request);
        let permissions = self.permissions.clone();
        Box::pin(async move {
            let response = match answer.await {
                Ok(response) => response,
                Err(e) => return Err(e),
            };
            let Some(classified) = classified else {
                return Ok(response);
            };
            let status = response.status();
            if status.is_success() {
                permissions.allowed(&classified.access);
                return Ok(response);
            }
            if status != StatusCode::FORBIDDEN {
                return Ok(response);
            }
            // Read the (small) Status for its message, then hand the same bytes on.
            let (parts, body) = response.into_parts();
            let bytes = read_status(body).await;
            permissions.refused(&classified, &status_message(&bytes));
            let body: Box<DynBody> = Box::new(
                Full::new(bytes).map_err(|never: Infallible| -> BoxError { match never {} }),
            );
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// The body of a 403 answer: a `Status` from the API server, a few hundred bytes.
async fn read_status(body: Box<DynBody>) -> axum::body::Bytes {
    body.collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default()
}

/// The `message` of a Kubernetes `Status` body, or the body as text.
fn status_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Status {
        message: Option<String>,
    }
    serde_json::from_slice::<Status>(body)
        .ok()
        .and_then(|s| s.message)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod tests;
