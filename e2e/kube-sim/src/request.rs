//! What a routed request is: the addressed resource ([`Target`]) and everything a handler needs
//! from the HTTP request ([`Call`]), and the JSON responses handlers answer with. No I/O.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::audit::StoredBytes;
use super::authn::UserInfo;
use super::error::{ApiError, ApiResult};
use super::registry::ResourceType;

/// A parsed resource path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The addressed type.
    pub rt: ResourceType,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `eviction`, `token`).
    pub sub: Option<String>,
}

/// Everything a handler needs from the request.
#[derive(Debug)]
pub(crate) struct Call {
    /// HTTP method.
    pub method: Method,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// `Accept` header.
    pub accept: String,
    /// `Content-Type` header.
    pub content_type: String,
    /// Field manager: `fieldManager`, else the User-Agent's product.
    pub manager: String,
    /// The client (the User-Agent's product), for request accounting.
    pub client: String,
    /// Who made the request.
    pub user: UserInfo,
    /// Raw body.
    pub body: bytes::Bytes,
}

impl Call {
    /// The body as JSON (or YAML).
    pub(crate) fn json(&self) -> ApiResult<Value> {
        if self.body.is_empty() {
            return Ok(json!({}));
        }
        if self.content_type.contains("protobuf") {
            // No protobuf decoding: clients fall back to JSON on 415.
            return Err(ApiError::unsupported_media(&self.content_type));
        }
        serde_json::from_slice(&self.body)
            .or_else(|_| serde_yaml::from_slice(&self.body))
            .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
    }

    /// A query flag (`true` or `1`).
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.query.get(k).map(String::as_str), Some("true" | "1"))
    }
}

/// A JSON response with a status code.
pub(crate) fn respond(code: u16, v: Value) -> Response {
    json_response(code, v.to_string())
}

/// The answer to a write that stored `o` (create, update, patch, apply): a JSON response
/// carrying, unless `dry_run`, the size of the stored object ([`StoredBytes`], the length of the
/// same JSON) for the request log.
pub(crate) fn respond_stored(code: u16, o: Value, dry_run: bool) -> Response {
    let body = o.to_string();
    let size = body.len() as u64;
    let mut r = json_response(code, body);
    if !dry_run {
        r.extensions_mut().insert(StoredBytes(size));
    }
    r
}

fn json_response(code: u16, body: String) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}
