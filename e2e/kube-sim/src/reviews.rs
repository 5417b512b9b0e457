//! `selfsubjectaccessreviews` and `subjectaccessreviews` (`authorization.k8s.io/v1`): ask the
//! RBAC authorizer whether the requesting user, or a given user, may do something (what
//! `kubectl auth can-i` sends). The answers are not counted as decisions in the permission log.
//! No I/O.

use serde_json::{Value, json};

use super::attributes::Attributes;
use super::authn::UserInfo;
use super::error::{ApiError, ApiResult};
use super::rbac::{self, Decision, Grant, Policy};

fn attributes_of(spec: &Value) -> ApiResult<Attributes> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let r = &spec["resourceAttributes"];
    let n = &spec["nonResourceAttributes"];
    match (r.is_object(), n.is_object()) {
        (true, false) => Ok(Attributes {
            verb: s(&r["verb"]),
            api_group: s(&r["group"]),
            resource: s(&r["resource"]),
            subresource: s(&r["subresource"]),
            namespace: s(&r["namespace"]),
            name: s(&r["name"]),
            path: None,
        }),
        (false, true) => Ok(Attributes::non_resource(&s(&n["verb"]), &s(&n["path"]))),
        _ => Err(ApiError::invalid(
            "SubjectAccessReview",
            "",
            "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

fn status(decision: &Decision) -> Value {
    match decision {
        Decision::Allow(Grant::PrivilegedGroup) => json!({"allowed": true}),
        Decision::Allow(Grant::Rule(r)) => {
            json!({"allowed": true, "reason": format!("RBAC: allowed by {r}")})
        }
        Decision::Deny { reason } if reason.is_empty() => json!({"allowed": false}),
        Decision::Deny { reason } => json!({"allowed": false, "reason": reason}),
    }
}

fn answer(body: &Value, kind: &str, decision: &Decision) -> Value {
    let mut out = body.clone();
    out["kind"] = json!(kind);
    out["apiVersion"] = json!("authorization.k8s.io/v1");
    out["metadata"] = json!({"creationTimestamp": null});
    out["status"] = status(decision);
    out
}

/// Answers a SelfSubjectAccessReview of `user`.
///
/// # Errors
/// 422 when the spec has neither or both of `resourceAttributes` and `nonResourceAttributes`.
pub(crate) fn self_review(user: &UserInfo, body: &Value, policy: &Policy<'_>) -> ApiResult<Value> {
    let a = attributes_of(&body["spec"])?;
    let decision = rbac::authorize(user, &a, policy);
    Ok(answer(body, "SelfSubjectAccessReview", &decision))
}

/// Answers a SubjectAccessReview of the user its spec names (`user`, `groups`, `uid`, `extra`).
///
/// # Errors
/// 422 when the spec names neither a user nor a group, or has neither or both kinds of
/// attributes.
pub(crate) fn review(body: &Value, policy: &Policy<'_>) -> ApiResult<Value> {
    let spec = &body["spec"];
    let a = attributes_of(spec)?;
    let groups: Vec<&str> = spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let name = spec["user"].as_str().unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "SubjectAccessReview",
            "",
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    let mut user = UserInfo::new(name, &groups);
    user.uid = spec["uid"].as_str().unwrap_or_default().into();
    let decision = rbac::authorize(&user, &a, policy);
    Ok(answer(body, "SubjectAccessReview", &decision))
}

#[cfg(test)]
mod tests;
