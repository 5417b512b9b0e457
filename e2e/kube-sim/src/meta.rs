//! Object metadata helpers: timestamps, UIDs, `generateName` suffixes, name validation and
//! built-in defaults the real API server applies on create. Reads the clock and the RNG only.

use rand::Rng;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::registry::ResourceType;

/// Now, as an RFC 3339 timestamp with second precision (`metav1.Time`).
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `now + secs` in the same format.
pub(crate) fn now_plus(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A fresh random UID.
pub(crate) fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The 5-character suffix of `generateName` (the real server's alphabet).
pub(crate) fn name_suffix() -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHA[rng.random_range(0..ALPHA.len())] as char)
        .collect()
}

/// Validates an object name as a DNS-1123 subdomain (what most kinds require).
pub(crate) fn validate_name(kind: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            kind,
            name,
            format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ))
    }
}

/// Validates an object name as a path segment (what the RBAC kinds require, so that
/// `system:discovery` is a valid name): not empty, `.` or `..`, and without `/` or `%`.
pub(crate) fn validate_path_segment_name(kind: &str, name: &str) -> ApiResult<()> {
    let why = match name {
        "" => Some("Required value: name or generateName is required".to_string()),
        "." | ".." => Some(format!("Invalid value: \"{name}\": may not be '{name}'")),
        _ if name.contains('/') => Some(format!("Invalid value: \"{name}\": may not contain '/'")),
        _ if name.contains('%') => Some(format!("Invalid value: \"{name}\": may not contain '%'")),
        _ => None,
    };
    match why {
        Some(why) => Err(ApiError::invalid(
            kind,
            name,
            format!("metadata.name: {why}"),
        )),
        None => Ok(()),
    }
}

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut() {
        m.entry(key.to_string()).or_insert(v);
    }
}

/// Built-in defaults and required fields of the kinds the simulator knows (a subset of the real
/// server's defaulting and validation).
pub(crate) fn builtin_defaults(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "pods") => {
            pod_spec_defaults(&rt.kind, &name, &mut obj["spec"], "spec")?;
            set_default(&mut obj["spec"], "serviceAccountName", json!("default"));
        }
        ("", "namespaces") => {
            let labels = &mut obj["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        ("batch", "jobs") => job_defaults(rt, obj, &name)?,
        ("policy", "poddisruptionbudgets") => {
            let errs = super::selectors::label_selector_object_errors(
                &obj["spec"]["selector"],
                "spec.selector",
            );
            if !errs.is_empty() {
                return Err(ApiError::invalid_fields(&rt.group, &rt.kind, &name, &errs));
            }
        }
        _ => {}
    }
    Ok(())
}

fn pod_spec_defaults(kind: &str, name: &str, spec: &mut Value, path: &str) -> ApiResult<()> {
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        return Err(ApiError::invalid(
            kind,
            name,
            format!("{path}.containers: Required value"),
        ));
    }
    for (i, c) in containers.iter().enumerate() {
        for f in ["name", "image"] {
            if c[f].as_str().is_none_or(str::is_empty) {
                return Err(ApiError::invalid(
                    kind,
                    name,
                    format!("{path}.containers[{i}].{f}: Required value"),
                ));
            }
        }
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    Ok(())
}

fn job_defaults(rt: &ResourceType, obj: &mut Value, name: &str) -> ApiResult<()> {
    let uid = obj["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let rp = obj["spec"]["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if rp != "Never" && rp != "OnFailure" {
        return Err(ApiError::invalid(
            &rt.kind,
            name,
            format!(
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\" (got {rp:?})"
            ),
        ));
    }
    pod_spec_defaults(
        &rt.kind,
        name,
        &mut obj["spec"]["template"]["spec"],
        "spec.template.spec",
    )?;
    let spec = &mut obj["spec"];
    for (k, v) in [
        ("parallelism", json!(1)),
        ("completions", json!(1)),
        ("backoffLimit", json!(6)),
        ("completionMode", json!("NonIndexed")),
        ("suspend", json!(false)),
    ] {
        set_default(spec, k, v);
    }
    let ids = json!({
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
        "controller-uid": uid, "job-name": name,
    });
    if spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    }
    let tl = &mut spec["template"]["metadata"]["labels"];
    if !tl.is_object() {
        *tl = json!({});
    }
    for (k, v) in ids.as_object().into_iter().flatten() {
        tl[k] = v.clone();
    }
    let tl = tl.clone();
    if obj["metadata"]["labels"]
        .as_object()
        .is_none_or(|m| m.is_empty())
    {
        obj["metadata"]["labels"] = tl;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
