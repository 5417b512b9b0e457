//! Conformance suite: the same assertions on whichever backend `Cluster::start` picks (the
//! simulator in CI, a real kube-apiserver when its binaries are given), so the simulator cannot
//! drift from the real server. Does API I/O.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::{Eviction, PodDisruptionBudget};
use kairos_e2e::harness::{ReleaseFixture, SimNode, wait_for};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::response::Status;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("cm")
}

fn cms(c: &Client, ns: &str) -> Api<ConfigMap> {
    Api::namespaced(c.clone(), ns)
}

#[tokio::test]
async fn conformance_create_get_list_and_errors() {
    let (c, ns) = cluster("conf-crud").await;
    let api = cms(&c.client(), &ns);
    let created = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    assert!(created.uid().is_some_and(|u| !u.is_empty()));
    assert!(
        created
            .resource_version()
            .is_some_and(|r| r.parse::<u64>().is_ok())
    );
    assert!(created.metadata.creation_timestamp.is_some());
    let got = api.get("a").await.unwrap();
    assert_eq!(got.uid(), created.uid());
    assert_eq!(got.data, created.data);
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.items.iter().map(|o| o.name_any()).collect::<Vec<_>>(),
        vec!["a"]
    );
    assert!(
        list.metadata
            .resource_version
            .is_some_and(|r| !r.is_empty())
    );
    assert_eq!(
        api_err(
            api.create(&PostParams::default(), &cm("a", json!({})))
                .await
        ),
        (409, "AlreadyExists".into())
    );
    assert_eq!(api_err(api.get("missing").await), (404, "NotFound".into()));
    let in_missing_ns = cms(&c.client(), "no-such-namespace");
    assert_eq!(
        api_err(
            in_missing_ns
                .create(&PostParams::default(), &cm("a", json!({})))
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn conformance_generate_name() {
    let (c, ns) = cluster("conf-genname").await;
    let api = cms(&c.client(), &ns);
    let obj: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let a = api.create(&PostParams::default(), &obj).await.unwrap();
    let b = api.create(&PostParams::default(), &obj).await.unwrap();
    assert!(
        a.name_any().starts_with("gen-") && a.name_any().len() == 9,
        "{}",
        a.name_any()
    );
    assert_ne!(a.name_any(), b.name_any());
    let nameless: ConfigMap = serde_json::from_value(json!({"metadata": {}})).unwrap();
    assert_eq!(
        api_err(api.create(&PostParams::default(), &nameless).await).0,
        422
    );
}

#[tokio::test]
async fn conformance_stale_update_conflicts() {
    let (c, ns) = cluster("conf-conflict").await;
    let api = cms(&c.client(), &ns);
    let v1 = api
        .create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let mut v2 = v1.clone();
    v2.data = Some([("k".to_string(), "v2".to_string())].into());
    let v2 = api.replace("a", &PostParams::default(), &v2).await.unwrap();
    assert_ne!(v1.resource_version(), v2.resource_version());
    let mut stale = v1.clone();
    stale.data = Some([("k".to_string(), "stale".to_string())].into());
    assert_eq!(
        api_err(api.replace("a", &PostParams::default(), &stale).await),
        (409, "Conflict".into())
    );
    let stale_patch =
        json!({"metadata": {"resourceVersion": v1.resource_version()}, "data": {"k": "x"}});
    assert_eq!(
        api_err(
            api.patch("a", &PatchParams::default(), &Patch::Merge(&stale_patch))
                .await
        )
        .0,
        409
    );
    assert_eq!(api.get("a").await.unwrap().data.unwrap()["k"], "v2");
}

#[tokio::test]
async fn conformance_label_and_field_selectors() {
    let (c, ns) = cluster("conf-selectors").await;
    let api = cms(&c.client(), &ns);
    for (n, l) in [
        ("a", json!({"tier": "web", "env": "prod"})),
        ("b", json!({"tier": "db", "env": "prod"})),
        ("c", json!({"tier": "web"})),
    ] {
        api.create(&PostParams::default(), &cm(n, l)).await.unwrap();
    }
    let names = |lp: ListParams| {
        let api = api.clone();
        async move {
            api.list(&lp)
                .await
                .unwrap()
                .items
                .iter()
                .map(|o| o.name_any())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names(ListParams::default().labels("tier=web")).await,
        ["a", "c"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier!=web")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier in (db,cache),env=prod")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().labels("tier notin (db)")).await,
        ["a", "c"]
    );
    assert_eq!(names(ListParams::default().labels("env")).await, ["a", "b"]);
    assert_eq!(names(ListParams::default().labels("!env")).await, ["c"]);
    assert_eq!(
        names(ListParams::default().fields("metadata.name=b")).await,
        ["b"]
    );
    assert_eq!(
        names(ListParams::default().fields(&format!("metadata.namespace={ns},metadata.name!=b")))
            .await,
        ["a", "c"]
    );
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    pods.create(&PostParams::default(), &pod("on-n1", json!({}), Some("n1")))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("on-n2", json!({}), Some("n2")))
        .await
        .unwrap();
    let on_n1 = pods
        .list(&ListParams::default().fields("spec.nodeName=n1"))
        .await
        .unwrap();
    assert_eq!(
        on_n1.items.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        ["on-n1"]
    );
}

#[tokio::test]
async fn conformance_watch_events_and_bookmarks() {
    let (c, ns) = cluster("conf-watch").await;
    let api = cms(&c.client(), &ns);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().timeout(4);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("w", json!({})))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = vec![];
    let mut bookmarks = 0;
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(o) => seen.push(("ADDED", o.name_any())),
            WatchEvent::Modified(o) => seen.push(("MODIFIED", o.name_any())),
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.name_any())),
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "w".to_string()),
            ("MODIFIED", "w".into()),
            ("DELETED", "w".into())
        ]
    );
    assert!(
        bookmarks >= 1,
        "a bookmark arrives before the watch deadline"
    );
}

#[tokio::test]
async fn conformance_watch_selector_transitions() {
    let (c, ns) = cluster("conf-watchsel").await;
    let api = cms(&c.client(), &ns);
    api.create(&PostParams::default(), &cm("s", json!({"app": "x"})))
        .await
        .unwrap();
    let rv = api.get("s").await.unwrap().resource_version().unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=x").timeout(3), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    let mut seen = vec![];
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.name_any())),
            WatchEvent::Added(o) | WatchEvent::Modified(o) => seen.push(("OTHER", o.name_any())),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [("DELETED", "s".to_string())],
        "leaving the selector reads as DELETED"
    );
}

#[tokio::test]
async fn conformance_watch_too_old_resource_version_is_gone() {
    let (c, ns) = cluster("conf-410").await;
    let api = cms(&c.client(), &ns);
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("o{i}"), json!({})))
            .await
            .unwrap();
    }
    let code = match api.watch(&WatchParams::default().timeout(3), "1").await {
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected error {e}"),
        Ok(s) => {
            let events: Vec<_> = s.boxed().take(1).collect().await;
            match events.first() {
                Some(Ok(WatchEvent::Error(s))) => {
                    let s: &Status = s;
                    assert_eq!(s.reason, "Expired");
                    s.code
                }
                other => panic!("expected a 410 error event, got {other:?}"),
            }
        }
    };
    assert_eq!(code, 410);
}

#[tokio::test]
async fn conformance_merge_json_and_strategic_patches() {
    let (c, ns) = cluster("conf-patch").await;
    let api = cms(&c.client(), &ns);
    api.create(&PostParams::default(), &cm("p", json!({"a": "1"})))
        .await
        .unwrap();
    let pp = PatchParams::default();
    let o = api
        .patch(
            "p",
            &pp,
            &Patch::Merge(
                &json!({"metadata": {"labels": {"b": "2", "a": null}}, "data": {"x": "y"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(o.labels().get("b").map(String::as_str), Some("2"));
    assert!(!o.labels().contains_key("a"));
    assert_eq!(o.data.as_ref().unwrap().len(), 2);
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "add", "path": "/metadata/annotations", "value": {"n": "1"}},
    ]))
    .unwrap();
    let o = api.patch("p", &pp, &Patch::<()>::Json(jp)).await.unwrap();
    assert_eq!(o.data.as_ref().unwrap()["k"], "w");
    assert_eq!(o.annotations()["n"], "1");
    let failing: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "nope"}]))
            .unwrap();
    assert_eq!(
        api_err(api.patch("p", &pp, &Patch::<()>::Json(failing)).await).0,
        422
    );
    let o = api
        .patch("p", &pp, &Patch::Strategic(json!({"data": {"s": "t"}})))
        .await
        .unwrap();
    assert_eq!(o.data.as_ref().unwrap()["s"], "t");
    assert_eq!(
        api_err(
            api.patch("missing", &pp, &Patch::Merge(&json!({"data": {}})))
                .await
        )
        .0,
        404
    );
}

#[tokio::test]
async fn conformance_server_side_apply() {
    let (c, ns) = cluster("conf-apply").await;
    let api = cms(&c.client(), &ns);
    let doc = |labels: Value, v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "labels": labels}, "data": {"k": v}});
    let o = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(doc(json!({"x": "1", "y": "2"}), "a")),
        )
        .await
        .unwrap();
    assert_eq!(o.labels().len(), 2);
    let mf = o.metadata.managed_fields.clone().unwrap_or_default();
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("mgr-a")
                && m.operation.as_deref() == Some("Apply")),
        "{mf:?}"
    );
    let o = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(doc(json!({"x": "1"}), "a")),
        )
        .await
        .unwrap();
    assert!(
        !o.labels().contains_key("y"),
        "a label the manager stopped applying is removed"
    );
    let rv = o.resource_version();
    let same = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(doc(json!({"x": "1"}), "a")),
        )
        .await
        .unwrap();
    assert_eq!(same.resource_version(), rv, "a no-op apply does not write");
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"k": "b"}});
    let (code, reason) = api_err(
        api.patch("ssa", &PatchParams::apply("mgr-b"), &Patch::Apply(&other))
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    let o = api
        .patch(
            "ssa",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(o.data.as_ref().unwrap()["k"], "b");
    assert_eq!(o.labels().get("x").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn conformance_status_subresource_and_generation() {
    let (c, ns) = cluster("conf-status").await;
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let mut obj = nodeop("gen");
    obj.data["status"] = json!({"phase": "Completed"});
    let o = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(o.metadata.generation, Some(1));
    assert!(
        o.data
            .get("status")
            .is_none_or(|s| s.get("phase").is_none()),
        "status is dropped on create"
    );
    let pp = PatchParams::default();
    let o = api
        .patch_status(
            "gen",
            &pp,
            &Patch::Merge(&json!({"status": {"phase": "Running"}, "spec": {"image": "ignored"}})),
        )
        .await
        .unwrap();
    assert_eq!(o.data["status"]["phase"], "Running");
    assert_eq!(
        o.data["spec"]["image"], "busybox:latest",
        "a status write leaves spec alone"
    );
    assert_eq!(
        o.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );
    let o = api
        .patch(
            "gen",
            &pp,
            &Patch::Merge(&json!({"status": {"phase": "Failed"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        o.data["status"]["phase"], "Running",
        "main-resource writes ignore status"
    );
    let o = api
        .patch(
            "gen",
            &pp,
            &Patch::Merge(&json!({"metadata": {"labels": {"l": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        o.metadata.generation,
        Some(1),
        "metadata writes do not bump generation"
    );
    let o = api
        .patch(
            "gen",
            &pp,
            &Patch::Merge(&json!({"spec": {"image": "alpine:latest"}})),
        )
        .await
        .unwrap();
    assert_eq!(o.metadata.generation, Some(2));
    assert_eq!(o.data["spec"]["image"], "alpine:latest");
}

#[tokio::test]
async fn conformance_crd_schema_defaults_and_validation() {
    let (c, ns) = cluster("conf-schema").await;
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let o = api
        .create(&PostParams::default(), &nodeop("defaults"))
        .await
        .unwrap();
    assert_eq!(
        o.data["spec"]["hostMountPath"], "/host",
        "schema defaults are applied"
    );
    let mut bad = nodeop("bad");
    bad.data["spec"]["concurrency"] = json!(-1);
    assert_eq!(
        api_err(api.create(&PostParams::default(), &bad).await),
        (422, "Invalid".into())
    );
    let mut cel = nodeop("cel");
    cel.data["spec"]["cordon"] = json!(false);
    cel.data["spec"]["drainOptions"] = json!({"enabled": true});
    let (code, _) = api_err(api.create(&PostParams::default(), &cel).await);
    assert_eq!(
        code, 422,
        "CEL rules (x-kubernetes-validations) are enforced"
    );
    let mut unknown = nodeop("unknown");
    unknown.data["spec"]["notAField"] = json!(1);
    let req = axum::http::Request::post(format!(
        "/apis/operator.kairos.io/v1alpha1/namespaces/{ns}/nodeops?fieldValidation=Strict"
    ))
    .header("content-type", "application/json")
    .body(serde_json::to_vec(&unknown).unwrap())
    .unwrap();
    let (code, _) = api_err(c.client().request::<DynamicObject>(req).await);
    assert_eq!(
        code, 400,
        "fieldValidation=Strict (kubectl's default) refuses unknown fields"
    );
    let pruned = api.create(&PostParams::default(), &unknown).await.unwrap();
    assert!(
        pruned.data["spec"].get("notAField").is_none(),
        "unknown fields are pruned otherwise"
    );
    let mut wrong_type = nodeop("wrong");
    wrong_type.data["spec"]["command"] = json!("not-a-list");
    assert_eq!(
        api_err(api.create(&PostParams::default(), &wrong_type).await).0,
        422
    );
}

#[tokio::test]
async fn conformance_cluster_scoped_custom_resource() {
    let (c, _ns) = cluster("conf-scope").await;
    let api: Api<DynamicObject> = Api::all_with(c.client(), &kairosnode_resource());
    let kn = dynamic(
        json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode", "metadata": {"name": "conf-scope-n1"}, "spec": {}}),
    );
    let o = api.create(&PostParams::default(), &kn).await.unwrap();
    assert!(o.metadata.namespace.is_none());
    assert!(
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|o| o.name_any() == "conf-scope-n1")
    );
    api.delete("conf-scope-n1", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn conformance_finalizers_and_deletion_timestamp() {
    let (c, ns) = cluster("conf-final").await;
    let api = cms(&c.client(), &ns);
    let mut o = cm("f", json!({}));
    o.metadata.finalizers = Some(vec!["e2e.kairos.io/hold".into()]);
    api.create(&PostParams::default(), &o).await.unwrap();
    api.delete("f", &DeleteParams::default()).await.unwrap();
    let held = api.get("f").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let add = json!({"metadata": {"finalizers": ["e2e.kairos.io/hold", "e2e.kairos.io/other"]}});
    assert_eq!(
        api_err(
            api.patch("f", &PatchParams::default(), &Patch::Merge(&add))
                .await
        )
        .0,
        422
    );
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for(Duration::from_secs(10), || async {
        matches!(api.get_opt("f").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn conformance_owner_reference_garbage_collection() {
    let (c, ns) = cluster("conf-gc").await;
    if !c.has_gc() {
        println!(
            "skipping conformance_owner_reference_garbage_collection: the real backend runs no kube-controller-manager (set KUBE_CONTROLLER_MANAGER_BIN)"
        );
        return;
    }
    let api = cms(&c.client(), &ns);
    let owner = api
        .create(&PostParams::default(), &cm("owner", json!({})))
        .await
        .unwrap();
    let mut dep = cm("dependent", json!({}));
    dep.metadata.owner_references =
        Some(vec![serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap(),
    })).unwrap()]);
    api.create(&PostParams::default(), &dep).await.unwrap();
    api.create(&PostParams::default(), &cm("bystander", json!({})))
        .await
        .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    wait_for(Duration::from_secs(30), || async {
        matches!(api.get_opt("dependent").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
    assert!(api.get_opt("bystander").await.unwrap().is_some());
}

async fn running_pod(c: &kairos_e2e::harness::Cluster, ns: &str, name: &str, labels: Value) -> Pod {
    let pods: Api<Pod> = Api::namespaced(c.client(), ns);
    let p = pods
        .create(&PostParams::default(), &pod(name, labels, None))
        .await
        .expect("pod created");
    c.kubelet().run_pod(ns, name).await.expect("pod running");
    p
}

#[tokio::test]
async fn conformance_eviction_respects_pod_disruption_budget() {
    let (c, ns) = cluster("conf-evict").await;
    running_pod(&c, &ns, "guarded", json!({"app": "guarded"})).await;
    running_pod(&c, &ns, "free", json!({"app": "free"})).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client(), &ns);
    let pdb = serde_json::from_value(json!({"metadata": {"name": "keep-one"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "guarded"}}}})).unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    let ev: Eviction = serde_json::from_value(json!({"metadata": {"name": "guarded"}})).unwrap();
    let (code, reason) = api_err(
        pods.evict("guarded", &kube::api::EvictParams::default())
            .await,
    );
    assert_eq!((code, reason.as_str()), (429, "TooManyRequests"), "{ev:?}");
    assert!(pods.get_opt("guarded").await.unwrap().is_some());
    pods.evict("free", &kube::api::EvictParams::default())
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), || async {
        matches!(pods.get_opt("free").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn conformance_token_request_and_review() {
    let (c, ns) = cluster("conf-token").await;
    c.add_node(SimNode::worker(
        "conf-token-n1",
        ReleaseFixture::ubuntu_k3s("v3.5.0"),
    ))
    .await
    .unwrap();
    c.ensure_service_account(&ns, "agent").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    let mut p = pod("agent-pod", json!({}), Some("conf-token-n1"));
    p.spec.as_mut().unwrap().service_account_name = Some("agent".into());
    let p = pods.create(&PostParams::default(), &p).await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(c.client(), &ns);
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": ["kairos-operator"], "expirationSeconds": 600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "agent-pod", "uid": p.uid()}}});
    let tr: k8s_openapi::api::authentication::v1::TokenRequest = sas
        .create_subresource("token", "agent", &PostParams::default(), &req)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let reviews: Api<TokenReview> = Api::all(c.client());
    let review = |auds: Vec<&str>| {
        let r: TokenReview =
            serde_json::from_value(json!({"spec": {"token": token, "audiences": auds}})).unwrap();
        let reviews = reviews.clone();
        async move {
            reviews
                .create(&PostParams::default(), &r)
                .await
                .unwrap()
                .status
                .unwrap()
        }
    };
    let ok = review(vec!["kairos-operator"]).await;
    assert_eq!(ok.authenticated, Some(true), "{ok:?}");
    let user = ok.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some(format!("system:serviceaccount:{ns}:agent").as_str())
    );
    let extra = user.extra.unwrap();
    assert_eq!(
        extra["authentication.kubernetes.io/pod-name"],
        ["agent-pod"]
    );
    assert_eq!(
        extra["authentication.kubernetes.io/pod-uid"],
        [p.uid().unwrap()]
    );
    assert_eq!(
        extra["authentication.kubernetes.io/node-name"],
        ["conf-token-n1"]
    );
    let wrong = review(vec!["someone-else"]).await;
    assert_ne!(
        wrong.authenticated,
        Some(true),
        "audience mismatch is refused"
    );
    let garbage: TokenReview = serde_json::from_value(
        json!({"spec": {"token": "not-a-token", "audiences": ["kairos-operator"]}}),
    )
    .unwrap();
    assert_ne!(
        reviews
            .create(&PostParams::default(), &garbage)
            .await
            .unwrap()
            .status
            .unwrap()
            .authenticated,
        Some(true)
    );
    pods.delete("agent-pod", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), || async {
        matches!(pods.get_opt("agent-pod").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
    let gone = review(vec!["kairos-operator"]).await;
    assert_ne!(
        gone.authenticated,
        Some(true),
        "a token bound to a deleted pod is refused"
    );
}

#[tokio::test]
async fn conformance_crd_registered_through_the_api() {
    let (c, ns) = cluster("conf-newcrd").await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.e2e.kairos.io"},
        "spec": {"group": "e2e.kairos.io", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 3}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]},
    });
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> = Api::all(c.client());
    let _ = crds
        .create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await;
    let ar = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("e2e.kairos.io", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &ar);
    let w = dynamic(
        json!({"apiVersion": "e2e.kairos.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {}}),
    );
    let created = wait_for(Duration::from_secs(30), || async {
        api.create(&PostParams::default(), &w).await.ok()
    })
    .await
    .unwrap();
    assert_eq!(created.data["spec"]["size"], 3);
}
