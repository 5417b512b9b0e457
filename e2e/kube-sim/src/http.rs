//! HTTP front of the simulator: authenticates and authorizes every request, parses Kubernetes API
//! paths and query parameters and dispatches to discovery, CRUD, patch/apply, watch, eviction,
//! token and access-review handlers. Does network I/O.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::attributes::{self, Attributes};
use super::audit::{self, RequestKey, StoredBytes, StoredKey};
use super::authn;
use super::discovery;
use super::error::{ApiError, ApiResult};
use super::handlers;
use super::openapi;
use super::request::{Call, Target};
use super::sim::Sim;

/// Serves every request.
pub(crate) async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad_request(format!("failed to read body: {e}")).into_response();
        }
    };
    let h = |n: header::HeaderName| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let path = parts.uri.path().to_string();
    let attrs = attributes::parse(parts.method.as_str(), &path, &query);
    let ua = h(header::USER_AGENT);
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match authn::authenticate(&sim.lock(), &sim.key, authorization) {
        Ok(u) => u,
        Err(e) => {
            record(&sim, "", &audit::client_of(&ua), &attrs, e.code);
            return e.into_response();
        }
    };
    let manager = query
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| ua.split('/').next().unwrap_or("unknown").to_string());
    let call = Call {
        method: parts.method,
        query,
        accept: h(header::ACCEPT),
        content_type: h(header::CONTENT_TYPE),
        manager,
        client: audit::client_of(&ua),
        user,
        body,
    };
    tracing::debug!(method = %call.method, %path, user = %call.user.name, "kube-sim request");
    if sim.list_gate().any_held()
        && call.method == Method::GET
        && !call.flag("watch")
        && let Some(plural) = list_plural(&sim, &path)
    {
        // Waits without any lock, on this connection's task only.
        sim.list_gate().pass(&plural).await;
    }
    if let Err(e) = sim.authorize(&call.user, &attrs) {
        record(&sim, &call.user.name, &call.client, &attrs, e.code);
        return e.into_response();
    }
    match route(&sim, &path, call, &attrs) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Counts a resource request refused before it was routed (401, 403).
fn record(sim: &Sim, user: &str, client: &str, a: &Attributes, code: u16) {
    if a.is_resource_request() {
        sim.requests().record(RequestKey {
            user: user.to_string(),
            client: client.to_string(),
            verb: audit::verb_name(&a.verb),
            resource: a.resource.clone(),
            subresource: a.subresource.clone(),
            code,
        });
    }
}

fn ok_json(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn route(sim: &Arc<Sim>, path: &str, call: Call, attrs: &Attributes) -> ApiResult<Response> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let reg = || sim.lock().registry.clone();
    match segs.as_slice() {
        [] => Ok(ok_json(
            json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
        )),
        ["version"] => Ok(ok_json(discovery::version())),
        // An empty protobuf message is a valid, empty OpenAPI v2 document: kubectl then finds no
        // schema for any kind and skips client-side validation.
        ["openapi", "v2"] => Ok(Response::builder()
            .status(200)
            .header(
                header::CONTENT_TYPE,
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .body(Body::empty())
            .unwrap_or_default()),
        // No per-group-version documents: kubectl falls back to its CRD check for custom kinds.
        ["openapi", "v3"] => Ok(ok_json(openapi::root(&reg()))),
        ["openapi", "v3", "api", v] => openapi::group_version(&reg(), "", v)
            .map(ok_json)
            .ok_or_else(|| ApiError::no_route(path)),
        ["openapi", "v3", "apis", g, v] => openapi::group_version(&reg(), g, v)
            .map(ok_json)
            .ok_or_else(|| ApiError::no_route(path)),
        ["healthz" | "livez" | "readyz", ..] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => Ok(ok_json(discovery::core_versions(&sim.server_address()))),
        ["api", "v1"] => discovery::resource_list(&reg(), "", "v1")
            .map(ok_json)
            .ok_or_else(|| ApiError::no_route(path)),
        ["apis"] => Ok(ok_json(discovery::group_list(&reg()))),
        ["apis", g] => discovery::group(&reg(), g)
            .map(ok_json)
            .ok_or_else(|| ApiError::no_route(path)),
        ["apis", g, v] => discovery::resource_list(&reg(), g, v)
            .map(ok_json)
            .ok_or_else(|| ApiError::no_route(path)),
        ["api", "v1", rest @ ..] => dispatch(sim, target(sim, "", "v1", rest, path)?, call, attrs),
        ["apis", g, v, rest @ ..] => dispatch(sim, target(sim, g, v, rest, path)?, call, attrs),
        _ => Err(ApiError::no_route(path)),
    }
}

fn target(
    sim: &Arc<Sim>,
    group: &str,
    version: &str,
    rest: &[&str],
    path: &str,
) -> ApiResult<Target> {
    let is_ns_sub = rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (ns, r) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 && !is_ns_sub {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (Some(plural), name, sub) = (r.first(), r.get(1), r.get(2)) else {
        return Err(ApiError::no_route(path));
    };
    if r.len() > 3 {
        return Err(ApiError::no_route(path));
    }
    let rt = sim
        .lock()
        .registry
        .find(group, version, plural)
        .cloned()
        .ok_or_else(|| ApiError::no_route(path))?;
    if (!rt.namespaced && ns.is_some()) || (rt.namespaced && ns.is_none() && name.is_some()) {
        return Err(ApiError::no_route(path));
    }
    if let Some(s) = sub {
        let ok = (*s == "status" && rt.status_subresource)
            || rt.extra_subresources.contains(s)
            || (*s == "finalize" && rt.plural == "namespaces");
        if !ok {
            return Err(ApiError::no_route(path));
        }
    }
    Ok(Target {
        rt,
        namespace: ns,
        name: name.map(|s| s.to_string()),
        sub: sub.map(|s| s.to_string()),
    })
}

/// The plural name when `path` addresses a collection (a GET of it is a LIST).
fn list_plural(sim: &Arc<Sim>, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let t = match segs.as_slice() {
        ["api", "v1", rest @ ..] => target(sim, "", "v1", rest, path),
        ["apis", g, v, rest @ ..] => target(sim, g, v, rest, path),
        _ => return None,
    }
    .ok()?;
    (t.name.is_none()).then_some(t.rt.plural)
}

fn dispatch(sim: &Arc<Sim>, t: Target, call: Call, attrs: &Attributes) -> ApiResult<Response> {
    let key = RequestKey {
        user: call.user.name.clone(),
        client: call.client.clone(),
        verb: audit::verb_name(&attrs.verb),
        resource: t.rt.plural.clone(),
        subresource: t.sub.clone().unwrap_or_default(),
        code: 0,
    };
    let result = if key.is_write() && sim.writes_fail(&key.resource) {
        Err(ApiError::unavailable(format!(
            "writes of {} are failing (kube-sim fault)",
            key.resource
        )))
    } else if call.body.len() > sim.max_body_bytes {
        // The real handlers read at most `MaxRequestBodyBytes` of a body, after authorization.
        Err(ApiError::request_entity_too_large(sim.max_body_bytes))
    } else {
        serve(sim, t, call)
    };
    let code = match &result {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.code,
    };
    if let Ok(r) = &result
        && let Some(StoredBytes(bytes)) = r.extensions().get::<StoredBytes>()
        && (200..300).contains(&code)
    {
        sim.requests().record_stored(
            StoredKey {
                client: key.client.clone(),
                resource: key.resource.clone(),
                subresource: key.subresource.clone(),
            },
            *bytes,
        );
    }
    sim.requests().record(RequestKey { code, ..key });
    result
}

fn serve(sim: &Arc<Sim>, t: Target, call: Call) -> ApiResult<Response> {
    let sub = t.sub.as_deref().unwrap_or_default();
    match (&call.method, t.name.is_some(), sub) {
        (&Method::GET, false, _) if call.flag("watch") => handlers::watch(sim, &t, &call),
        (&Method::GET, false, _) => handlers::list(sim, &t, &call),
        (&Method::GET, true, "" | "status") => handlers::get(sim, &t, &call),
        (&Method::POST, false, _) => handlers::create(sim, &t, &call),
        (&Method::POST, true, "eviction") => handlers::evict(sim, &t, &call),
        (&Method::POST, true, "binding") => handlers::bind(sim, &t, &call),
        (&Method::POST, true, "token") => handlers::token(sim, &t, &call),
        (&Method::PUT, true, "" | "status" | "finalize") => handlers::update(sim, &t, &call),
        (&Method::PATCH, true, "" | "status") => handlers::patch(sim, &t, &call),
        (&Method::DELETE, true, "") => handlers::delete(sim, &t, &call),
        (&Method::DELETE, false, _) => handlers::delete_collection(sim, &t, &call),
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "method {m} is not supported on this resource"
        ))),
    }
}
