//! `serviceaccounts/{name}/token` (TokenRequest) and `tokenreviews` (TokenReview). Tokens are
//! JWT-shaped, HMAC-SHA256 signed with a key chosen at random per simulator, and carry the
//! service account, audiences, expiry and the bound pod (name, uid, node). A success is
//! remembered for 10 s ([`super::token_cache`]), as kube-apiserver's token cache does. Reads the
//! clock only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::error::{ApiError, ApiResult};
use super::store::State;

/// The issuer and default audience of simulator tokens (as a default cluster's).
pub(crate) const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The HMAC-SHA256 signature of `data` (empty if the key were refused, which HMAC never does:
/// an empty signature never verifies).
fn sign(key: &[u8], data: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Handles a TokenRequest for service account `ns/name`.
pub(crate) fn request(
    st: &State,
    key: &[u8],
    ns: &str,
    name: &str,
    body: &Value,
) -> ApiResult<Value> {
    let sa = st
        .get("/serviceaccounts", ns, name)
        .ok_or_else(|| ApiError::not_found("serviceaccounts", "", name))?;
    let spec = &body["spec"];
    let exp_secs = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    if exp_secs < 600 {
        return Err(ApiError::invalid(
            "TokenRequest",
            name,
            "spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes",
        ));
    }
    let mut auds: Vec<Value> = spec["audiences"].as_array().cloned().unwrap_or_default();
    if auds.is_empty() {
        auds.push(json!(ISSUER));
    }
    let now = chrono::Utc::now().timestamp();
    let mut k8s = json!({
        "namespace": ns,
        "serviceaccount": {"name": name, "uid": sa["metadata"]["uid"]},
    });
    let bound = &spec["boundObjectRef"];
    if !bound.is_null() {
        if bound["kind"] != "Pod" {
            return Err(ApiError::invalid(
                "TokenRequest",
                name,
                "spec.boundObjectRef.kind: Unsupported value (the simulator binds to pods only)",
            ));
        }
        let pname = bound["name"].as_str().unwrap_or_default();
        let pod = st
            .get("/pods", ns, pname)
            .ok_or_else(|| ApiError::not_found("pods", "", pname))?;
        if pod["spec"]["serviceAccountName"].as_str() != Some(name) {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
            )));
        }
        let puid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        if let Some(u) = bound["uid"].as_str()
            && !u.is_empty()
            && u != puid
        {
            return Err(ApiError::conflict_msg(
                format!(
                    "the UID in the bound object reference ({u}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
                json!({}),
            ));
        }
        k8s["pod"] = json!({"name": pname, "uid": puid});
        if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            let nuid = st
                .get("/nodes", "", node)
                .map(|n| n["metadata"]["uid"].clone())
                .unwrap_or(Value::Null);
            k8s["node"] = json!({"name": node, "uid": nuid});
        }
    }
    // Every token is distinct (`jti`, as real servers issue since 1.29), even two requested in
    // the same second.
    let claims = json!({
        "iss": ISSUER, "sub": format!("system:serviceaccount:{ns}:{name}"), "aud": auds,
        "iat": now, "nbf": now, "exp": now + exp_secs, "kubernetes.io": k8s,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let header = B64.encode(br#"{"alg":"HS256","typ":"JWT","kid":"kube-sim"}"#);
    let payload = B64.encode(claims.to_string());
    let data = format!("{header}.{payload}");
    let token = format!("{data}.{}", sign(key, &data));
    let exp = chrono::DateTime::from_timestamp(now + exp_secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let mut out = body.clone();
    out["kind"] = json!("TokenRequest");
    out["apiVersion"] = json!("authentication.k8s.io/v1");
    out["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
    out["spec"]["audiences"] = json!(auds);
    out["spec"]["expirationSeconds"] = json!(exp_secs);
    out["status"] = json!({"token": token, "expirationTimestamp": exp});
    Ok(out)
}

fn decode(key: &[u8], token: &str) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid bearer token");
    };
    let expected = sign(key, &format!("{h}.{p}"));
    if expected.is_empty() || expected != s {
        return Err("invalid bearer token, square/go-jose: error in cryptographic primitive");
    }
    let raw = B64.decode(p).map_err(|_| "invalid bearer token")?;
    serde_json::from_slice(&raw).map_err(|_| "invalid bearer token")
}

/// Handles a TokenReview: validates signature, expiry, audiences, and that the service account
/// and bound pod still exist with the same UIDs.
pub(crate) fn review(st: &State, key: &[u8], body: &Value) -> Value {
    let token = body["spec"]["token"].as_str().unwrap_or_default();
    let mut want: Vec<String> = body["spec"]["audiences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    if want.is_empty() {
        want.push(ISSUER.into());
    }
    let status = match check(st, key, token, &want) {
        Ok(s) => s,
        Err(e) => json!({"authenticated": false, "user": {}, "error": e}),
    };
    let mut out = body.clone();
    out["kind"] = json!("TokenReview");
    out["apiVersion"] = json!("authentication.k8s.io/v1");
    if out["metadata"].is_null() {
        out["metadata"] = json!({"creationTimestamp": null});
    }
    out["status"] = status;
    out
}

/// Verifies `token` for one of the audiences `want`: signature, expiry, audience, and that the
/// service account and bound pod still exist with the same uids. Returns the TokenReview
/// `status` (`authenticated`, `user`, `audiences`), or the reason it is refused. Used by
/// TokenReview and by the API's own authentication ([`super::authn`]).
pub(crate) fn check(st: &State, key: &[u8], token: &str, want: &[String]) -> Result<Value, String> {
    // The signing key is part of the key: a token is only ever remembered as the server that
    // signed it checked it.
    let cache_key = format!("{}\u{0}{token}\u{0}{}", B64.encode(key), want.join("\u{0}"));
    if let Some(status) = st.token_successes.get(&cache_key) {
        return Ok(status);
    }
    let status = check_now(st, key, token, want)?;
    st.token_successes.put(cache_key, status.clone());
    Ok(status)
}

/// [`check`] without the success cache.
fn check_now(st: &State, key: &[u8], token: &str, want: &[String]) -> Result<Value, String> {
    let c = decode(key, token).map_err(String::from)?;
    let now = chrono::Utc::now().timestamp();
    if c["exp"].as_i64().is_none_or(|e| e < now) {
        return Err("[invalid bearer token, service account token has expired]".into());
    }
    let auds: Vec<String> = c["aud"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    let common: Vec<&String> = auds.iter().filter(|a| want.contains(a)).collect();
    if common.is_empty() {
        return Err(format!(
            "[invalid bearer token, token audiences {auds:?} is invalid for the target audiences {want:?}]"
        ));
    }
    let k = &c["kubernetes.io"];
    let ns = k["namespace"].as_str().unwrap_or_default();
    let sa_name = k["serviceaccount"]["name"].as_str().unwrap_or_default();
    let sa = st
        .get("/serviceaccounts", ns, sa_name)
        .ok_or("[invalid bearer token, service account has been deleted]")?;
    if sa["metadata"]["uid"] != k["serviceaccount"]["uid"] {
        return Err("[invalid bearer token, service account UID does not match]".into());
    }
    let mut extra = json!({});
    if !k["pod"].is_null() {
        let pname = k["pod"]["name"].as_str().unwrap_or_default();
        let pod = st
            .get("/pods", ns, pname)
            .ok_or("[invalid bearer token, pod has been deleted]")?;
        if pod["metadata"]["uid"] != k["pod"]["uid"]
            || !pod["metadata"]["deletionTimestamp"].is_null()
        {
            return Err(
                "[invalid bearer token, pod UID does not match or pod is being deleted]".into(),
            );
        }
        extra["authentication.kubernetes.io/pod-name"] = json!([pname]);
        extra["authentication.kubernetes.io/pod-uid"] = json!([k["pod"]["uid"]]);
        if let Some(n) = k["node"]["name"].as_str() {
            extra["authentication.kubernetes.io/node-name"] = json!([n]);
            extra["authentication.kubernetes.io/node-uid"] = json!([k["node"]["uid"]]);
        }
    }
    Ok(json!({
        "authenticated": true,
        "user": {
            "username": format!("system:serviceaccount:{ns}:{sa_name}"),
            "uid": k["serviceaccount"]["uid"],
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"],
            "extra": extra,
        },
        "audiences": common,
    }))
}

#[cfg(test)]
mod tests;
