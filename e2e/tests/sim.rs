//! Simulator-only behaviour: streaming lists, the disruption-controller stand-in, graceful pod
//! deletion, propagation policies, bounded watch history, namespace termination, Table output,
//! held LISTs, restarts, the permission accounting, the create check of an apply that creates,
//! configurable size limits and the largest stored objects in the request log (the `kube-sim`
//! binary is tested in its own crate). Does API I/O.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kairos_e2e::harness::{Cluster, client_from, wait_for};
use kairos_kube_sim::SimConfig;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

async fn sim(cfg: SimConfig) -> Cluster {
    Cluster::start_sim(cfg).await.expect("sim starts")
}

#[tokio::test]
async fn sim_streaming_list_ends_initial_events_with_a_bookmark() {
    let c = sim(SimConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    for n in ["a", "b"] {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": n}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let mut s = api
        .watch(&WatchParams::streaming_lists().timeout(3), "")
        .await
        .unwrap()
        .boxed();
    let mut added = vec![];
    loop {
        match s.try_next().await.unwrap().expect("stream continues") {
            WatchEvent::Added(o) => added.push(o.name_any()),
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["a", "b"]);
}

async fn ready_pod(c: &Cluster, ns: &str, name: &str) {
    let pods: Api<Pod> = Api::namespaced(c.client(), ns);
    pods.create(
        &PostParams::default(),
        &pod(name, json!({"app": "web"}), None),
    )
    .await
    .expect("test fixture");
    c.kubelet().run_pod(ns, name).await.expect("test fixture");
}

#[tokio::test]
async fn sim_disruption_budget_status_and_eviction() {
    let c = sim(SimConfig::default()).await;
    for n in ["w1", "w2"] {
        ready_pod(&c, "default", n).await;
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client(), "default");
    pdbs.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})).unwrap()).await.unwrap();
    let st = pdbs.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (
            st.current_healthy,
            st.desired_healthy,
            st.expected_pods,
            st.disruptions_allowed
        ),
        (2, 1, 2, 1)
    );
    let pods: Api<Pod> = Api::namespaced(c.client(), "default");
    pods.evict("w1", &EvictParams::default()).await.unwrap();
    let (code, _) = api_err(pods.evict("w2", &EvictParams::default()).await);
    assert_eq!(code, 429);
    assert_eq!(
        pdbs.get("web")
            .await
            .unwrap()
            .status
            .unwrap()
            .disruptions_allowed,
        0
    );
}

#[tokio::test]
async fn sim_bound_pods_terminate_gracefully_until_the_kubelet_confirms() {
    let c = sim(SimConfig::default()).await;
    let pods: Api<Pod> = Api::namespaced(c.client(), "default");
    let mut p = pod("bound", json!({}), Some("n1"));
    p.spec.as_mut().unwrap().termination_grace_period_seconds = Some(30);
    pods.create(&PostParams::default(), &p).await.unwrap();
    pods.delete("bound", &DeleteParams::default())
        .await
        .unwrap();
    let t = pods.get("bound").await.unwrap();
    assert!(t.metadata.deletion_timestamp.is_some());
    assert_eq!(t.metadata.deletion_grace_period_seconds, Some(30));
    assert_eq!(c.kubelet().reap_terminating("n1").await.unwrap(), 1);
    assert!(pods.get_opt("bound").await.unwrap().is_none());
}

fn job(name: &str) -> Job {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}})).expect("test fixture")
}

#[tokio::test]
async fn sim_job_deletion_orphans_pods_unless_asked_to_propagate() {
    let c = sim(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(c.client(), "default");
    let pods: Api<Pod> = Api::namespaced(c.client(), "default");
    for (name, dp) in [
        ("orphaning", DeleteParams::default()),
        ("propagating", DeleteParams::background()),
    ] {
        let j = jobs
            .create(&PostParams::default(), &job(name))
            .await
            .unwrap();
        assert_eq!(
            j.spec.as_ref().unwrap().backoff_limit,
            Some(6),
            "Job defaults are applied"
        );
        let p = c.kubelet().create_job_pod(&j).await.unwrap();
        jobs.delete(name, &dp).await.unwrap();
        let left = pods.get_opt(&p.name_any()).await.unwrap();
        if name == "orphaning" {
            assert!(
                left.expect("orphaned pod stays")
                    .owner_references()
                    .is_empty()
            );
        } else {
            assert!(left.is_none());
        }
    }
}

#[tokio::test]
async fn sim_bounded_history_answers_410_for_old_versions() {
    let c = sim(SimConfig {
        history: 5,
        ..SimConfig::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c0"}})).unwrap(),
        )
        .await
        .unwrap();
    for i in 1..10 {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let mut s = api
        .watch(
            &WatchParams::default().timeout(2),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    match s.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn sim_namespace_deletion_removes_its_content() {
    let c = sim(SimConfig::default()).await;
    let ns = fresh_ns(&c, "sim-nsdel").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), &ns);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
    )
    .await
    .unwrap();
    Api::<Namespace>::all(c.client())
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        Api::<Namespace>::all(c.client())
            .get_opt(&ns)
            .await
            .unwrap()
            .is_none()
    );
    let (code, _) = api_err(
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "y"}})).unwrap(),
        )
        .await,
    );
    assert_eq!(code, 404);
}

#[tokio::test]
async fn sim_table_output_uses_printer_columns() {
    let c = sim(SimConfig::default()).await;
    let client: Client = c.client();
    let req =
        axum::http::Request::get("/apis/operator.kairos.io/v1alpha1/namespaces/default/nodeops")
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())
            .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "Name",
            "Phase",
            "Nodes",
            "Done",
            "Failed",
            "Held",
            "Upgrade",
            "Age",
            "Skipped",
            "Node Upgrade"
        ]
    );
}

#[tokio::test]
async fn sim_dry_run_stores_nothing() {
    let c = sim(SimConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    let o = api.create(&pp, &cm).await.unwrap();
    assert!(o.uid().is_some());
    assert!(api.get_opt("dry").await.unwrap().is_none());
}

#[tokio::test]
async fn sim_metadata_api_returns_partial_objects() {
    let c = sim(SimConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "m", "labels": {"a": "b"}}, "data": {"k": "v"}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].labels()["a"], "b");
    let one = api.get_metadata("m").await.unwrap();
    assert_eq!(
        one.types.map(|t| t.kind),
        Some("PartialObjectMetadata".to_string())
    );
    let mut s = api
        .watch_metadata(&WatchParams::default().timeout(2), "0")
        .await
        .unwrap()
        .boxed();
    match s.try_next().await.unwrap() {
        Some(WatchEvent::Added(o)) => assert_eq!(o.name_any(), "m"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn sim_crd_deletion_deletes_its_objects_with_events() {
    let c = sim(SimConfig::default()).await;
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(c.client(), "default", &nodeop_resource());
    api.create(&PostParams::default(), &nodeop("doomed"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut s = api
        .watch(&WatchParams::default().timeout(3), &rv)
        .await
        .unwrap()
        .boxed();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(c.client());
    crds.delete("nodeops.operator.kairos.io", &DeleteParams::default())
        .await
        .unwrap();
    match s.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(o)) => assert_eq!(o.name_any(), "doomed"),
        other => panic!("expected DELETED, got {other:?}"),
    }
    assert!(
        c.client()
            .list_api_group_resources("operator.kairos.io/v1alpha1")
            .await
            .unwrap()
            .resources
            .iter()
            .all(|r| !r.name.starts_with("nodeops"))
    );
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).expect("a ConfigMap")
}

#[tokio::test]
async fn sim_held_lists_answer_only_when_released() {
    let c = sim(SimConfig::default()).await;
    let server = c.sim().expect("sim backend");
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    api.create(&PostParams::default(), &config_map("a"))
        .await
        .unwrap();
    let mut watch = api
        .watch(&WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        watch.try_next().await,
        Ok(Some(WatchEvent::Added(_)))
    ));

    server.sim().hold_lists("configmaps");
    let held = {
        let api = api.clone();
        tokio::spawn(async move { api.list(&ListParams::default()).await })
    };
    wait_for(Duration::from_secs(5), || async {
        (server.sim().lists_waiting("configmaps") == 1).then_some(())
    })
    .await
    .expect("the LIST reaches the gate");
    // Everything else is served meanwhile: a GET, a write, a watch, LISTs of other resources.
    assert_eq!(api.get("a").await.unwrap().name_any(), "a");
    api.create(&PostParams::default(), &config_map("b"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), watch.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(cm)))) => assert_eq!(cm.name_any(), "b"),
        other => panic!("expected ADDED b on the watch, got {other:?}"),
    }
    Api::<Namespace>::all(c.client())
        .list(&ListParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a held LIST answered");

    server.sim().release_lists();
    let list = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("the LIST answers once released")
        .unwrap()
        .unwrap();
    // It answers with the state at release.
    let names: Vec<String> = list.items.iter().map(|cm| cm.name_any()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(server.sim().lists_waiting("configmaps"), 0);
    api.list(&ListParams::default()).await.unwrap();
}

#[tokio::test]
async fn sim_restart_keeps_the_state_and_refuses_connections_while_down() {
    let c = sim(SimConfig::default()).await;
    let server = c.sim().expect("sim backend");
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let a = api
        .create(&PostParams::default(), &config_map("a"))
        .await
        .unwrap();
    let rv_a: u64 = a.resource_version().unwrap().parse().unwrap();
    let mut watch = api
        .watch(&WatchParams::default(), &rv_a.to_string())
        .await
        .unwrap()
        .boxed();

    let down = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let refused = tokio::net::TcpStream::connect(server.addr()).await;
        let listed = api.list(&ListParams::default()).await;
        (refused, listed)
    };
    let (restarted, (refused, listed)) =
        tokio::join!(server.restart(Duration::from_millis(1500)), down);
    restarted.expect("the simulator restarts");
    assert_eq!(
        refused.map(|_| ()).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionRefused),
        "connections are refused while down"
    );
    assert!(listed.is_err(), "{listed:?}");
    // The open watch was cut: it ends (or fails) instead of waiting forever.
    match tokio::time::timeout(Duration::from_secs(5), watch.try_next()).await {
        Ok(Ok(None) | Err(_)) => {}
        other => panic!("the watch survived the restart: {other:?}"),
    }

    // The same client reconnects; the objects and the version counter survived.
    let again = api.get("a").await.expect("reconnects after the restart");
    assert_eq!(again.uid(), a.uid());
    assert_eq!(again.resource_version(), a.resource_version());
    let b = api
        .create(&PostParams::default(), &config_map("b"))
        .await
        .unwrap();
    let rv_b: u64 = b.resource_version().unwrap().parse().unwrap();
    assert!(rv_b > rv_a, "{rv_b} <= {rv_a}");
    // The change history survived too: a watch resumes from before the restart.
    let mut resumed = api
        .watch(&WatchParams::default(), &rv_a.to_string())
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), resumed.try_next()).await {
        Ok(Ok(Some(WatchEvent::Added(cm)))) => assert_eq!(cm.name_any(), "b"),
        other => panic!("expected ADDED b, got {other:?}"),
    }
    // A second restart works the same way.
    server
        .restart(Duration::from_millis(200))
        .await
        .expect("restarts again");
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|cm| cm.name_any())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test]
async fn sim_permissions_record_each_decision_and_the_rule_that_allowed_it() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kairos_kube_sim::{Attributes, Grant, ObjectRef, RuleRef};

    let c = sim(SimConfig::default()).await;
    let ns = fresh_ns(&c, "sim-permissions").await;
    c.ensure_service_account(&ns, "op").await.unwrap();
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "r"}, "rules": [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]},
    ]}))
    .unwrap();
    Api::<Role>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": ns}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &rb)
        .await
        .unwrap();
    let kc = c.service_account_kubeconfig(&ns, "op").await.unwrap();
    let op = client_from(&kc).await.unwrap();
    let user = format!("system:serviceaccount:{ns}:op");
    let server = c.sim().expect("sim backend");
    server.sim().permissions().clear();

    // The binding takes effect at once: the very next request is allowed.
    let cms: Api<ConfigMap> = Api::namespaced(op.clone(), &ns);
    cms.list(&ListParams::default()).await.expect("allowed");
    cms.list(&ListParams::default()).await.expect("allowed");
    let (code, _) = api_err(cms.get("x").await);
    assert_eq!(code, 403);

    let perms = server.sim().permissions();
    let rule = RuleRef {
        binding: ObjectRef::new("RoleBinding", &ns, "b"),
        role: ObjectRef::new("Role", &ns, "r"),
        source: ObjectRef::new("Role", &ns, "r"),
        index: 1,
    };
    let mine = perms.of(&user);
    let list = Attributes::resource("list", "", "configmaps").in_namespace(&ns);
    let listed = mine
        .iter()
        .find(|a| a.attributes == list)
        .expect("the list");
    assert_eq!(listed.allowed_by, Some(Grant::Rule(Box::new(rule.clone()))));
    assert_eq!(listed.count, 2);
    assert_eq!(perms.rules_used(&user), [rule].into_iter().collect());
    let denied = server.sim().forbidden();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0].user, user);
    assert_eq!(
        denied[0].attributes,
        Attributes::resource("get", "", "configmaps")
            .in_namespace(&ns)
            .named("x")
    );
    // The admin's requests are recorded as allowed by its group.
    Api::<ConfigMap>::namespaced(c.client(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        perms
            .of("kube-sim-admin")
            .iter()
            .all(|a| a.allowed_by == Some(Grant::PrivilegedGroup))
    );
    // The request log names the user.
    let log = server.sim().requests().snapshot();
    assert!(
        log.keys()
            .any(|k| k.user == user && k.verb == "get" && k.code == 403),
        "{log:?}"
    );
}

#[tokio::test]
async fn sim_apply_that_creates_needs_create_but_updating_needs_patch_only() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    use kube::api::{Patch, PatchParams};

    let c = sim(SimConfig::default()).await;
    let ns = fresh_ns(&c, "sim-apply-create").await;
    c.ensure_service_account(&ns, "applier").await.unwrap();
    let role: Role = serde_json::from_value(json!({"metadata": {"name": "r"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["named"], "verbs": ["create"]},
    ]}))
    .unwrap();
    Api::<Role>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let rb: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "applier", "namespace": ns}]}))
    .unwrap();
    Api::<RoleBinding>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &rb)
        .await
        .unwrap();
    let kc = c.service_account_kubeconfig(&ns, "applier").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client_from(&kc).await.unwrap(), &ns);
    let apply = |name: &str| {
        let api = api.clone();
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}});
        let name = name.to_string();
        async move {
            api.patch(&name, &PatchParams::apply("t"), &Patch::Apply(&cm))
                .await
        }
    };
    match apply("other").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 403);
            assert_eq!(s.message, "configmaps \"other\" is forbidden: ");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    apply("named")
        .await
        .expect("a named create rule allows creating by apply");
    Api::<ConfigMap>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &config_map("existing"))
        .await
        .unwrap();
    apply("existing")
        .await
        .expect("updating by apply needs patch only");
}

#[tokio::test]
async fn sim_size_limits_are_configurable_and_the_log_keeps_the_largest_stored_object() {
    use kube::api::{Patch, PatchParams};

    // No CRDs: they are larger than this limit.
    let c = sim(SimConfig {
        max_request_bytes: 4096,
        max_body_bytes: 8192,
        crd_dir: None,
        ..SimConfig::default()
    })
    .await;
    let server = c.sim().expect("a simulator");
    let ns = fresh_ns(&c, "sim-limits").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), &ns);
    let cm = |name: &str, bytes: usize| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "data": {"k": "x".repeat(bytes)}}),
        )
        .unwrap()
    };
    let _ = server.sim().requests().take();
    let small = api
        .create(&PostParams::default(), &cm("small", 1000))
        .await
        .unwrap();
    let stored = serde_json::to_vec(&small).unwrap().len() as u64;
    match api.create(&PostParams::default(), &cm("over", 5000)).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(
                (s.code, s.message.as_str()),
                (500, "etcdserver: request is too large")
            )
        }
        other => panic!("expected etcd's refusal, got {other:?}"),
    }
    match api.create(&PostParams::default(), &cm("body", 9000)).await {
        Err(kube::Error::Api(s)) => assert_eq!(
            (s.code, s.reason.as_str(), s.message.as_str()),
            (
                413,
                "RequestEntityTooLarge",
                "Request entity too large: limit is 8192"
            )
        ),
        other => panic!("expected 413, got {other:?}"),
    }
    // A dry run stores nothing, so it does not count.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&dry, &cm("dry", 3000)).await.unwrap();
    let log = server.sim().requests();
    let largest = log.largest_stored();
    let (key, bytes) = largest
        .iter()
        .find(|(k, _)| k.resource == "configmaps")
        .expect("the create is recorded");
    // Within the few bytes of key order kube-rs and the simulator may serialize differently.
    assert!(bytes.abs_diff(stored) < 16, "{bytes} vs {stored}");
    assert_eq!(key.subresource, "");
    assert_eq!(
        log.largest_stored_by(&key.client, "configmaps"),
        Some(*bytes)
    );
    // A larger write raises it; a smaller one leaves it.
    api.patch(
        "small",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "y".repeat(2000)}})),
    )
    .await
    .unwrap();
    let grown = log.largest_stored_by(&key.client, "configmaps").unwrap();
    assert!(grown > *bytes + 900, "{grown} after {bytes}");
    api.patch(
        "small",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "z"}})),
    )
    .await
    .unwrap();
    assert_eq!(
        log.largest_stored_by(&key.client, "configmaps"),
        Some(grown)
    );
}
