//! Authentication and RBAC authorization: service-account tokens from the TokenRequest API used as
//! API credentials, Roles, ClusterRoles and their bindings, the real server's 401 and 403
//! answers, and discovery for every authenticated user. Does API I/O.

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};

use crate::prelude::*;

/// A client of the cluster's API server with `token` as its only credential (`None`: no
/// credential at all, an anonymous client). Built from the admin kubeconfig, so it trusts the same
/// server certificate.
async fn client_with(c: &kairos_e2e::harness::Cluster, token: Option<&str>) -> Client {
    let text = std::fs::read_to_string(c.kubeconfig_path()).expect("kubeconfig");
    let mut kc: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig yaml");
    for user in kc["users"].as_sequence_mut().expect("users") {
        let mut auth = serde_yaml::Mapping::new();
        if let Some(t) = token {
            auth.insert("token".into(), t.into());
        }
        user["user"] = serde_yaml::Value::Mapping(auth);
    }
    let kc = kube::config::Kubeconfig::from_yaml(&serde_yaml::to_string(&kc).expect("yaml"))
        .expect("kubeconfig parses");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("client config");
    cfg.default_retry = false;
    Client::try_from(cfg).expect("client")
}

/// A token for service account `ns/name` from the TokenRequest API (no audience: the API
/// server's own).
async fn token(
    c: &kairos_e2e::harness::Cluster,
    ns: &str,
    name: &str,
    audiences: &[&str],
) -> String {
    c.ensure_service_account(ns, name)
        .await
        .expect("service account");
    let sas: Api<ServiceAccount> = Api::namespaced(c.client(), ns);
    let mut spec = json!({"expirationSeconds": 3600});
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let req =
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec});
    let tr: k8s_openapi::api::authentication::v1::TokenRequest = sas
        .create_subresource("token", name, &PostParams::default(), &req)
        .await
        .expect("token request");
    tr.status.expect("token").token
}

/// A client acting as service account `ns/name`, with its username.
async fn sa_client(c: &kairos_e2e::harness::Cluster, ns: &str, name: &str) -> (Client, String) {
    let t = token(c, ns, name, &[]).await;
    (
        client_with(c, Some(&t)).await,
        format!("system:serviceaccount:{ns}:{name}"),
    )
}

/// Creates Role `name` with `rules` in `ns`, and a RoleBinding of the same name granting it to
/// service account `sa_ns/sa`.
async fn grant_role(
    c: &kairos_e2e::harness::Cluster,
    ns: &str,
    name: &str,
    rules: Value,
    sa_ns: &str,
    sa: &str,
) {
    let role: Role =
        serde_json::from_value(json!({"metadata": {"name": name}, "rules": rules})).expect("role");
    Api::<Role>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &role)
        .await
        .expect("create role");
    bind(c, ns, name, "Role", name, sa_ns, sa).await;
}

/// Creates RoleBinding `ns/name` of `role_kind` `role` to service account `sa_ns/sa`.
async fn bind(
    c: &kairos_e2e::harness::Cluster,
    ns: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    sa_ns: &str,
    sa: &str,
) {
    let rb: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
    }))
    .expect("role binding");
    Api::<RoleBinding>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &rb)
        .await
        .expect("create role binding");
}

/// The Status of a refused request.
fn status<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts `r` is the real server's 403 with `message`.
fn assert_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>, message: &str) -> Status {
    let s = status(r);
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"), "{s:?}");
    assert_eq!(s.message, message);
    s
}

/// Waits until `f` succeeds (a real server may take a moment to see a new binding).
async fn eventually<T, F, Fut>(f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(Duration::from_secs(20), f)
        .await
        .expect("the new permission takes effect")
}

#[tokio::test]
async fn conformance_rbac_service_account_without_binding_is_forbidden() {
    let (c, ns) = cluster("conf-rbac-none").await;
    let (sa, user) = sa_client(&c, &ns, "nobody").await;
    let pods: Api<Pod> = Api::namespaced(sa.clone(), &ns);
    let s = assert_forbidden(
        pods.list(&ListParams::default()).await,
        &format!(
            "pods is forbidden: User \"{user}\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    let details = s.details.expect("details");
    assert_eq!(
        (
            details.kind.as_str(),
            details.group.as_str(),
            details.name.as_str()
        ),
        ("pods", "", "")
    );
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(sa);
    let s = assert_forbidden(
        nodes.get("w1").await,
        &format!(
            "nodes \"w1\" is forbidden: User \"{user}\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
        ),
    );
    assert_eq!(s.details.expect("details").name, "w1");
}

#[tokio::test]
async fn conformance_rbac_role_binding_grants_in_its_namespace_only() {
    let (c, ns) = cluster("conf-rbac-role").await;
    let other = fresh_ns(&c, "conf-rbac-role-other").await;
    let (sa, user) = sa_client(&c, &ns, "reader").await;
    grant_role(
        &c,
        &ns,
        "list-pods",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]),
        &ns,
        "reader",
    )
    .await;
    let here: Api<Pod> = Api::namespaced(sa.clone(), &ns);
    eventually(|| async { here.list(&ListParams::default()).await.ok() }).await;
    let there: Api<Pod> = Api::namespaced(sa.clone(), &other);
    assert_forbidden(
        there.list(&ListParams::default()).await,
        &format!(
            "pods is forbidden: User \"{user}\" cannot list resource \"pods\" in API group \"\" in the namespace \"{other}\""
        ),
    );
    assert_forbidden(
        Api::<Pod>::all(sa.clone())
            .list(&ListParams::default())
            .await,
        &format!(
            "pods is forbidden: User \"{user}\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
        ),
    );
    assert_forbidden(
        here.get("p").await,
        &format!(
            "pods \"p\" is forbidden: User \"{user}\" cannot get resource \"pods\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
}

#[tokio::test]
async fn conformance_rbac_resource_names_limit_get_and_selected_lists() {
    let (c, ns) = cluster("conf-rbac-names").await;
    for n in ["cm-a", "cm-b"] {
        cms(&c.client(), &ns)
            .create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let (sa, user) = sa_client(&c, &ns, "named").await;
    grant_role(
        &c,
        &ns,
        "one-cm",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cm-a", "cm-new"],
            "verbs": ["get", "list", "watch", "create"]}]),
        &ns,
        "named",
    )
    .await;
    let api = cms(&sa, &ns);
    eventually(|| async { api.get("cm-a").await.ok() }).await;
    assert_forbidden(
        api.get("cm-b").await,
        &format!(
            "configmaps \"cm-b\" is forbidden: User \"{user}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    assert_forbidden(
        api.list(&ListParams::default()).await,
        &format!(
            "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    let selected = api
        .list(&ListParams::default().fields("metadata.name=cm-a"))
        .await
        .unwrap();
    assert_eq!(
        selected
            .items
            .iter()
            .map(|o| o.name_any())
            .collect::<Vec<_>>(),
        ["cm-a"]
    );
    assert_forbidden(
        api.list(&ListParams::default().fields("metadata.name=cm-b"))
            .await,
        &format!(
            "configmaps \"cm-b\" is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    let mut w = api
        .watch(
            &WatchParams::default()
                .fields("metadata.name=cm-a")
                .timeout(2),
            "0",
        )
        .await
        .expect("a watch selecting the named object is allowed")
        .boxed();
    match w.try_next().await {
        Ok(Some(WatchEvent::Added(o))) => assert_eq!(o.name_any(), "cm-a"),
        other => panic!("expected cm-a ADDED, got {other:?}"),
    }
    assert_forbidden(
        api.create(&PostParams::default(), &cm("cm-new", json!({})))
            .await,
        &format!(
            "configmaps is forbidden: User \"{user}\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
}

#[tokio::test]
async fn conformance_rbac_eviction_needs_the_subresource_rule() {
    let (c, ns) = cluster("conf-rbac-evict").await;
    Api::<Pod>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &pod("victim", json!({}), None))
        .await
        .unwrap();
    let (sa, user) = sa_client(&c, &ns, "drainer").await;
    grant_role(
        &c,
        &ns,
        "pods",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "create", "delete"]}]),
        &ns,
        "drainer",
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(sa.clone(), &ns);
    eventually(|| async { pods.get("victim").await.ok() }).await;
    let s = assert_forbidden(
        pods.evict("victim", &Default::default()).await,
        &format!(
            "pods \"victim\" is forbidden: User \"{user}\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    let d = s.details.expect("details");
    assert_eq!((d.kind.as_str(), d.name.as_str()), ("pods", "victim"));
    grant_role(
        &c,
        &ns,
        "evict",
        json!([{"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]}]),
        &ns,
        "drainer",
    )
    .await;
    eventually(|| async { pods.evict("victim", &Default::default()).await.ok() }).await;
}

#[tokio::test]
async fn conformance_rbac_cluster_role_bound_in_a_namespace_applies_there_only() {
    let (c, ns) = cluster("conf-rbac-crb").await;
    let other = fresh_ns(&c, "conf-rbac-crb-other").await;
    let (sa, user) = sa_client(&c, &ns, "cm-reader").await;
    let role_name = format!("{ns}-read-cms");
    let cr: ClusterRole = serde_json::from_value(json!({"metadata": {"name": role_name},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}))
    .unwrap();
    let crs: Api<ClusterRole> = Api::all(c.client());
    crs.create(&PostParams::default(), &cr).await.unwrap();
    bind(
        &c,
        &ns,
        "read-cms",
        "ClusterRole",
        &role_name,
        &ns,
        "cm-reader",
    )
    .await;
    let here = cms(&sa, &ns);
    eventually(|| async { here.list(&ListParams::default()).await.ok() }).await;
    assert_forbidden(
        cms(&sa, &other).list(&ListParams::default()).await,
        &format!(
            "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"{other}\""
        ),
    );
    assert_forbidden(
        Api::<ConfigMap>::all(sa).list(&ListParams::default()).await,
        &format!(
            "configmaps is forbidden: User \"{user}\" cannot list resource \"configmaps\" in API group \"\" at the cluster scope"
        ),
    );
    crs.delete(&role_name, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn conformance_rbac_watch_needs_the_watch_verb() {
    let (c, ns) = cluster("conf-rbac-watch").await;
    let (sa, user) = sa_client(&c, &ns, "watcher").await;
    grant_role(
        &c,
        &ns,
        "list",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
        &ns,
        "watcher",
    )
    .await;
    let api = cms(&sa, &ns);
    eventually(|| async { api.list(&ListParams::default()).await.ok() }).await;
    assert_forbidden(
        api.watch(&WatchParams::default().timeout(2), "0")
            .await
            .map(|_| ()),
        &format!(
            "configmaps is forbidden: User \"{user}\" cannot watch resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
    );
    grant_role(
        &c,
        &ns,
        "watch",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["watch"]}]),
        &ns,
        "watcher",
    )
    .await;
    let mut w = eventually(|| async {
        api.watch(&WatchParams::default().timeout(5), "0")
            .await
            .ok()
            .map(|s| s.boxed())
    })
    .await;
    cms(&c.client(), &ns)
        .create(&PostParams::default(), &cm("seen", json!({})))
        .await
        .unwrap();
    let added = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = w.try_next().await.expect("watch event") {
            if let WatchEvent::Added(o) = ev
                && o.name_any() == "seen"
            {
                return true;
            }
        }
        false
    })
    .await
    .expect("an event within 10 s");
    assert!(added, "the watch ended before `seen` was added");
}

#[tokio::test]
async fn conformance_rbac_invalid_and_foreign_audience_tokens_are_unauthorized() {
    let (c, ns) = cluster("conf-rbac-401").await;
    let foreign = token(&c, &ns, "agent", &["kairos-operator"]).await;
    for (what, t) in [
        ("garbage", "not-a-token".to_string()),
        ("kairos-operator audience", foreign),
    ] {
        let client = client_with(&c, Some(&t)).await;
        let s = status(
            Api::<Pod>::namespaced(client, &ns)
                .list(&ListParams::default())
                .await,
        );
        assert_eq!(
            (s.code, s.reason.as_str(), s.message.as_str()),
            (401, "Unauthorized", "Unauthorized"),
            "{what}: {s:?}"
        );
    }
}

#[tokio::test]
async fn conformance_rbac_discovery_is_open_to_every_authenticated_user() {
    let (c, ns) = cluster("conf-rbac-discovery").await;
    let (sa, _) = sa_client(&c, &ns, "anyone").await;
    sa.apiserver_version().await.expect("/version");
    let core = sa.list_core_api_versions().await.expect("/api");
    assert!(core.versions.contains(&"v1".to_string()), "{core:?}");
    let groups = sa.list_api_groups().await.expect("/apis");
    assert!(
        groups.groups.iter().any(|g| g.name == "operator.kairos.io"),
        "{groups:?}"
    );
    sa.list_api_group_resources("operator.kairos.io/v1alpha1")
        .await
        .expect("/apis/<group>/<version>");
    let healthz = axum::http::Request::get("/healthz")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        sa.request_text(healthz).await.expect("/healthz").trim(),
        "ok"
    );

    // Without credentials: health and version only.
    let anonymous = client_with(&c, None).await;
    anonymous
        .apiserver_version()
        .await
        .expect("anonymous /version");
    assert_forbidden(
        anonymous.list_core_api_versions().await,
        "forbidden: User \"system:anonymous\" cannot get path \"/api\"",
    );
}

#[tokio::test]
async fn conformance_rbac_self_subject_access_review_answers_for_the_caller() {
    let (c, ns) = cluster("conf-rbac-ssar").await;
    let (sa, _) = sa_client(&c, &ns, "asker").await;
    let ask = |verb: &str| {
        serde_json::from_value::<SelfSubjectAccessReview>(json!({"spec": {"resourceAttributes":
            {"namespace": ns, "verb": verb, "resource": "pods"}}}))
        .unwrap()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(sa);
    let allowed = |r: SelfSubjectAccessReview| r.status.expect("status").allowed;
    let before = reviews
        .create(&PostParams::default(), &ask("list"))
        .await
        .unwrap();
    assert!(!allowed(before));
    grant_role(
        &c,
        &ns,
        "list-pods",
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]),
        &ns,
        "asker",
    )
    .await;
    eventually(|| async {
        let r = reviews
            .create(&PostParams::default(), &ask("list"))
            .await
            .ok()?;
        allowed(r).then_some(())
    })
    .await;
    let delete = reviews
        .create(&PostParams::default(), &ask("delete"))
        .await
        .unwrap();
    assert!(!allowed(delete));
}
