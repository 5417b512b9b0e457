//! Finalizers and deletionTimestamp, owner-reference garbage collection, eviction with PodDisruptionBudgets. Does API I/O.

use crate::prelude::*;

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
async fn conformance_a_pod_disruption_budget_with_a_bad_selector_is_refused() {
    let (c, ns) = cluster("conf-pdb-sel").await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(c.client(), &ns);
    let pdb = |name: &str, expr: Value| -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"minAvailable": 1, "selector": {"matchExpressions": [expr]}}}))
        .unwrap()
    };
    let refused = |expr: Value| {
        let pdbs = pdbs.clone();
        async move {
            match pdbs.create(&PostParams::default(), &pdb("bad", expr)).await {
                Err(kube::Error::Api(s)) => (s.code, s.message),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    let (code, msg) = refused(json!({"key": "app", "operator": "Equals", "values": ["x"]})).await;
    assert_eq!(code, 422, "{msg}");
    assert!(
        msg.contains("spec.selector.matchExpressions[0].operator")
            && msg.contains("not a valid selector operator"),
        "{msg}"
    );
    let (code, msg) = refused(json!({"key": "app", "operator": "In"})).await;
    assert_eq!(code, 422, "{msg}");
    assert!(
        msg.contains("spec.selector.matchExpressions[0].values"),
        "{msg}"
    );
    assert!(
        pdbs.get_opt("bad").await.unwrap().is_none(),
        "nothing stored"
    );
    pdbs.create(
        &PostParams::default(),
        &pdb("good", json!({"key": "canary", "operator": "DoesNotExist"})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn conformance_deletion_timestamp_bumps_generation() {
    let (c, ns) = cluster("conf-delgen").await;
    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    let mut o = nodeop("held");
    o.metadata.finalizers = Some(vec!["e2e.kairos.io/hold".into()]);
    let created = api.create(&PostParams::default(), &o).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let held = api.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        held.metadata.generation,
        Some(2),
        "setting deletionTimestamp bumps generation"
    );
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    wait_for(Duration::from_secs(10), || async {
        matches!(api.get_opt("held").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn conformance_a_pod_gets_its_node_by_binding_not_by_update() {
    let (c, ns) = cluster("conf-binding").await;
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    pods.create(&PostParams::default(), &pod("p", json!({}), None))
        .await
        .expect("pod created");
    let (code, reason) = api_err(
        pods.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"nodeName": "n1"}})),
        )
        .await,
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let image = pods
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}),
            ),
        )
        .await
        .expect("an image may change");
    assert_eq!(
        image.spec.expect("spec").containers[0].image.as_deref(),
        Some("busybox:1.36")
    );
    let binding =
        |node: &str| json!({"metadata": {"name": "p"}, "target": {"kind": "Node", "name": node}});
    pods.create_subresource::<_, Value>("binding", "p", &PostParams::default(), &binding("n1"))
        .await
        .expect("bound");
    let bound = pods.get("p").await.expect("pod");
    assert_eq!(bound.spec.expect("spec").node_name.as_deref(), Some("n1"));
    let scheduled = bound
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True");
    assert!(scheduled, "a bound pod is PodScheduled");
    let (code, reason) = api_err(
        pods.create_subresource::<_, Value>("binding", "p", &PostParams::default(), &binding("n2"))
            .await,
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
}
