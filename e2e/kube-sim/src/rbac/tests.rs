//! Unit tests of the pure RBAC authorizer. No I/O.

use serde_json::{Value, json};

use super::*;
use crate::store::{Objects, key_of};

/// Owned RBAC objects to borrow a [`Policy`] from.
#[derive(Default)]
struct Fixture {
    roles: Objects,
    cluster_roles: Objects,
    role_bindings: Objects,
    cluster_role_bindings: Objects,
}

impl Fixture {
    fn with(objects: &[Value]) -> Self {
        let mut f = Self::default();
        for o in objects {
            let map = match o["kind"].as_str() {
                Some("Role") => &mut f.roles,
                Some("ClusterRole") => &mut f.cluster_roles,
                Some("RoleBinding") => &mut f.role_bindings,
                _ => &mut f.cluster_role_bindings,
            };
            map.insert(key_of(o), o.clone());
        }
        f
    }

    fn policy(&self) -> Policy<'_> {
        Policy {
            roles: Some(&self.roles),
            cluster_roles: Some(&self.cluster_roles),
            role_bindings: Some(&self.role_bindings),
            cluster_role_bindings: Some(&self.cluster_role_bindings),
        }
    }

    fn decide(&self, user: &UserInfo, a: &Attributes) -> Decision {
        authorize(user, a, &self.policy())
    }

    fn allows(&self, user: &UserInfo, a: &Attributes) -> bool {
        matches!(self.decide(user, a), Decision::Allow(_))
    }
}

fn role(ns: &str, name: &str, rules: Value) -> Value {
    json!({"kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": rules})
}

fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
    json!({"kind": "ClusterRole", "metadata": {"name": name, "labels": labels}, "rules": rules})
}

fn binding(
    kind: &str,
    ns: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Value,
) -> Value {
    let mut b = json!({"kind": kind, "metadata": {"name": name},
        "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role}, "subjects": subjects});
    if !ns.is_empty() {
        b["metadata"]["namespace"] = json!(ns);
    }
    b
}

fn sa_subject(ns: &str, name: &str) -> Value {
    json!([{"kind": "ServiceAccount", "namespace": ns, "name": name}])
}

fn op() -> UserInfo {
    UserInfo::service_account("sys", "op")
}

fn res(verb: &str, group: &str, resource: &str) -> Attributes {
    Attributes::resource(verb, group, resource)
}

#[test]
fn masters_may_do_anything_and_nobody_else_without_a_binding() {
    let f = Fixture::default();
    assert_eq!(
        f.decide(&UserInfo::admin(), &res("delete", "", "nodes").named("n")),
        Decision::Allow(Grant::PrivilegedGroup)
    );
    assert_eq!(
        f.decide(
            &op(),
            &res("get", "", "pods").in_namespace("sys").named("p")
        ),
        Decision::Deny {
            reason: String::new()
        }
    );
}

#[test]
fn a_role_binding_grants_in_its_namespace_and_names_the_rule() {
    let f = Fixture::with(&[
        role(
            "sys",
            "r",
            json!([
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "watch"]},
            ]),
        ),
        binding(
            "RoleBinding",
            "sys",
            "rb",
            "Role",
            "r",
            sa_subject("sys", "op"),
        ),
    ]);
    let leases = res("list", "coordination.k8s.io", "leases");
    assert_eq!(
        f.decide(&op(), &leases.clone().in_namespace("sys")),
        Decision::Allow(Grant::Rule(Box::new(RuleRef {
            binding: ObjectRef::new("RoleBinding", "sys", "rb"),
            role: ObjectRef::new("Role", "sys", "r"),
            source: ObjectRef::new("Role", "sys", "r"),
            index: 1,
        })))
    );
    assert!(!f.allows(&op(), &leases.clone().in_namespace("other")));
    assert!(!f.allows(&op(), &leases), "not cluster-wide");
    assert!(!f.allows(
        &op(),
        &res("create", "coordination.k8s.io", "leases").in_namespace("sys")
    ));
    assert!(
        !f.allows(
            &UserInfo::service_account("other", "op"),
            &res("get", "batch", "jobs").in_namespace("sys")
        ),
        "another namespace's service account of the same name"
    );
}

#[test]
fn subjects_match_users_groups_and_service_accounts_defaulting_to_the_binding_namespace() {
    let f = Fixture::with(&[
        cluster_role(
            "read",
            json!({}),
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "u",
            "ClusterRole",
            "read",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "g",
            "ClusterRole",
            "read",
            json!([{"kind": "Group", "name": "ops"}]),
        ),
        binding(
            "RoleBinding",
            "a",
            "sa",
            "ClusterRole",
            "read",
            json!([{"kind": "ServiceAccount", "name": "bot"}]),
        ),
    ]);
    let get = |ns: &str| res("get", "", "pods").in_namespace(ns).named("p");
    assert!(f.allows(&UserInfo::new("alice", &[]), &get("x")));
    assert!(f.allows(&UserInfo::new("bob", &["ops"]), &get("x")));
    assert!(!f.allows(&UserInfo::new("bob", &["dev"]), &get("x")));
    assert!(f.allows(&UserInfo::service_account("a", "bot"), &get("a")));
    assert!(
        !f.allows(&UserInfo::service_account("a", "bot"), &get("b")),
        "a ClusterRole bound by a RoleBinding applies in its namespace only"
    );
}

#[test]
fn wildcards_and_subresources() {
    let rules = |r: Value| {
        Fixture::with(&[
            cluster_role("c", json!({}), r),
            binding(
                "ClusterRoleBinding",
                "",
                "b",
                "ClusterRole",
                "c",
                json!([{"kind": "User", "name": "u"}]),
            ),
        ])
    };
    let u = UserInfo::new("u", &[]);
    let all = rules(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]));
    assert!(
        all.allows(&u, &res("use", "policy", "podsecuritypolicies").named("x")),
        "custom verbs too"
    );
    assert!(
        all.allows(
            &u,
            &res("create", "", "pods")
                .in_namespace("a")
                .named("p")
                .subresource("eviction")
        )
    );
    assert!(
        !all.allows(&u, &Attributes::non_resource("get", "/metrics")),
        "resource rules never match paths"
    );

    let pods =
        rules(json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]}]));
    let evict = res("create", "", "pods")
        .in_namespace("a")
        .named("p")
        .subresource("eviction");
    assert!(pods.allows(&u, &res("get", "", "pods").in_namespace("a").named("p")));
    assert!(
        !pods.allows(&u, &evict),
        "a resource rule does not cover its subresources"
    );
    assert!(
        !pods.allows(&u, &res("get", "apps", "pods").named("p")),
        "another group"
    );

    let evictions =
        rules(json!([{"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}]));
    assert!(evictions.allows(&u, &evict));
    assert!(!evictions.allows(&u, &res("create", "", "pods").in_namespace("a")));

    let any_status =
        rules(json!([{"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]}]));
    assert!(
        any_status.allows(
            &u,
            &res("patch", "batch", "jobs")
                .named("j")
                .subresource("status")
        )
    );
    assert!(!any_status.allows(&u, &res("patch", "batch", "jobs").named("j")));
    assert!(!any_status.allows(
        &u,
        &res("patch", "", "pods").named("p").subresource("statusx")
    ));

    // `pods/*` names a subresource literally called `*`: the real server grants no other.
    let pods_star = rules(json!([{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}]));
    assert!(!pods_star.allows(&u, &res("get", "", "pods").named("p").subresource("status")));
    assert!(!pods_star.allows(&u, &res("get", "", "pods").named("p")));
}

#[test]
fn resource_names_limit_named_requests_only() {
    let f = Fixture::with(&[
        role(
            "a",
            "r",
            json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls"],
                "verbs": ["get", "list", "watch", "create", "update"]}]),
        ),
        binding(
            "RoleBinding",
            "a",
            "b",
            "Role",
            "r",
            sa_subject("sys", "op"),
        ),
    ]);
    let s = |verb: &str| res(verb, "", "secrets").in_namespace("a");
    assert!(f.allows(&op(), &s("get").named("tls")));
    assert!(f.allows(&op(), &s("update").named("tls")));
    assert!(!f.allows(&op(), &s("get").named("other")));
    assert!(
        !f.allows(&op(), &s("list")),
        "an unselected list has no name"
    );
    assert!(
        f.allows(&op(), &s("watch").named("tls")),
        "a list or watch selecting metadata.name"
    );
    assert!(!f.allows(&op(), &s("create")), "a create has no name");
    assert!(
        f.allows(&op(), &s("create").named("tls")),
        "a create by server-side apply is named"
    );
}

#[test]
fn non_resource_urls_match_exactly_or_by_prefix() {
    let f = Fixture::with(&[
        cluster_role(
            "d",
            json!({}),
            json!([{"nonResourceURLs": ["/api", "/apis/*", "/version"], "verbs": ["get"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "d",
            "ClusterRole",
            "d",
            json!([{"kind": "Group", "name": "system:authenticated"}]),
        ),
    ]);
    let u = op();
    let get = |p: &str| Attributes::non_resource("get", p);
    assert!(f.allows(&u, &get("/api")));
    assert!(!f.allows(&u, &get("/api/v1")), "no `/api/*`");
    assert!(f.allows(&u, &get("/apis/apps/v1")));
    assert!(f.allows(&u, &get("/apis/")));
    assert!(
        !f.allows(&u, &get("/apis")),
        "`/apis/*` does not cover `/apis`"
    );
    assert!(!f.allows(&u, &Attributes::non_resource("post", "/version")));
    assert!(!f.allows(&UserInfo::anonymous(), &get("/version")));
}

#[test]
fn aggregated_cluster_roles_take_the_rules_of_the_selected_roles() {
    let f = Fixture::with(&[
        json!({"kind": "ClusterRole", "metadata": {"name": "agg"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-agg": "true"}}]},
            // Rules written by hand into an aggregated role are replaced by the aggregation.
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
        cluster_role(
            "part-a",
            json!({"to-agg": "true"}),
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        ),
        json!({"kind": "ClusterRole", "metadata": {"name": "part-b", "labels": {"to-agg": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"to-b": "true"}}]}}),
        cluster_role(
            "part-c",
            json!({"to-b": "true"}),
            json!([
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]},
            ]),
        ),
        cluster_role(
            "unrelated",
            json!({"to-agg": "false"}),
            json!([{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "b",
            "ClusterRole",
            "agg",
            json!([{"kind": "User", "name": "u"}]),
        ),
    ]);
    let u = UserInfo::new("u", &[]);
    assert!(f.allows(&u, &res("get", "", "pods").in_namespace("a").named("p")));
    assert!(!f.allows(&u, &res("get", "", "secrets").in_namespace("a").named("s")));
    assert!(!f.allows(&u, &res("create", "", "events").in_namespace("a")));
    assert_eq!(
        f.decide(&u, &res("patch", "", "nodes").named("n")),
        Decision::Allow(Grant::Rule(Box::new(RuleRef {
            binding: ObjectRef::new("ClusterRoleBinding", "", "b"),
            role: ObjectRef::new("ClusterRole", "", "agg"),
            source: ObjectRef::new("ClusterRole", "", "part-c"),
            index: 1,
        }))),
        "aggregation is transitive and the rule is named in the role it came from"
    );
}

#[test]
fn a_binding_to_a_missing_role_is_the_reason_of_a_denial() {
    let f = Fixture::with(&[
        binding(
            "RoleBinding",
            "a",
            "b",
            "Role",
            "gone",
            sa_subject("sys", "op"),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "c",
            "ClusterRole",
            "gone-too",
            sa_subject("sys", "op"),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "d",
            "ClusterRole",
            "gone-too",
            sa_subject("sys", "op"),
        ),
    ]);
    assert_eq!(
        f.decide(&op(), &res("list", "", "pods").in_namespace("a")),
        Decision::Deny {
            reason: "RBAC: [clusterrole.rbac.authorization.k8s.io \"gone-too\" not found, role.rbac.authorization.k8s.io \"gone\" not found]".into()
        }
    );
    assert_eq!(
        f.decide(&op(), &res("list", "", "pods")),
        Decision::Deny {
            reason: "RBAC: clusterrole.rbac.authorization.k8s.io \"gone-too\" not found".into()
        }
    );
}

#[test]
fn a_rule_without_verbs_allows_nothing() {
    let rule = json!({"apiGroups": ["*"], "resources": ["*"]});
    assert!(!rule_allows(&res("get", "", "pods"), &rule));
}

#[test]
fn the_core_group_is_not_every_group() {
    let rule = json!({"apiGroups": [""], "resources": ["*"], "verbs": ["list"]});
    assert!(rule_allows(&res("list", "", "pods"), &rule));
    assert!(!rule_allows(&res("list", "apps", "deployments"), &rule));
}

#[test]
fn resource_rules_and_path_rules_never_cross() {
    let resources = json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]});
    assert!(!rule_allows(
        &Attributes::non_resource("get", "/version"),
        &resources
    ));
    let paths = json!({"nonResourceURLs": ["*"], "verbs": ["get"]});
    assert!(!rule_allows(&res("get", "", "pods"), &paths));
    assert!(rule_allows(
        &Attributes::non_resource("get", "/healthz"),
        &paths
    ));
}

#[test]
fn a_subresource_rule_does_not_allow_its_parent() {
    let rule = json!({"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]});
    assert!(rule_allows(
        &res("create", "", "pods").named("p").subresource("eviction"),
        &rule
    ));
    assert!(!rule_allows(&res("create", "", "pods"), &rule));
    assert!(!rule_allows(
        &res("create", "", "pods").named("p").subresource("binding"),
        &rule
    ));
}
