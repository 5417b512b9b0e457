//! What may change in a pod after it was created, as the real server's pod update validation
//! decides: the images, `activeDeadlineSeconds` (set or lowered), `terminationGracePeriodSeconds`
//! (from negative to 1), tolerations (added) and scheduling gates (removed). Anything else,
//! `spec.nodeName` included (it is set through `pods/binding`), is refused. Pure: no I/O.

use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// The real server's message when a pod update changes an immutable part of the spec.
const FORBIDDEN: &str = "spec: Forbidden: pod updates may not change fields other than \
`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
`spec.tolerations` (only additions to existing tolerations),\
`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Refuses an update of pod `name` from `old` to `new` (both defaulted) that changes what a real
/// server keeps immutable, with the real server's field errors.
pub(crate) fn check(name: &str, old: &Value, new: &Value) -> ApiResult<()> {
    let (o, n) = (&old["spec"], &new["spec"]);
    let mut errors = Vec::new();
    let old_adl = o["activeDeadlineSeconds"].as_i64();
    match (old_adl, n["activeDeadlineSeconds"].as_i64()) {
        (Some(_), None) => errors.push(
            "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value"
                .to_string(),
        ),
        (Some(was), Some(is)) if is > was => errors.push(format!(
            "spec.activeDeadlineSeconds: Invalid value: {is}: must be less than or equal to previous value"
        )),
        _ => {}
    }
    let kept = |key: &str| n[key].as_array().cloned().unwrap_or_default();
    let dropped_toleration = o["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| !kept("tolerations").contains(t));
    if dropped_toleration {
        errors.push(
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
                .to_string(),
        );
    }
    let added_gate = n["schedulingGates"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|g| {
            !o["schedulingGates"]
                .as_array()
                .is_some_and(|old| old.contains(g))
        });
    if added_gate {
        errors.push(
            "spec.schedulingGates: Forbidden: only deletion is allowed, but found new scheduling gate"
                .to_string(),
        );
    }
    if without_mutable(n, o) != without_mutable(o, o) {
        errors.push(FORBIDDEN.to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_fields("", "Pod", name, &errors))
    }
}

/// `spec` with what an update may change replaced by `old`'s: the rest must be equal.
fn without_mutable(spec: &Value, old: &Value) -> Value {
    let mut s = spec.clone();
    for list in ["containers", "initContainers"] {
        if let (Some(cs), Some(olds)) = (s[list].as_array_mut(), old[list].as_array()) {
            for (c, was) in cs.iter_mut().zip(olds) {
                c["image"] = was["image"].clone();
            }
        }
    }
    let Some(m) = s.as_object_mut() else {
        return s;
    };
    for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
        m.remove(key);
    }
    let negative_to_one = old["terminationGracePeriodSeconds"]
        .as_i64()
        .is_some_and(|g| g < 0)
        && m.get("terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            == Some(1);
    if negative_to_one {
        m.insert(
            "terminationGracePeriodSeconds".into(),
            old["terminationGracePeriodSeconds"].clone(),
        );
    }
    s
}

#[cfg(test)]
mod tests;
