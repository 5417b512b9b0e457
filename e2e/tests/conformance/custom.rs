//! Custom resources: status subresource, generation, schema defaults and validation, scope, CRDs created through the API. Does API I/O.

use crate::prelude::*;

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

#[tokio::test]
async fn conformance_apply_merges_list_map_entries_by_key() {
    let (c, _ns) = cluster("conf-listmap").await;
    let api: Api<DynamicObject> = Api::all_with(c.client(), &kairosnode_resource());
    let name = "conf-listmap-n1";
    let kn = dynamic(
        json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode", "metadata": {"name": name}, "spec": {}}),
    );
    api.create(&PostParams::default(), &kn).await.unwrap();
    let cond = |t: &str| json!({"type": t, "status": "True", "reason": "Test", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"});
    let doc = |conds: Value| json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode", "metadata": {"name": name}, "status": {"conditions": conds}});
    let types = |o: &DynamicObject| -> Vec<String> {
        let mut t: Vec<String> = o.data["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["type"].as_str().map(String::from))
            .collect();
        t.sort();
        t
    };
    api.patch_status(
        name,
        &PatchParams::apply("mgr-a"),
        &Patch::Apply(doc(json!([cond("Reporting")]))),
    )
    .await
    .unwrap();
    let o = api
        .patch_status(
            name,
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(doc(json!([cond("UpToDate")]))),
        )
        .await
        .unwrap();
    assert_eq!(
        types(&o),
        ["Reporting", "UpToDate"],
        "x-kubernetes-list-type=map entries of two managers merge"
    );
    let o = api
        .patch_status(
            name,
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(doc(json!([]))),
        )
        .await
        .unwrap();
    assert_eq!(
        types(&o),
        ["UpToDate"],
        "an entry its manager stops applying is removed, the other stays"
    );
    api.delete(name, &DeleteParams::default()).await.unwrap();
}
