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
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn resource_requests_are_parsed_like_the_real_request_info() {
        let none = q(&[]);
        assert_eq!(
            parse("GET", "/api/v1/namespaces/a/pods", &none),
            Attributes::resource("list", "", "pods").in_namespace("a")
        );
        assert_eq!(
            parse(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/a/leases",
                &q(&[("watch", "true")])
            ),
            Attributes::resource("watch", "coordination.k8s.io", "leases").in_namespace("a")
        );
        assert_eq!(
            parse("POST", "/api/v1/namespaces/a/pods/p/eviction", &none),
            Attributes::resource("create", "", "pods")
                .in_namespace("a")
                .named("p")
                .subresource("eviction")
        );
        assert_eq!(
            parse("PATCH", "/api/v1/nodes/w1", &none),
            Attributes::resource("patch", "", "nodes").named("w1")
        );
        assert_eq!(
            parse("DELETE", "/api/v1/namespaces/a/configmaps", &none),
            Attributes::resource("deletecollection", "", "configmaps").in_namespace("a")
        );
        // A namespace is in itself; its status and finalize are its subresources.
        assert_eq!(
            parse("PUT", "/api/v1/namespaces/a/finalize", &none),
            Attributes::resource("update", "", "namespaces")
                .in_namespace("a")
                .named("a")
                .subresource("finalize")
        );
        assert_eq!(
            parse("GET", "/api/v1/namespaces/a", &none),
            Attributes::resource("get", "", "namespaces")
                .in_namespace("a")
                .named("a")
        );
    }

    #[test]
    fn a_name_field_selector_names_a_list_or_watch() {
        let sel = |s: &str| q(&[("fieldSelector", s)]);
        let path = "/api/v1/namespaces/a/secrets";
        assert_eq!(parse("GET", path, &sel("metadata.name=tls")).name, "tls");
        assert_eq!(
            parse("GET", path, &sel("type=x,metadata.name==tls")).name,
            "tls"
        );
        assert_eq!(parse("GET", path, &sel("metadata.name!=tls")).name, "");
        assert_eq!(parse("GET", path, &sel("metadata.name=a/b")).name, "");
        // Only list and watch take a name from the selector.
        assert_eq!(parse("DELETE", path, &sel("metadata.name=tls")).name, "");
    }

    #[test]
    fn discovery_and_health_paths_are_non_resource_requests() {
        let none = q(&[]);
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
        ] {
            assert_eq!(
                parse("GET", p, &none),
                Attributes::non_resource("get", p),
                "{p}"
            );
        }
    }

    #[test]
    fn forbidden_messages_have_the_real_servers_wording() {
        let user = "system:serviceaccount:kairos-system:kairos-operator";
        let e = forbidden(
            user,
            &Attributes::resource("list", "coordination.k8s.io", "leases")
                .in_namespace("kairos-system"),
            "",
        );
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            format!(
                "leases.coordination.k8s.io is forbidden: User \"{user}\" cannot list resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"kairos-system\""
            )
        );
        assert_eq!(
            e.details,
            Some(json!({"group": "coordination.k8s.io", "kind": "leases"}))
        );
        let e = forbidden(
            user,
            &Attributes::resource("patch", "", "nodes").named("w1"),
            "",
        );
        assert_eq!(
            e.message,
            format!(
                "nodes \"w1\" is forbidden: User \"{user}\" cannot patch resource \"nodes\" in API group \"\" at the cluster scope"
            )
        );
        assert_eq!(e.details, Some(json!({"name": "w1", "kind": "nodes"})));
        let e = forbidden(
            "u",
            &Attributes::resource("create", "", "pods")
                .in_namespace("x")
                .named("p")
                .subresource("eviction"),
            "RBAC: role.rbac.authorization.k8s.io \"r\" not found",
        );
        assert_eq!(
            e.message,
            "pods \"p\" is forbidden: User \"u\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"x\": RBAC: role.rbac.authorization.k8s.io \"r\" not found"
        );
        let e = forbidden(
            "system:anonymous",
            &Attributes::non_resource("get", "/api"),
            "",
        );
        assert_eq!(
            e.message,
            "forbidden: User \"system:anonymous\" cannot get path \"/api\""
        );
        assert_eq!(e.details, Some(json!({})));
    }
}
