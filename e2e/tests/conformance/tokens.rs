//! TokenRequest bound to a pod and TokenReview. Does API I/O.

use crate::prelude::*;

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
    // A second token for the same pod, never reviewed until the pod is gone.
    let unseen: k8s_openapi::api::authentication::v1::TokenRequest = sas
        .create_subresource("token", "agent", &PostParams::default(), &req)
        .await
        .unwrap();
    let unseen_token = unseen.status.unwrap().token;
    pods.create(
        &PostParams::default(),
        &pod("other-sa-pod", json!({}), Some("conf-token-n1")),
    )
    .await
    .unwrap();
    let foreign = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": ["kairos-operator"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "other-sa-pod"}}});
    let refused: Result<k8s_openapi::api::authentication::v1::TokenRequest, _> = sas
        .create_subresource("token", "agent", &PostParams::default(), &foreign)
        .await;
    assert_eq!(
        api_err(refused).0,
        400,
        "a token cannot bind to a pod of another service account"
    );
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
    // A token never checked before is refused at once; one checked moments before the pod went
    // may still pass from the API server's success cache (10 s on a real server and in the
    // simulator), never longer.
    let unseen: TokenReview = serde_json::from_value(
        json!({"spec": {"token": unseen_token, "audiences": ["kairos-operator"]}}),
    )
    .unwrap();
    let unseen = reviews
        .create(&PostParams::default(), &unseen)
        .await
        .unwrap();
    assert_ne!(
        unseen.status.unwrap().authenticated,
        Some(true),
        "a token bound to a deleted pod is refused"
    );
    let refused = wait_for(Duration::from_secs(15), || async {
        let gone = review(vec!["kairos-operator"]).await;
        (gone.authenticated != Some(true)).then_some(())
    })
    .await;
    refused
        .expect("a token reviewed before its pod was deleted is refused within the cache's 10 s");
}

#[tokio::test]
async fn conformance_a_token_success_is_remembered_for_ten_seconds() {
    let (c, ns) = cluster("conf-token-cache").await;
    c.add_node(SimNode::worker(
        "conf-cache-n1",
        ReleaseFixture::ubuntu_k3s("v3.5.0"),
    ))
    .await
    .unwrap();
    c.ensure_service_account(&ns, "agent").await.unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    let mut p = pod("cached-pod", json!({}), Some("conf-cache-n1"));
    p.spec.as_mut().unwrap().service_account_name = Some("agent".into());
    let p = pods.create(&PostParams::default(), &p).await.unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(c.client(), &ns);
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": ["kairos-operator"], "expirationSeconds": 600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "cached-pod", "uid": p.uid()}}});
    let tr: k8s_openapi::api::authentication::v1::TokenRequest = sas
        .create_subresource("token", "agent", &PostParams::default(), &req)
        .await
        .unwrap();
    let token = tr.status.unwrap().token;
    let reviews: Api<TokenReview> = Api::all(c.client());
    let review = || {
        let r: TokenReview = serde_json::from_value(
            json!({"spec": {"token": token, "audiences": ["kairos-operator"]}}),
        )
        .unwrap();
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
    assert_eq!(review().await.authenticated, Some(true));
    pods.delete("cached-pod", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), || async {
        matches!(pods.get_opt("cached-pod").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
    let deleted = std::time::Instant::now();
    // Right after the deletion the success is still remembered (the review above was well
    // under 10 s ago), and it is forgotten within the cache's lifetime.
    assert_eq!(
        review().await.authenticated,
        Some(true),
        "the API server remembers a success for 10 s"
    );
    let refused = wait_for(Duration::from_secs(15), || async {
        (review().await.authenticated != Some(true)).then_some(())
    })
    .await;
    refused.expect("refused once the success is forgotten");
    assert!(deleted.elapsed() < Duration::from_secs(14));
}
