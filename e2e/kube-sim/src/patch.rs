//! Patch application: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge
//! patch approximation (merge patch plus merging of well-known keyed lists). Pure: no I/O.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

/// Media types of patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply, see `apply.rs`).
    Apply,
}

impl PatchKind {
    /// Recognises a `Content-Type` header value.
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/json-patch+json" => Some(Self::Json),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to `target`.
pub(crate) fn apply_patch(kind: PatchKind, target: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut out = target.clone();
    match kind {
        PatchKind::Merge => json_patch::merge(&mut out, &patch),
        PatchKind::Strategic => strategic_merge(&mut out, &patch, ""),
        PatchKind::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("error decoding json patch: {e}")))?;
            json_patch::patch(&mut out, &p).map_err(|e| ApiError {
                code: 422,
                reason: "Invalid",
                message: format!(
                    "the server rejected our request due to an error in our request: {e}"
                ),
                details: None,
            })?;
        }
        PatchKind::Apply => return Err(ApiError::internal("apply is not a plain patch")),
    }
    Ok(out)
}

/// Merge key of a list field under strategic merge patch (a subset of the built-in schemas).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "conditions" => Some("type"),
        "containers"
        | "initContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses" => Some("name"),
        "ownerReferences" => Some("uid"),
        "volumeMounts" => Some("mountPath"),
        "taints" => Some("key"),
        "addresses" => Some("type"),
        _ => None,
    }
}

/// Strategic merge patch, approximated: maps merge as in a merge patch, `null` deletes, lists
/// named in [`merge_key`] merge element-wise by their key, `finalizers` is a set union, every other
/// list is replaced; `$patch`/`$retainKeys`/`$setElementOrder` directives are ignored.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(tm) = target.as_object_mut() else {
        return;
    };
    for (k, pv) in pm {
        if k.starts_with('$') {
            continue;
        }
        if pv.is_null() {
            tm.remove(k);
            continue;
        }
        match (tm.get_mut(k), pv) {
            (Some(tv @ Value::Object(_)), Value::Object(_)) => strategic_merge(tv, pv, k),
            (Some(Value::Array(ta)), Value::Array(pa)) if k == "finalizers" => {
                for p in pa {
                    if !ta.contains(p) {
                        ta.push(p.clone());
                    }
                }
            }
            (Some(Value::Array(ta)), Value::Array(pa)) if merge_key(k).is_some() => {
                let key = merge_key(k).unwrap_or_default();
                for p in pa {
                    let pk = &p[key];
                    match ta.iter_mut().find(|t| !pk.is_null() && &t[key] == pk) {
                        Some(t) => strategic_merge(t, p, k),
                        None => ta.push(p.clone()),
                    }
                }
            }
            _ => {
                tm.insert(k.clone(), pv.clone());
            }
        }
    }
    let _ = field;
}

#[cfg(test)]
mod tests;
