//! The RBAC authorizer (`--authorization-mode=RBAC`): whether a user may do what a request asks,
//! decided from the stored Roles, ClusterRoles, RoleBindings and ClusterRoleBindings as a real API
//! server does, and which rule allowed it. A pure function of its inputs: no I/O, no clock.
//!
//! `system:masters` may do everything. Otherwise the ClusterRoleBindings, then the RoleBindings
//! of the request's namespace, are visited in name order; a binding applies when one of its
//! subjects is the user (`User` by name, `Group` by one of the user's groups, `ServiceAccount` by
//! namespace, defaulting to the binding's, and name); its role's rules are tried in order, and the
//! first one that matches allows the request. A ClusterRole with an `aggregationRule` has the
//! rules of the ClusterRoles its selectors match (what the real cluster-role aggregation
//! controller writes into it), not its own.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::attributes::Attributes;
use super::authn::{MASTERS, UserInfo};
use super::selectors::label_selector_object_matches;
use super::store::{Objects, State};

/// The API group of the RBAC kinds.
pub(crate) const GROUP: &str = "rbac.authorization.k8s.io";

/// Store key of Roles.
pub(crate) const ROLES: &str = "rbac.authorization.k8s.io/roles";
/// Store key of ClusterRoles.
pub(crate) const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
/// Store key of RoleBindings.
pub(crate) const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";
/// Store key of ClusterRoleBindings.
pub(crate) const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";

/// One RBAC object: its kind (`Role`, `ClusterRole`, `RoleBinding`, `ClusterRoleBinding`),
/// namespace (empty for the cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// The kind.
    pub kind: String,
    /// The namespace, empty for ClusterRoles and ClusterRoleBindings.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A reference to `kind` `namespace/name` (`namespace` empty for cluster-scoped kinds).
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {:?}", self.kind, self.name)
        } else {
            write!(f, "{} {:?} in {:?}", self.kind, self.name, self.namespace)
        }
    }
}

/// The rule that allowed a request, identified stably: by the binding that granted it, the role
/// that binding refers to, and the role that holds the rule with the rule's index in its
/// `rules` (the same role, except for an aggregated ClusterRole: then the ClusterRole the rule
/// was aggregated from).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleRef {
    /// The ClusterRoleBinding or RoleBinding.
    pub binding: ObjectRef,
    /// The binding's `roleRef`: a Role in the binding's namespace, or a ClusterRole.
    pub role: ObjectRef,
    /// The role whose `rules` hold the rule: [`RuleRef::role`], or for an aggregated ClusterRole
    /// the ClusterRole the rule was aggregated from.
    pub source: ObjectRef,
    /// The rule's index in the `rules` of [`RuleRef::source`].
    pub index: usize,
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rule {} via {}",
            self.source, self.index, self.binding
        )?;
        if self.source != self.role {
            write!(f, " (aggregated into {})", self.role)?;
        }
        Ok(())
    }
}

/// Why a request was allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    /// The user is in `system:masters`, which may do everything without any rule.
    PrivilegedGroup,
    /// A rule of a bound role.
    Rule(Box<RuleRef>),
}

/// What the authorizer decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Allowed, and by what.
    Allow(Grant),
    /// Denied. The reason is empty when no rule matched, or `RBAC: ...` naming the roles that
    /// applicable bindings refer to and that do not exist (as the real server's reason).
    Deny {
        /// The authorizer's reason (appended to the Forbidden message when not empty).
        reason: String,
    },
}

/// The RBAC objects the authorizer reads, borrowed from the simulator's state.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy<'a> {
    /// Roles by (namespace, name).
    pub roles: Option<&'a Objects>,
    /// ClusterRoles by ("", name).
    pub cluster_roles: Option<&'a Objects>,
    /// RoleBindings by (namespace, name).
    pub role_bindings: Option<&'a Objects>,
    /// ClusterRoleBindings by ("", name).
    pub cluster_role_bindings: Option<&'a Objects>,
}

impl<'a> Policy<'a> {
    /// The RBAC objects stored in `st` now.
    pub(crate) fn from_state(st: &'a State) -> Self {
        Self {
            roles: st.objects.get(ROLES),
            cluster_roles: st.objects.get(CLUSTER_ROLES),
            role_bindings: st.objects.get(ROLE_BINDINGS),
            cluster_role_bindings: st.objects.get(CLUSTER_ROLE_BINDINGS),
        }
    }

    fn get(objects: Option<&'a Objects>, ns: &str, name: &str) -> Option<&'a Value> {
        objects?.get(&(ns.to_string(), name.to_string()))
    }

    /// The rules of the role a binding in `ns` refers to, with the role each rule is stored in
    /// and its index there; or the real server's error when the role does not exist.
    fn rules_of(
        &self,
        role_ref: &Value,
        ns: &str,
    ) -> Result<Vec<(ObjectRef, usize, &'a Value)>, String> {
        let name = role_ref["name"].as_str().unwrap_or_default();
        match role_ref["kind"].as_str() {
            Some("Role") => {
                let role = Self::get(self.roles, ns, name)
                    .ok_or_else(|| format!("role.{GROUP} {name:?} not found"))?;
                Ok(own_rules(ObjectRef::new("Role", ns, name), role))
            }
            Some("ClusterRole") => {
                Self::get(self.cluster_roles, "", name)
                    .ok_or_else(|| format!("clusterrole.{GROUP} {name:?} not found"))?;
                let mut out = vec![];
                self.cluster_role_rules(name, &mut BTreeSet::new(), &mut out);
                Ok(out)
            }
            other => Err(format!("unsupported roleRef kind {other:?}")),
        }
    }

    /// The rules of ClusterRole `name`: its own, or when it aggregates, those of the ClusterRoles
    /// its selectors match (recursively, each ClusterRole once).
    fn cluster_role_rules(
        &self,
        name: &str,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<(ObjectRef, usize, &'a Value)>,
    ) {
        if !seen.insert(name.to_string()) {
            return;
        }
        let Some(role) = Self::get(self.cluster_roles, "", name) else {
            return;
        };
        let selectors = role["aggregationRule"]["clusterRoleSelectors"].as_array();
        let Some(selectors) = selectors else {
            out.extend(own_rules(ObjectRef::new("ClusterRole", "", name), role));
            return;
        };
        for ((_, other), o) in self.cluster_roles.into_iter().flatten() {
            let labels = &o["metadata"]["labels"];
            if other != name
                && selectors
                    .iter()
                    .any(|s| label_selector_object_matches(s, labels))
            {
                self.cluster_role_rules(other, seen, out);
            }
        }
    }
}

fn own_rules(source: ObjectRef, role: &Value) -> Vec<(ObjectRef, usize, &Value)> {
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, r)| (source.clone(), i, r))
        .collect()
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// Whether a binding's subject is `user` (ServiceAccount subjects without a namespace default
/// to the binding's namespace `ns`).
fn subject_is(subject: &Value, user: &UserInfo, ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("User") => user.name == name,
        Some("Group") => user.in_group(name),
        Some("ServiceAccount") => {
            let sa_ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(ns);
            !sa_ns.is_empty() && user.name == format!("system:serviceaccount:{sa_ns}:{name}")
        }
        _ => false,
    }
}

/// Whether one policy rule allows the request, by the real server's matching: verbs, API
/// groups and resources with `*`; a resource `x/y` matches subresource `y` of `x` only, `*/y`
/// subresource `y` of any resource (`x/*` matches only a subresource literally named `*`, as on
/// the real server); `resourceNames` restrict requests to those names (a request without a name,
/// such as a `create` or an unselected `list`, never matches them); `nonResourceURLs` match a
/// path exactly, with `*`, or by prefix when they end in `*`.
pub(crate) fn rule_allows(a: &Attributes, rule: &Value) -> bool {
    let verb_ok = strings(&rule["verbs"]).any(|v| v == "*" || v == a.verb);
    if !verb_ok {
        return false;
    }
    let Some(path) = &a.path else {
        let combined = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let group_ok = strings(&rule["apiGroups"]).any(|g| g == "*" || g == a.api_group);
        let resource_ok = strings(&rule["resources"]).any(|r| {
            r == "*"
                || r == combined
                || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(&a.subresource))
        });
        let names = &rule["resourceNames"];
        let name_ok = strings(names).next().is_none() || strings(names).any(|n| n == a.name);
        return group_ok && resource_ok && name_ok;
    };
    strings(&rule["nonResourceURLs"]).any(|u| {
        u == "*"
            || u == path
            || u.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

/// Decides whether `user` may do `a` under `policy`.
pub(crate) fn authorize(user: &UserInfo, a: &Attributes, policy: &Policy<'_>) -> Decision {
    if user.in_group(MASTERS) {
        return Decision::Allow(Grant::PrivilegedGroup);
    }
    let mut errors: Vec<String> = vec![];
    let cluster = policy
        .cluster_role_bindings
        .into_iter()
        .flatten()
        .map(|(_, b)| ("ClusterRoleBinding", b));
    let local = policy
        .role_bindings
        .into_iter()
        .flatten()
        .filter(|((ns, _), _)| !a.namespace.is_empty() && *ns == a.namespace)
        .map(|(_, b)| ("RoleBinding", b));
    for (kind, binding) in cluster.chain(local) {
        let ns = if kind == "RoleBinding" {
            a.namespace.as_str()
        } else {
            ""
        };
        let applies = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| subject_is(s, user, ns));
        if !applies {
            continue;
        }
        let binding_name = binding["metadata"]["name"].as_str().unwrap_or_default();
        let role_ref = &binding["roleRef"];
        let rules = match policy.rules_of(role_ref, ns) {
            Ok(r) => r,
            Err(e) => {
                if !errors.contains(&e) {
                    errors.push(e);
                }
                continue;
            }
        };
        if let Some((source, index, _)) = rules.into_iter().find(|(_, _, r)| rule_allows(a, r)) {
            let role_kind = role_ref["kind"].as_str().unwrap_or_default();
            let role_ns = if role_kind == "Role" { ns } else { "" };
            return Decision::Allow(Grant::Rule(Box::new(RuleRef {
                binding: ObjectRef::new(kind, ns, binding_name),
                role: ObjectRef::new(
                    role_kind,
                    role_ns,
                    role_ref["name"].as_str().unwrap_or_default(),
                ),
                source,
                index,
            })));
        }
    }
    let reason = match errors.as_slice() {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    };
    Decision::Deny { reason }
}

#[cfg(test)]
mod tests;
