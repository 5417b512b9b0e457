//! Tests of request attributes and the Forbidden answers built from them.

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

#[test]
fn a_status_write_of_a_cluster_scoped_custom_object_names_its_subresource() {
    assert_eq!(
        parse(
            "PATCH",
            "/apis/operator.kairos.io/v1alpha1/kairosnodes/n1/status",
            &q(&[])
        ),
        Attributes::resource("patch", "operator.kairos.io", "kairosnodes")
            .named("n1")
            .subresource("status")
    );
}

#[test]
fn head_is_a_get_and_watch_may_be_spelled_1() {
    assert_eq!(
        parse("HEAD", "/api/v1/nodes/n1", &q(&[])),
        Attributes::resource("get", "", "nodes").named("n1")
    );
    assert_eq!(
        parse("GET", "/api/v1/nodes", &q(&[("watch", "1")])).verb,
        "watch"
    );
    assert_eq!(
        parse("GET", "/api/v1/nodes", &q(&[("watch", "false")])).verb,
        "list"
    );
}

#[test]
fn a_method_without_a_verb_leaves_the_verb_empty() {
    assert_eq!(parse("OPTIONS", "/api/v1/nodes/n1", &q(&[])).verb, "");
}

#[test]
fn a_request_across_namespaces_has_no_namespace() {
    assert_eq!(
        parse("GET", "/apis/batch/v1/jobs", &q(&[])),
        Attributes::resource("list", "batch", "jobs")
    );
}
