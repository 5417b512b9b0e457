//! Merge, JSON and strategic patches, and server-side apply. Does API I/O.

use crate::prelude::*;

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
