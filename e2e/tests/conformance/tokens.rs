//! TokenRequest bound to a pod and TokenReview. Does API I/O.

use crate::prelude::*;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenReviewStatus};
use kairos_e2e::harness::Cluster;

/// A node `node`, the service account `agent` and its pod `name` bound to the node.
async fn agent_pod(c: &Cluster, ns: &str, node: &str, name: &str) -> (Api<Pod>, Pod) {
    c.add_node(SimNode::worker(node, ReleaseFixture::ubuntu_k3s("v3.5.0")))
        .await
        .expect("node added");
    c.ensure_service_account(ns, "agent")
        .await
        .expect("service account");
    let pods: Api<Pod> = Api::namespaced(c.client(), ns);
    let mut p = pod(name, json!({}), Some(node));
    p.spec.as_mut().expect("pod spec").service_account_name = Some("agent".into());
    let p = pods
        .create(&PostParams::default(), &p)
        .await
        .expect("pod created");
    (pods, p)
}

/// A new token of `agent` for audience `kairos-operator`, bound to `bound`.
async fn pod_token(c: &Cluster, ns: &str, bound: &Pod) -> String {
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": ["kairos-operator"], "expirationSeconds": 600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": bound.name_any(), "uid": bound.uid()}}});
    let sas: Api<ServiceAccount> = Api::namespaced(c.client(), ns);
    let tr: TokenRequest = sas
        .create_subresource("token", "agent", &PostParams::default(), &req)
        .await
        .expect("TokenRequest");
    tr.status.expect("TokenRequest status").token
}

/// The TokenReview of `token` for `audiences`.
async fn review(c: &Cluster, token: &str, audiences: &[&str]) -> TokenReviewStatus {
    let r: TokenReview =
        serde_json::from_value(json!({"spec": {"token": token, "audiences": audiences}}))
            .expect("a TokenReview");
    Api::<TokenReview>::all(c.client())
        .create(&PostParams::default(), &r)
        .await
        .expect("TokenReview")
        .status
        .expect("TokenReview status")
}

/// Deletes pod `name` at once and waits until it is gone.
async fn delete_now(pods: &Api<Pod>, name: &str) {
    pods.delete(name, &DeleteParams::default().grace_period(0))
        .await
        .expect("pod deleted");
    wait_for(Duration::from_secs(10), || async {
        matches!(pods.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .expect("pod gone");
}

#[tokio::test]
async fn conformance_token_request_and_review() {
    let (c, ns) = cluster("conf-token").await;
    let (pods, p) = agent_pod(&c, &ns, "conf-token-n1", "agent-pod").await;
    let token = pod_token(&c, &ns, &p).await;
    // A second token for the same pod, never reviewed until the pod is gone.
    let unseen_token = pod_token(&c, &ns, &p).await;
    pods.create(
        &PostParams::default(),
        &pod("other-sa-pod", json!({}), Some("conf-token-n1")),
    )
    .await
    .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(c.client(), &ns);
    let foreign = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
        "audiences": ["kairos-operator"], "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "other-sa-pod"}}});
    let refused: Result<TokenRequest, _> = sas
        .create_subresource("token", "agent", &PostParams::default(), &foreign)
        .await;
    assert_eq!(
        api_err(refused).0,
        400,
        "a token cannot bind to a pod of another service account"
    );
    let ok = review(&c, &token, &["kairos-operator"]).await;
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
    let wrong = review(&c, &token, &["someone-else"]).await;
    assert_ne!(
        wrong.authenticated,
        Some(true),
        "audience mismatch is refused"
    );
    let garbage = review(&c, "not-a-token", &["kairos-operator"]).await;
    assert_ne!(garbage.authenticated, Some(true));
    delete_now(&pods, "agent-pod").await;
    // A token never checked before is refused at once; one checked moments before the pod went
    // may still pass from the API server's success cache (10 s on a real server and in the
    // simulator), never longer.
    let unseen = review(&c, &unseen_token, &["kairos-operator"]).await;
    assert_ne!(
        unseen.authenticated,
        Some(true),
        "a token bound to a deleted pod is refused"
    );
    let refused = wait_for(Duration::from_secs(15), || async {
        let gone = review(&c, &token, &["kairos-operator"]).await;
        (gone.authenticated != Some(true)).then_some(())
    })
    .await;
    refused
        .expect("a token reviewed before its pod was deleted is refused within the cache's 10 s");
}

#[tokio::test]
async fn conformance_a_token_success_is_remembered_for_ten_seconds() {
    let (c, ns) = cluster("conf-token-cache").await;
    let (pods, p) = agent_pod(&c, &ns, "conf-cache-n1", "cached-pod").await;
    let token = pod_token(&c, &ns, &p).await;
    let review = || review(&c, &token, &["kairos-operator"]);
    assert_eq!(review().await.authenticated, Some(true));
    delete_now(&pods, "cached-pod").await;
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
