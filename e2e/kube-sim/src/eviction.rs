//! `pods/eviction`: a pod is deleted unless its PodDisruptionBudget allows no disruption. Works on
//! the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::disruption::{PDB_STORE, POD_STORE, budget, is_ready};
use super::error::{ApiError, ApiResult};
use super::lifecycle::{self, DeleteOpts};
use super::selectors::label_selector_object_matches;
use super::store::State;

/// Handles a `policy/v1` Eviction of pod `ns/name`: 429 when a budget allows no disruption,
/// otherwise deletes the pod (gracefully when bound to a node) and answers 201 Success.
pub(crate) fn evict(st: &mut State, ns: &str, name: &str, eviction: &Value) -> ApiResult<Value> {
    let pod = st
        .get(POD_STORE, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("pods", "", name))?;
    let opts = DeleteOpts::from_parts(&eviction["deleteOptions"], &Default::default());
    let pod_rt = st
        .registry
        .by_store_key(POD_STORE)
        .cloned()
        .ok_or_else(|| ApiError::internal("pods not registered"))?;
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    let ignore_pdb = matches!(phase, "Succeeded" | "Failed" | "Pending")
        || !pod["metadata"]["deletionTimestamp"].is_null();
    if !ignore_pdb {
        let pdbs: Vec<Value> = st
            .list(PDB_STORE, Some(ns))
            .into_iter()
            .filter(|p| {
                label_selector_object_matches(&p["spec"]["selector"], &pod["metadata"]["labels"])
            })
            .collect();
        if pdbs.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        if let Some(pdb) = pdbs.first() {
            let (_, healthy, desired, allowed) = budget(st, pdb, ns);
            let unhealthy_ok = !is_ready(&pod) && healthy >= desired;
            if allowed <= 0 && !unhealthy_ok {
                let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or_default();
                return Err(ApiError::too_many_requests(
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    json!([{"reason": "DisruptionBudget", "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently")}]),
                ));
            }
        }
    }
    lifecycle::delete(st, &pod_rt, ns, name, &opts)?;
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

#[cfg(test)]
mod tests;
