//! The disruption-controller stand-in: keeps PodDisruptionBudget status (`currentHealthy`,
//! `desiredHealthy`, `expectedPods`, `disruptionsAllowed`) up to date from the matching pods, and
//! computes a budget for an eviction. Works on the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::meta;
use super::selectors::label_selector_object_matches;
use super::store::State;

/// The store key of PodDisruptionBudgets.
pub(crate) const PDB_STORE: &str = "policy/poddisruptionbudgets";
/// The store key of pods.
pub(crate) const POD_STORE: &str = "/pods";

/// Whether a pod counts as healthy: running, not terminating, and Ready.
pub(crate) fn is_ready(pod: &Value) -> bool {
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
pub(crate) fn budget(st: &State, pdb: &Value, ns: &str) -> (i64, i64, i64, i64) {
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
pub(crate) fn refresh_pdbs(st: &mut State, ns: &str) {
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

#[cfg(test)]
mod tests;
