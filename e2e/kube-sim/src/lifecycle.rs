//! What follows every stored write ([`after_write`]: CRD registration and removal, PDB status,
//! namespace reaping) and deletion semantics: preconditions, graceful pod deletion, finalizers and
//! `deletionTimestamp`, propagation policies, owner-reference garbage collection and namespace
//! termination. Works on the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::disruption;
use super::error::{ApiError, ApiResult};
use super::meta;
use super::registry::ResourceType;
use super::store::{State, key_of};

/// Side effects of a stored write or removal: CRD (un)registration, PDB status, namespace reaping.
pub(crate) fn after_write(st: &mut State, rt: &ResourceType, obj: &Value, removed: bool) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            if removed {
                let g = obj["spec"]["group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let p = obj["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                // Instances go first, each with a DELETED event (finalizers are not waited for).
                let key = format!("{g}/{p}");
                if let Some(crt) = st.registry.by_store_key(&key).cloned() {
                    for o in st.list(&key, None) {
                        remove_now(st, &crt, o);
                    }
                }
                st.objects.remove(&key);
                st.registry.unregister(&g, &p);
            } else {
                st.registry.register_crd(obj);
            }
        }
        ("", "pods") | ("policy", "poddisruptionbudgets") => {
            let (ns, _) = key_of(obj);
            disruption::refresh_pdbs(st, &ns);
        }
        _ => {}
    }
    if removed && rt.namespaced {
        let (ns, _) = key_of(obj);
        reap_namespace(st, &ns);
    }
}

/// Options of a DELETE (`metav1.DeleteOptions`, from the body or the query).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct DeleteOpts {
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace: Option<i64>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

impl DeleteOpts {
    /// Reads a `DeleteOptions` body merged over query parameters.
    pub(crate) fn from_parts(
        body: &Value,
        query: &std::collections::HashMap<String, String>,
    ) -> Self {
        let s = |v: &Value| v.as_str().map(String::from);
        Self {
            propagation: s(&body["propagationPolicy"])
                .or_else(|| query.get("propagationPolicy").cloned()),
            grace: body["gracePeriodSeconds"]
                .as_i64()
                .or_else(|| query.get("gracePeriodSeconds").and_then(|g| g.parse().ok())),
            uid: s(&body["preconditions"]["uid"]),
            resource_version: s(&body["preconditions"]["resourceVersion"]),
        }
    }
}

/// Deletes an object; returns its last state (with `deletionTimestamp` if it lingers).
pub(crate) fn delete(
    st: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<Value> {
    let ns = if rt.namespaced { ns } else { "" };
    let old = st
        .get(&rt.store_key(), ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
    let m = &old["metadata"];
    let uid = m["uid"].as_str().unwrap_or_default().to_string();
    if let Some(p) = &opts.uid
        && p != &uid
    {
        return Err(ApiError::conflict_msg(
            format!("Precondition failed: UID in precondition: {p}, UID in object meta: {uid}"),
            json!({"name": name, "kind": rt.plural}),
        ));
    }
    if let Some(p) = &opts.resource_version
        && Some(p.as_str()) != m["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict_msg(
            format!(
                "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {}",
                m["resourceVersion"].as_str().unwrap_or_default()
            ),
            json!({"name": name, "kind": rt.plural}),
        ));
    }
    if rt.group.is_empty() && rt.plural == "namespaces" {
        return terminate_namespace(st, rt, old);
    }
    if rt.group.is_empty() && rt.plural == "pods" && graceful(&old, opts.grace) {
        if !m["deletionTimestamp"].is_null() {
            return Ok(old);
        }
        let grace = opts
            .grace
            .or_else(|| old["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(30);
        let mut next = old.clone();
        bump_generation(&mut next);
        next["metadata"]["deletionTimestamp"] = json!(meta::now_plus(grace));
        next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
        return Ok(store_modified(st, rt, next, old));
    }
    let default_policy = if rt.group == "batch" && rt.plural == "jobs" {
        "Orphan"
    } else {
        "Background"
    };
    let policy = opts
        .propagation
        .clone()
        .unwrap_or_else(|| default_policy.to_string());
    match policy.as_str() {
        "Orphan" => orphan(st, &uid),
        "Foreground" => collect(st, &uid),
        _ => {}
    }
    let has_finalizers = m["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if !m["deletionTimestamp"].is_null() {
            return Ok(old);
        }
        let mut next = old.clone();
        bump_generation(&mut next);
        next["metadata"]["deletionTimestamp"] = json!(meta::now());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        return Ok(store_modified(st, rt, next, old));
    }
    Ok(remove_now(st, rt, old))
}

/// A pod bound to a node and not terminated waits for its kubelet unless the grace period is 0.
fn graceful(pod: &Value, grace: Option<i64>) -> bool {
    let bound = pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    bound && grace != Some(0) && phase != "Succeeded" && phase != "Failed"
}

/// The first deletionTimestamp bumps a tracked generation (as the real registry does).
fn bump_generation(obj: &mut Value) {
    if let Some(g) = obj["metadata"]["generation"].as_i64().filter(|g| *g > 0) {
        obj["metadata"]["generation"] = json!(g + 1);
    }
}

fn store_modified(st: &mut State, rt: &ResourceType, mut next: Value, old: Value) -> Value {
    let rv = st.next_rv();
    next["metadata"]["resourceVersion"] = json!(rv.to_string());
    st.put(&rt.store_key(), next.clone(), Some(old));
    after_write(st, rt, &next, false);
    next
}

/// Removes an object at once, then collects its dependents (background propagation).
pub(crate) fn remove_now(st: &mut State, rt: &ResourceType, mut last: Value) -> Value {
    let rv = st.next_rv();
    last["metadata"]["resourceVersion"] = json!(rv.to_string());
    let uid = last["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    st.remove(&rt.store_key(), last.clone());
    after_write(st, rt, &last, true);
    collect(st, &uid);
    last
}

/// Objects (store key, namespace, name) with an owner reference to `uid`.
fn dependents(st: &State, uid: &str) -> Vec<(String, String, String)> {
    let mut out = vec![];
    if !st.has_dependents(uid) {
        return out;
    }
    for (store, objs) in &st.objects {
        for ((ns, name), o) in objs {
            let owned = o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"].as_str() == Some(uid));
            if owned {
                out.push((store.clone(), ns.clone(), name.clone()));
            }
        }
    }
    out
}

fn drop_owner(
    st: &mut State,
    store: &str,
    ns: &str,
    name: &str,
    uid: &str,
) -> Option<(ResourceType, Value)> {
    let rt = st.registry.by_store_key(store)?.clone();
    let old = st.get(store, ns, name)?.clone();
    let mut next = old.clone();
    if let Some(refs) = next["metadata"]["ownerReferences"].as_array_mut() {
        refs.retain(|r| r["uid"].as_str() != Some(uid));
    }
    let empty = next["metadata"]["ownerReferences"]
        .as_array()
        .is_none_or(|r| r.is_empty());
    if empty && let Some(m) = next["metadata"].as_object_mut() {
        m.remove("ownerReferences");
    }
    let v = store_modified(st, &rt, next, old);
    Some((rt, v))
}

/// Garbage collection: dependents whose only owner was `uid` are deleted; others lose the reference.
pub(crate) fn collect(st: &mut State, uid: &str) {
    for (store, ns, name) in dependents(st, uid) {
        let Some(rt) = st.registry.by_store_key(&store).cloned() else {
            continue;
        };
        let Some(o) = st.get(&store, &ns, &name) else {
            continue;
        };
        let refs = o["metadata"]["ownerReferences"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        if refs <= 1 {
            let opts = DeleteOpts {
                propagation: Some("Background".into()),
                grace: Some(0),
                ..Default::default()
            };
            // The dependent may already be gone or terminating: nothing else to do then.
            let _ = delete(st, &rt, &ns, &name, &opts);
        } else {
            drop_owner(st, &store, &ns, &name, uid);
        }
    }
}

/// Orphan propagation: dependents lose their owner reference to `uid`.
fn orphan(st: &mut State, uid: &str) {
    for (store, ns, name) in dependents(st, uid) {
        drop_owner(st, &store, &ns, &name, uid);
    }
}

fn terminate_namespace(st: &mut State, rt: &ResourceType, old: Value) -> ApiResult<Value> {
    let (_, ns) = key_of(&old);
    let mut cur = old.clone();
    if old["metadata"]["deletionTimestamp"].is_null() {
        let mut next = old.clone();
        bump_generation(&mut next);
        next["metadata"]["deletionTimestamp"] = json!(meta::now());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        next["status"]["phase"] = json!("Terminating");
        cur = store_modified(st, rt, next, old);
    }
    let victims: Vec<(String, String)> = st
        .objects
        .iter()
        .flat_map(|(store, objs)| {
            objs.keys()
                .filter(|(n, _)| n == &ns)
                .map(|(_, name)| (store.clone(), name.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    for (store, name) in victims {
        if let Some(vrt) = st.registry.by_store_key(&store).cloned() {
            let opts = DeleteOpts {
                grace: Some(0),
                ..Default::default()
            };
            let _ = delete(st, &vrt, &ns, &name, &opts);
        }
    }
    reap_namespace(st, &ns);
    Ok(st.get("/namespaces", "", &ns).cloned().unwrap_or(cur))
}

/// Removes a terminating namespace once nothing is left in it.
pub(crate) fn reap_namespace(st: &mut State, ns: &str) {
    if ns.is_empty() {
        return;
    }
    let Some(n) = st.get("/namespaces", "", ns).cloned() else {
        return;
    };
    if n["metadata"]["deletionTimestamp"].is_null() {
        return;
    }
    let empty = st
        .objects
        .values()
        .all(|objs| !objs.keys().any(|(o, _)| o == ns));
    if empty && let Some(rt) = st.registry.by_store_key("/namespaces").cloned() {
        remove_now(st, &rt, n);
    }
}

#[cfg(test)]
mod tests;
