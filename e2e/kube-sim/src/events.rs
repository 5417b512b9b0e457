//! Events as one store seen through two APIs, as on a real server: `core/v1` Events are stored,
//! and `events.k8s.io/v1` Events are converted to that form on write and back on read (the
//! field mapping of Kubernetes' `pkg/apis/events/v1` conversion), with the stricter validation
//! the newer API applies on create. No I/O.

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::registry::ResourceType;

/// The group of the newer Events API.
pub(crate) const GROUP: &str = "events.k8s.io";

/// Fields named differently by the two APIs: (`events.k8s.io/v1`, `core/v1`). Every other field
/// (`eventTime`, `series`, `action`, `reason`, `type`, `related`, `reportingInstance`,
/// `metadata`) has the same name and shape in both.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// Whether `rt` is the `events.k8s.io` view of the Event store.
pub(crate) fn is_new_api(rt: &ResourceType) -> bool {
    rt.group == GROUP && rt.plural == "events"
}

fn rename(obj: &Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Some(m) = obj.as_object() else {
        return obj.clone();
    };
    let mut out: Map<String, Value> = m.clone();
    for (from, to) in pairs {
        // A field of the other API's name has no place in this one: the real decoder drops it.
        out.remove(to);
        if let Some(v) = m.get(from) {
            out.remove(from);
            out.insert(to.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// An `events.k8s.io/v1` Event in the stored `core/v1` form.
pub(crate) fn to_core(obj: &Value) -> Value {
    let mut o = rename(obj, RENAMED.iter().copied());
    o["apiVersion"] = json!("v1");
    o["kind"] = json!("Event");
    o
}

/// A stored `core/v1` Event as `events.k8s.io/v1` shows it.
pub(crate) fn from_core(obj: &Value) -> Value {
    let mut o = rename(obj, RENAMED.iter().map(|(new, old)| (*old, *new)));
    o["apiVersion"] = json!(format!("{GROUP}/v1"));
    o["kind"] = json!("Event");
    o
}

/// A stored object as the API of `rt` shows it, copied only when that differs from how it is
/// stored.
pub(crate) fn presented<'a>(rt: &ResourceType, obj: &'a Value) -> std::borrow::Cow<'a, Value> {
    if !is_new_api(rt) && obj["apiVersion"].as_str() == Some(rt.api_version().as_str()) {
        std::borrow::Cow::Borrowed(obj)
    } else {
        std::borrow::Cow::Owned(present(rt, obj.clone()))
    }
}

/// A stored object as the API of `rt` shows it.
pub(crate) fn present(rt: &ResourceType, mut obj: Value) -> Value {
    if is_new_api(rt) {
        return from_core(&obj);
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj
}

fn set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_i64() != Some(0),
        Value::Object(m) => m.values().any(set),
        _ => true,
    }
}

/// The field errors every Event write gets, through either API (`obj` in the stored form; the
/// real `legacyValidateEvent`): the Event's namespace agrees with its object's, and an Event
/// with an `eventTime` (a newer-style one) names its reporter, action and reason.
pub(crate) fn legacy_errors(obj: &Value) -> Vec<String> {
    let mut errs = vec![];
    let s = |k: &str| obj[k].as_str().unwrap_or_default();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let regarding_ns = obj["involvedObject"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mismatch = format!(
        "involvedObject.namespace: Invalid value: \"{regarding_ns}\": does not match event.namespace"
    );
    if !set(&obj["eventTime"]) {
        let agrees = if regarding_ns.is_empty() {
            matches!(ns, "" | "default")
        } else {
            ns == regarding_ns
        };
        if !agrees {
            errs.push(mismatch);
        }
        return errs;
    }
    if regarding_ns.is_empty() && !matches!(ns, "default" | "kube-system") {
        errs.push(mismatch);
    }
    for (field, stored, limit) in [
        ("reportingController", "reportingComponent", usize::MAX),
        ("reportingInstance", "reportingInstance", 128),
        ("action", "action", 128),
        ("reason", "reason", 128),
    ] {
        let v = s(stored);
        if v.is_empty() {
            errs.push(format!("{field}: Required value"));
        } else if v.len() > limit {
            errs.push(format!(
                "{field}: Invalid value: \"\": can have at most {limit} characters"
            ));
        }
    }
    if s("message").len() > 1024 {
        errs.push("message: Invalid value: \"\": can have at most 1024 characters".to_owned());
    }
    errs
}

/// Refuses a write of a stored (`core/v1`) Event that [`legacy_errors`] finds fault with.
///
/// # Errors
/// 422 Invalid naming the fields.
pub(crate) fn check_stored(rt: &ResourceType, obj: &Value) -> ApiResult<()> {
    if !(rt.group.is_empty() && rt.plural == "events") {
        return Ok(());
    }
    let errs = legacy_errors(obj);
    if errs.is_empty() {
        return Ok(());
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid_fields("", "Event", name, &errs))
}

/// The field errors of a create through `events.k8s.io/v1` (`obj` in the stored form): besides
/// [`legacy_errors`], the newer API requires `eventTime` and a `Normal` or `Warning` type, and
/// refuses the deprecated fields (the real `ValidateEventCreate`, which names the fields as the
/// stored form does).
pub(crate) fn create_errors(obj: &Value) -> Vec<String> {
    let mut errs = legacy_errors(obj);
    if !set(&obj["eventTime"]) {
        errs.push("eventTime: Required value".to_owned());
    }
    let ty = obj["type"].as_str().unwrap_or_default();
    if !matches!(ty, "Normal" | "Warning") {
        errs.push(format!(
            "type: Invalid value: \"\": has invalid value: {ty}"
        ));
    }
    for k in ["firstTimestamp", "lastTimestamp", "count", "source"] {
        if set(&obj[k]) {
            errs.push(format!("{k}: Invalid value: \"\": needs to be unset"));
        }
    }
    if let Some(series) = obj.get("series").filter(|v| !v.is_null()) {
        if series["count"].as_i64().unwrap_or(0) < 2 {
            errs.push("series.count: Invalid value: \"\": should be at least 2".to_owned());
        }
        if !set(&series["lastObservedTime"]) {
            errs.push("series.lastObservedTime: Required value".to_owned());
        }
    }
    errs
}

#[cfg(test)]
mod tests;
