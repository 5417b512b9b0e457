//! `pods/eviction` and the disruption-controller stand-in that keeps PodDisruptionBudget status
//! (`currentHealthy`, `desiredHealthy`, `expectedPods`, `disruptionsAllowed`) up to date from the
//! matching pods. Works on the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::lifecycle::{self, DeleteOpts};
use super::meta;
use super::selectors::label_selector_object_matches;
use super::store::State;

const PDB_STORE: &str = "policy/poddisruptionbudgets";
const POD_STORE: &str = "/pods";

fn is_ready(pod: &Value) -> bool {
    pod["status"]["phase"].as_str() == Some("Running")
        && pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// An int-or-percent scaled against `total` (percentages round up, as the real controller does).
fn scaled(v: &Value, total: i64) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let p: i64 = v.as_str()?.strip_suffix('%')?.parse().ok()?;
    Some((p * total + 99) / 100)
}

/// (expected, healthy, desired, allowed) for one budget.
fn budget(st: &State, pdb: &Value, ns: &str) -> (i64, i64, i64, i64) {
    let sel = &pdb["spec"]["selector"];
    let pods: Vec<Value> = st
        .list(POD_STORE, Some(ns))
        .into_iter()
        .filter(|p| !terminal(p) && label_selector_object_matches(sel, &p["metadata"]["labels"]))
        .collect();
    let expected = pods.len() as i64;
    let healthy = pods.iter().filter(|p| is_ready(p)).count() as i64;
    let spec = &pdb["spec"];
    let desired = if !spec["maxUnavailable"].is_null() {
        expected - scaled(&spec["maxUnavailable"], expected).unwrap_or(0)
    } else {
        scaled(&spec["minAvailable"], expected).unwrap_or(1)
    }
    .max(0);
    (expected, healthy, desired, (healthy - desired).max(0))
}

/// Recomputes the status of every budget in `ns`, writing those that changed.
pub fn refresh_pdbs(st: &mut State, ns: &str) {
    for pdb in st.list(PDB_STORE, Some(ns)) {
        let (expected, healthy, desired, allowed) = budget(st, &pdb, ns);
        let generation = pdb["metadata"]["generation"].clone();
        let ok = allowed > 0;
        let old_cond = pdb["status"]["conditions"][0].clone();
        let status_str = if ok { "True" } else { "False" };
        let ltt = if old_cond["status"] == status_str {
            old_cond["lastTransitionTime"].clone()
        } else {
            json!(meta::now())
        };
        let status = json!({
            "observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": healthy,
            "desiredHealthy": desired, "expectedPods": expected,
            "conditions": [{"type": "DisruptionAllowed", "status": status_str,
                "reason": if ok { "SufficientPods" } else { "InsufficientPods" }, "message": "",
                "observedGeneration": generation, "lastTransitionTime": ltt}],
        });
        if pdb["status"] == status {
            continue;
        }
        let mut next = pdb.clone();
        next["status"] = status;
        let rv = st.next_rv();
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        st.put(PDB_STORE, next, Some(pdb));
    }
}

/// Handles a `policy/v1` Eviction of pod `ns/name`: 429 when a budget allows no disruption,
/// otherwise deletes the pod (gracefully when bound to a node) and answers 201 Success.
pub fn evict(st: &mut State, ns: &str, name: &str, eviction: &Value) -> ApiResult<Value> {
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
