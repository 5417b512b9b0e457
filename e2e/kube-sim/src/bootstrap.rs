//! The real API server's bootstrap RBAC policy that matters to clients: `cluster-admin` for
//! `system:masters`, discovery, health and version for every authenticated user (health and
//! version also for anonymous ones), self access reviews for everyone authenticated, and the
//! unbound `system:auth-delegator`. Built as objects the simulator stores at start. No I/O.

use serde_json::{Value, json};

use super::authn::{AUTHENTICATED, MASTERS, UNAUTHENTICATED};
use super::rbac::GROUP;

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRole", "metadata": meta(name), "rules": rules})
}

fn binding_to_groups(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
        .collect();
    json!({"apiVersion": format!("{GROUP}/v1"), "kind": "ClusterRoleBinding", "metadata": meta(name),
        "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name}, "subjects": subjects})
}

/// The bootstrap ClusterRoles.
pub(crate) fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": [
                "/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*",
                "/api", "/api/*", "/apis", "/apis/*",
            ], "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/livez", "/readyz", "/healthz", "/version", "/version/"],
                "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:auth-delegator",
            json!([
                {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            ]),
        ),
    ]
}

/// The bootstrap ClusterRoleBindings.
pub(crate) fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding_to_groups("cluster-admin", &[MASTERS]),
        binding_to_groups("system:discovery", &[AUTHENTICATED]),
        binding_to_groups("system:basic-user", &[AUTHENTICATED]),
        binding_to_groups(
            "system:public-info-viewer",
            &[AUTHENTICATED, UNAUTHENTICATED],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use crate::rbac::{CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES};
    use crate::sim::Sim;

    #[test]
    fn every_bootstrap_object_is_stored_at_start() {
        let sim = Sim::new(&SimConfig::default());
        let st = sim.lock();
        for (key, objects) in [
            (CLUSTER_ROLES, cluster_roles()),
            (CLUSTER_ROLE_BINDINGS, cluster_role_bindings()),
        ] {
            for o in objects {
                let name = o["metadata"]["name"].as_str().unwrap();
                assert!(st.get(key, "", name).is_some(), "{key} {name}");
            }
        }
    }
}
