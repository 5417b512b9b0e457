//! Discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>[/<version>]`, `/version`) built
//! from the [`Registry`]. Legacy (non-aggregated) discovery only: kubectl falls back to it. No I/O.

use serde_json::{Value, json};

use super::registry::{Registry, ResourceType};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `/version`.
pub(crate) fn version() -> Value {
    json!({
        "major": "1", "minor": "36", "gitVersion": "v1.36.0-kube-sim", "gitCommit": "kube-sim",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none",
        "compiler": "rustc", "platform": "linux/amd64",
    })
}

/// `/api`.
pub(crate) fn core_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn resource_entries(t: &ResourceType) -> Vec<Value> {
    let verbs: Vec<&str> = if t.create_only {
        vec!["create"]
    } else {
        VERBS.to_vec()
    };
    let mut out = vec![json!({
        "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
        "verbs": verbs, "shortNames": t.short_names, "categories": t.categories,
    })];
    if t.status_subresource {
        out.push(json!({"name": format!("{}/status", t.plural), "singularName": "", "namespaced": t.namespaced,
            "kind": t.kind, "verbs": ["get", "patch", "update"]}));
    }
    for sub in &t.extra_subresources {
        let (group, version, kind) = match *sub {
            "eviction" => ("policy", "v1", "Eviction"),
            "binding" => ("", "v1", "Binding"),
            _ => ("authentication.k8s.io", "v1", "TokenRequest"),
        };
        out.push(json!({"name": format!("{}/{sub}", t.plural), "singularName": "", "namespaced": t.namespaced,
            "group": group, "version": version, "kind": kind, "verbs": ["create"]}));
    }
    out
}

/// `APIResourceList` of one group/version.
pub(crate) fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    if types.is_empty() {
        return None;
    }
    let resources: Vec<Value> = types.iter().flat_map(|t| resource_entries(t)).collect();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// `APIGroup` for one named group.
pub(crate) fn group(reg: &Registry, name: &str) -> Option<Value> {
    let mut versions: Vec<String> = vec![];
    for t in reg.all().iter().filter(|t| t.group == name) {
        if !versions.contains(&t.version) {
            versions.push(t.version.clone());
        }
    }
    let first = versions.first()?.clone();
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": vs,
        "preferredVersion": {"groupVersion": format!("{name}/{first}"), "version": first}}),
    )
}

/// `/apis`.
pub(crate) fn group_list(reg: &Registry) -> Value {
    let mut names: Vec<String> = vec![];
    for t in reg.all().iter().filter(|t| !t.group.is_empty()) {
        if !names.contains(&t.group) {
            names.push(t.group.clone());
        }
    }
    let groups: Vec<Value> = names
        .iter()
        .filter_map(|n| group(reg, n))
        .map(|mut g| {
            if let Some(m) = g.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            g
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

#[cfg(test)]
mod tests;
