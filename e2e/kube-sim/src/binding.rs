//! `pods/binding`: how a pod gets its node after creation (the scheduler's write), since an
//! update may not set `spec.nodeName`. Works on the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::disruption::POD_STORE;
use super::error::{ApiError, ApiResult};
use super::lifecycle::after_write;
use super::store::State;

/// Binds pod `ns/name` to the Node `binding.target` names, as the real server's binding storage
/// does: 409 when the pod is being deleted or already has a node, 422 for a target that is not a
/// named Node; otherwise sets `spec.nodeName`, copies the binding's annotations and marks the pod
/// `PodScheduled`, answering 201 Success.
pub(crate) fn bind(st: &mut State, ns: &str, name: &str, binding: &Value) -> ApiResult<Value> {
    let target = &binding["target"];
    let node = target["name"].as_str().unwrap_or_default();
    let mut errors = Vec::new();
    if let Some(n) = binding["metadata"]["name"].as_str()
        && !n.is_empty()
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if !matches!(target["kind"].as_str(), None | Some("" | "Node")) {
        errors.push("target.kind: Invalid value: must be empty or 'Node'".to_string());
    }
    if node.is_empty() {
        errors.push("target.name: Required value".to_string());
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields("", "Binding", name, &errors));
    }
    let old = st
        .get(POD_STORE, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("pods", "", name))?;
    let details = json!({"name": name, "kind": "pods/binding"});
    if !old["metadata"]["deletionTimestamp"].is_null() {
        return Err(ApiError::conflict_msg(
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
            ),
            details,
        ));
    }
    if let Some(bound) = old["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict_msg(
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{bound}\""
            ),
            details,
        ));
    }
    let rt = st
        .registry
        .by_store_key(POD_STORE)
        .cloned()
        .ok_or_else(|| ApiError::internal("pods not registered"))?;
    let mut pod = bound(&old, node, &binding["metadata"]["annotations"]);
    pod["metadata"]["resourceVersion"] = json!(st.next_rv().to_string());
    st.put(POD_STORE, pod.clone(), Some(old));
    after_write(st, &rt, &pod, false);
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// `pod` on `node`, with `annotations` added and a true `PodScheduled` condition.
fn bound(pod: &Value, node: &str, annotations: &Value) -> Value {
    let mut p = pod.clone();
    p["spec"]["nodeName"] = json!(node);
    if let Some(a) = annotations.as_object().filter(|a| !a.is_empty()) {
        if !p["metadata"]["annotations"].is_object() {
            p["metadata"]["annotations"] = json!({});
        }
        for (k, v) in a {
            p["metadata"]["annotations"][k] = v.clone();
        }
    }
    let scheduled = json!({"type": "PodScheduled", "status": "True"});
    let conditions = &mut p["status"]["conditions"];
    match conditions.as_array_mut() {
        Some(cs) => match cs.iter_mut().find(|c| c["type"] == "PodScheduled") {
            Some(c) => c["status"] = json!("True"),
            None => cs.push(scheduled),
        },
        None => *conditions = json!([scheduled]),
    }
    p
}

#[cfg(test)]
mod tests;
