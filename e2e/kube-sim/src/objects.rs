//! Create and update semantics: metadata the server owns (uid, resourceVersion, generation,
//! creationTimestamp), 409 on stale versions, `generateName`, status subresource rules, schema
//! defaults/validation for custom resources, managedFields and etcd's size limit; every stored
//! write then runs [`lifecycle::after_write`]. Works on the in-memory [`State`]: no I/O.

use serde_json::{Value, json};

use super::apply;
use super::error::{ApiError, ApiResult};
use super::events;
use super::lifecycle::{self, after_write};
use super::lists::Lists;
use super::meta;
use super::pod_update;
use super::registry::ResourceType;
use super::schema;
use super::store::State;

/// How `managedFields` are maintained for a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Managed<'a> {
    /// A plain write by this manager (`Update` entry).
    Update(&'a str),
    /// Already computed by server-side apply.
    Applied,
}

fn ensure_meta(obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body is not a JSON object",
        ));
    }
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    Ok(())
}

/// Checks that `ns` exists and is not terminating (the NamespaceLifecycle admission plugin).
pub(crate) fn check_namespace(st: &State, ns: &str) -> ApiResult<()> {
    match st.get("/namespaces", "", ns) {
        None => Err(ApiError::not_found("namespaces", "", ns)),
        Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
            Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )))
        }
        Some(_) => Ok(()),
    }
}

fn custom_checks(rt: &ResourceType, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    if let Some(s) = &rt.schema {
        schema::apply_defaults(s, obj);
        schema::prune(s, obj, true);
        let mut errs = schema::validate(s, obj);
        if errs.is_empty() {
            errs = rt.cel.check(obj, old);
        }
        if !errs.is_empty() {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            return Err(ApiError::invalid_fields(&rt.group, &rt.kind, name, &errs));
        }
    }
    Ok(())
}

/// Creates an object in `ns` (ignored for cluster-scoped types).
pub(crate) fn create(
    st: &mut State,
    rt: &ResourceType,
    ns: &str,
    mut obj: Value,
    managed: Managed<'_>,
) -> ApiResult<Value> {
    ensure_meta(&mut obj)?;
    if let Some(k) = obj["kind"].as_str()
        && k != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({k}) does not match the resource ({})",
            rt.kind
        )));
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    let m = &mut obj["metadata"];
    if rt.namespaced {
        let body_ns = m["namespace"].as_str().unwrap_or_default();
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        m["namespace"] = json!(ns);
        check_namespace(st, ns)?;
    } else if let Some(mm) = m.as_object_mut() {
        mm.remove("namespace");
    }
    let store = rt.store_key();
    let mut name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        let gen_name = obj["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if gen_name.is_empty() {
            return Err(ApiError::invalid(
                &rt.kind,
                "",
                "metadata.name: Required value: name or generateName is required",
            ));
        }
        name = loop {
            let n = format!("{gen_name}{}", meta::name_suffix());
            if st.get(&store, ns_of(rt, ns), &n).is_none() {
                break n;
            }
        };
    }
    if rt.group == super::rbac::GROUP {
        meta::validate_path_segment_name(&rt.kind, &name)?;
    } else {
        meta::validate_name(&rt.kind, &name)?;
    }
    if st.get(&store, ns_of(rt, ns), &name).is_some() {
        return Err(ApiError::already_exists(&rt.plural, &rt.group, &name));
    }
    let now = meta::now();
    if let Some(mm) = obj["metadata"].as_object_mut() {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            mm.remove(k);
        }
        mm.insert("name".into(), json!(name));
        mm.insert("uid".into(), json!(meta::uid()));
        mm.insert("creationTimestamp".into(), json!(now));
        if rt.generation {
            mm.insert("generation".into(), json!(1));
        }
    }
    if rt.status_subresource
        && rt.plural != "nodes"
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("status");
    }
    if rt.group.is_empty() && rt.plural == "pods" {
        obj["status"] = json!({"phase": "Pending"});
    }
    meta::builtin_defaults(rt, &mut obj)?;
    events::check_stored(rt, &obj)?;
    custom_checks(rt, &mut obj, None)?;
    if rt.group == "apiextensions.k8s.io" {
        crd_status(&mut obj);
    }
    match managed {
        Managed::Update(m) => apply::record_update(
            None,
            &mut obj,
            &Lists::new(rt.schema.as_deref()),
            m,
            "",
            &now,
        ),
        Managed::Applied => {}
    }
    st.check_size(&obj)?;
    let rv = st.next_rv();
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    st.put(&store, obj.clone(), None);
    after_write(st, rt, &obj, false);
    Ok(obj)
}

fn ns_of<'a>(rt: &ResourceType, ns: &'a str) -> &'a str {
    if rt.namespaced { ns } else { "" }
}

/// The parts of an object that bump `metadata.generation` when they change.
fn generation_view(rt: &ResourceType, v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    v
}

fn noop_view(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
        if let Some(Value::Array(es)) = m.get_mut("managedFields") {
            for e in es {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                }
            }
        }
    }
    v
}

/// Replaces an object (PUT), or its status when `sub == "status"`.
pub(crate) fn update(
    st: &mut State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    mut new: Value,
    sub: &str,
    managed: Managed<'_>,
) -> ApiResult<Value> {
    ensure_meta(&mut new)?;
    let store = rt.store_key();
    let ns = ns_of(rt, ns);
    let old = st
        .get(&store, ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.plural, &rt.group, name))?;
    let body_rv = new["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !body_rv.is_empty()
        && body_rv
            != old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
    {
        return Err(ApiError::conflict(&rt.plural, &rt.group, name));
    }
    if let Some(n) = new["metadata"]["name"].as_str()
        && !n.is_empty()
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    let mut next = if sub == "status" {
        let mut n = old.clone();
        match new.get("status") {
            Some(s) if !s.is_null() => n["status"] = s.clone(),
            _ => {
                if let Some(o) = n.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        if managed == Managed::Applied {
            n["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
        }
        n
    } else {
        let mut n = new;
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => n["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = n["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        if n["metadata"].get("managedFields").is_none() {
            n["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
        }
        if rt.status_subresource {
            match old.get("status") {
                Some(s) => n["status"] = s.clone(),
                None => {
                    if let Some(o) = n.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
        n
    };
    next["apiVersion"] = json!(rt.api_version());
    next["kind"] = json!(rt.kind);
    if !old["metadata"]["deletionTimestamp"].is_null() {
        let old_f = old["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let added = next["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| !old_f.contains(f));
        if added {
            return Err(ApiError::invalid(
                &rt.kind,
                name,
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
            ));
        }
    }
    if rt.group.is_empty() && rt.plural == "pods" && sub.is_empty() {
        meta::builtin_defaults(rt, &mut next)?;
        pod_update::check(name, &old, &next)?;
    }
    events::check_stored(rt, &next)?;
    custom_checks(rt, &mut next, Some(&old))?;
    if rt.group == "apiextensions.k8s.io" {
        crd_status(&mut next);
    }
    if rt.generation && generation_view(rt, &old) != generation_view(rt, &next) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        next["metadata"]["generation"] = json!(g);
    }
    let now = meta::now();
    if let Managed::Update(m) = managed {
        apply::record_update(
            Some(&old),
            &mut next,
            &Lists::new(rt.schema.as_deref()),
            m,
            sub,
            &now,
        );
    }
    if next["metadata"]["managedFields"].is_null()
        && let Some(m) = next["metadata"].as_object_mut()
    {
        m.remove("managedFields");
    }
    if noop_view(&old) == noop_view(&next) {
        tracing::debug!(resource = %rt.plural, name = %old["metadata"]["name"], manager = ?managed, "no-op write");
        return Ok(old);
    }
    let finalizers_done = next["metadata"]["finalizers"]
        .as_array()
        .is_none_or(|f| f.is_empty());
    let removed = !next["metadata"]["deletionTimestamp"].is_null() && finalizers_done;
    if !removed {
        st.check_size(&next)?;
    }
    let rv = st.next_rv();
    next["metadata"]["resourceVersion"] = json!(rv.to_string());
    if removed {
        lifecycle::remove_now(st, rt, next.clone());
        return Ok(next);
    }
    st.put(&store, next.clone(), Some(old));
    after_write(st, rt, &next, false);
    Ok(next)
}

/// Sets the status a real API server's CRD controllers would write (names accepted, established).
fn crd_status(crd: &mut Value) {
    let names = crd["spec"]["names"].clone();
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let t = crd["metadata"]["creationTimestamp"].clone();
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
        ],
    });
}

#[cfg(test)]
mod tests;
