//! Request-dependent shaping and checks: `Accept` negotiation (Table, PartialObjectMetadata) and
//! `fieldValidation=Strict`. Pure: no I/O.

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::request::{Call, Target};

/// `fieldValidation=Strict` (kubectl's default): unknown fields of a custom resource are a 400
/// instead of being pruned silently.
pub(crate) fn strict_check(t: &Target, call: &Call, obj: &Value) -> ApiResult<()> {
    let strict = call.query.get("fieldValidation").map(String::as_str) == Some("Strict");
    let unknown = match t.rt.schema.as_deref().filter(|_| strict) {
        Some(schema) => super::schema::unknown_fields(schema, obj),
        None => vec![],
    };
    if unknown.is_empty() {
        Ok(())
    } else {
        let list: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            list.join(", ")
        )))
    }
}

/// `Accept: ...;as=PartialObjectMetadata[List];g=meta.k8s.io;v=v1` (kube's metadata API).
pub(crate) fn wants_metadata(call: &Call) -> bool {
    call.accept.contains("as=PartialObjectMetadata")
}

/// An object reduced to `PartialObjectMetadata`.
pub(crate) fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

/// `Accept: ...;as=Table;g=meta.k8s.io` (kubectl get).
pub(crate) fn wants_table(call: &Call) -> bool {
    call.accept.contains("as=Table")
}

#[cfg(test)]
mod tests;
