//! The attributes authorization decides on (verb, API group, resource, subresource, namespace and
//! name, or the path of a non-resource request), parsed from a request's method, path and query as
//! a real API server's request-info parser does, and the 403 Forbidden error built from them with
//! the real server's wording. No I/O.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::error::ApiError;

/// What one request asks to do, as an authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection` for
    /// resources (or a custom verb such as `use` in an access review); the lower-case HTTP method
    /// (`get`, `post`, ...) for non-resource paths.
    pub verb: String,
    /// The API group (`""` for the core group).
    pub api_group: String,
    /// The resource's plural name (`pods`).
    pub resource: String,
    /// The subresource (`status`, `eviction`, `token`, `finalize`), or empty.
    pub subresource: String,
    /// The namespace, or empty for cluster-scoped requests. A request on `namespaces/<x>` is in
    /// namespace `x`, as on a real server.
    pub namespace: String,
    /// The object's name: from the path, or for `list`/`watch` from a `metadata.name=<x>` field
    /// selector; empty otherwise (`create` on a collection, an unselected `list`).
    pub name: String,
    /// The path of a non-resource request (`/version`, `/api`, `/healthz`); `None` for a
    /// resource request.
    pub path: Option<String>,
}

impl Attributes {
    /// A resource request: `verb` on `resource` in `api_group`, cluster-wide and unnamed until
    /// refined with [`Attributes::in_namespace`], [`Attributes::named`],
    /// [`Attributes::subresource`].
    pub fn resource(verb: &str, api_group: &str, resource: &str) -> Self {
        Self {
            verb: verb.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            ..Self::default()
        }
    }

    /// A non-resource request: `verb` (a lower-case HTTP method) on `path`.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self {
            verb: verb.into(),
            path: Some(path.into()),
            ..Self::default()
        }
    }

    /// The same request in namespace `ns`.
    pub fn in_namespace(mut self, ns: &str) -> Self {
        self.namespace = ns.into();
        self
    }

    /// The same request on the object `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// The same request on subresource `sub`.
    pub fn subresource(mut self, sub: &str) -> Self {
        self.subresource = sub.into();
        self
    }

    /// Whether this is a request on a resource (not on a non-resource path).
    pub fn is_resource_request(&self) -> bool {
        self.path.is_none()
    }
}

/// The attributes of a request, parsed as the real server's `RequestInfoFactory` does: paths
/// under `/api/<version>/` and `/apis/<group>/<version>/` with at least a resource are resource
/// requests, everything else (`/api`, `/apis/<group>/<version>`, `/version`, `/healthz`, ...) is
/// a non-resource request whose verb is the lower-case method.
pub(crate) fn parse(method: &str, path: &str, query: &HashMap<String, String>) -> Attributes {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let non_resource = || Attributes::non_resource(&method.to_ascii_lowercase(), path);
    let (group, rest) = match parts.as_slice() {
        ["api", _, _, ..] => ("", &parts[1..]),
        ["apis", g, _, _, ..] => (*g, &parts[2..]),
        _ => return non_resource(),
    };
    // `rest` is `<version>/...`; the old `/watch/` path prefix is not served by the simulator.
    let mut parts = &rest[1..];
    let mut a = Attributes {
        verb: match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .into(),
        api_group: group.into(),
        ..Attributes::default()
    };
    if parts.first() == Some(&"namespaces")
        && let Some(ns) = parts.get(1)
    {
        a.namespace = (*ns).into();
        if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
            parts = &parts[2..];
        }
    }
    a.resource = parts.first().map(|s| s.to_string()).unwrap_or_default();
    a.name = parts.get(1).map(|s| s.to_string()).unwrap_or_default();
    a.subresource = parts.get(2).map(|s| s.to_string()).unwrap_or_default();
    if a.name.is_empty() && a.verb == "get" {
        let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
        a.verb = if watch { "watch" } else { "list" }.into();
        if let Some(name) = query.get("fieldSelector").and_then(|f| selected_name(f)) {
            a.name = name;
        }
    }
    if a.name.is_empty() && a.verb == "delete" {
        a.verb = "deletecollection".into();
    }
    a
}

/// The name a field selector requires exactly (`metadata.name=<x>` or `metadata.name==<x>`
/// among its terms), when it is a valid path segment.
fn selected_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="))?;
        let valid = !matches!(value, "" | "." | "..") && !value.contains(['/', '%']);
        valid.then(|| value.to_string())
    })
}

/// `group.resource` (or `resource` for the core group), as Kubernetes prints a group-resource.
fn group_resource(a: &Attributes) -> String {
    if a.api_group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    }
}

/// The 403 Forbidden a real server answers when `user` may not do `a`, with the authorizer's
/// `reason` (empty when no rule matched and no binding was broken) appended after a colon.
pub(crate) fn forbidden(user: &str, a: &Attributes, reason: &str) -> ApiError {
    let mut why = match &a.path {
        Some(path) => format!("User {user:?} cannot {} path {path:?}", a.verb),
        None => {
            let resource = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            let scope = if a.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", a.namespace)
            };
            format!(
                "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                a.verb, a.api_group
            )
        }
    };
    if !reason.is_empty() {
        why = format!("{why}: {reason}");
    }
    forbidden_status(a, &why)
}

/// The 403 Forbidden of a server-side apply that would create an object its user may not
/// create: the real server words it with the authorizer's reason only (often empty).
pub(crate) fn forbidden_create_on_apply(a: &Attributes, reason: &str) -> ApiError {
    forbidden_status(a, reason)
}

/// `apierrors.NewForbidden(group-resource, name, err)`: the message names the group-resource
/// and the object, the details carry them (empty fields left out).
fn forbidden_status(a: &Attributes, why: &str) -> ApiError {
    let message = if a.path.is_some() || a.resource.is_empty() {
        format!("forbidden: {why}")
    } else if a.name.is_empty() {
        format!("{} is forbidden: {why}", group_resource(a))
    } else {
        format!("{} {:?} is forbidden: {why}", group_resource(a), a.name)
    };
    let mut details = Map::new();
    if a.path.is_none() {
        for (k, v) in [
            ("name", &a.name),
            ("group", &a.api_group),
            ("kind", &a.resource),
        ] {
            if !v.is_empty() {
                details.insert(k.into(), json!(v));
            }
        }
    }
    ApiError::forbidden(message).with_details(Value::Object(details))
}

#[cfg(test)]
mod tests;
