//! Tests of the TokenReview judgement and of the authentication cache. No I/O.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::authentication::v1::UserInfo;

use super::*;

const AGENT: &str = "system:serviceaccount:kairos-system:kairos-node-agent";

fn status(
    authenticated: bool,
    audiences: &[&str],
    user: &str,
    extra: &[(&str, &str)],
) -> TokenReviewStatus {
    TokenReviewStatus {
        authenticated: Some(authenticated),
        audiences: Some(audiences.iter().map(|a| (*a).to_owned()).collect()),
        error: (!authenticated).then(|| "token has expired".to_owned()),
        user: Some(UserInfo {
            username: Some(user.to_owned()),
            extra: Some(
                extra
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..UserInfo::default()
        }),
    }
}

#[test]
fn judge_table() {
    let aud = ["kairos-operator"];
    let node = [(EXTRA_NODE_NAME, "n1"), (EXTRA_POD_NAME, "agent-x")];
    let pod = [(EXTRA_POD_NAME, "agent-x"), (EXTRA_POD_UID, "u1")];
    let cases: Vec<(&str, TokenReviewStatus, Result<Binding, &str>)> = vec![
        (
            "node extra wins",
            status(true, &aud, AGENT, &node),
            Ok(Binding::Node("n1".into())),
        ),
        (
            "pod only",
            status(true, &aud, AGENT, &pod),
            Ok(Binding::Pod {
                name: "agent-x".into(),
                uid: Some("u1".into()),
            }),
        ),
        (
            "not authenticated",
            status(false, &aud, AGENT, &node),
            Err("not authenticated"),
        ),
        (
            "wrong audience",
            status(true, &["https://kubernetes.default.svc"], AGENT, &node),
            Err("audience"),
        ),
        (
            "no audience",
            status(true, &[], AGENT, &node),
            Err("audience"),
        ),
        (
            "other service account",
            status(
                true,
                &aud,
                "system:serviceaccount:kairos-system:default",
                &node,
            ),
            Err("belongs to"),
        ),
        (
            "same name, other namespace",
            status(
                true,
                &aud,
                "system:serviceaccount:other:kairos-node-agent",
                &node,
            ),
            Err("belongs to"),
        ),
        (
            "a user, not a service account",
            status(true, &aud, "admin", &node),
            Err("belongs to"),
        ),
        (
            "not bound to a pod",
            status(true, &aud, AGENT, &[]),
            Err("not bound"),
        ),
        (
            "empty node extra",
            status(true, &aud, AGENT, &[(EXTRA_NODE_NAME, "")]),
            Err("not bound"),
        ),
    ];
    for (name, st, want) in cases {
        let got = judge(&st, "kairos-operator", "kairos-system", "kairos-node-agent");
        match (got, want) {
            (Ok(b), Ok(w)) => assert_eq!(b, w, "{name}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

/// Answers from a fixed table of tokens and counts the calls.
struct Counting {
    calls: AtomicUsize,
}

impl Authenticator for Counting {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match token.strip_prefix("good-") {
            Some(node) => Ok(Identity {
                node_name: node.to_owned(),
                pod_uid: Some(pod_uid(node)),
            }),
            None => Err(AuthError::Unauthenticated("bad token".into())),
        }
    }
}

/// The UID of the pod a `good-<node>` token is bound to.
fn pod_uid(node: &str) -> String {
    format!("pod-{}", node.split('-').next().unwrap_or(node))
}

/// A synced pod watch that has seen the pods of `nodes`.
fn live(nodes: &[&str]) -> LivePods {
    use kube::runtime::watcher::Event;
    let pods = LivePods::default();
    pods.apply(Ok(Event::Init));
    for n in nodes {
        pods.apply(Ok(Event::InitApply(Some(pod_uid(n)))));
    }
    pods.apply(Ok(Event::InitDone));
    pods
}

fn counting() -> Counting {
    Counting {
        calls: AtomicUsize::new(0),
    }
}

#[tokio::test(start_paused = true)]
async fn cache_answers_repeated_tokens_without_a_review_until_the_ttl() {
    let cached = Cached::new(counting(), Duration::from_secs(300), 100, live(&["n1"]));
    for _ in 0..10 {
        let id = cached.authenticate("good-n1").await.unwrap();
        assert_eq!(id.node_name, "n1");
    }
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(301)).await;
    cached.authenticate("good-n1").await.unwrap();
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn cache_never_keeps_rejections() {
    let cached = Cached::new(counting(), Duration::from_secs(300), 100, live(&["n1"]));
    for _ in 0..3 {
        assert!(cached.authenticate("evil").await.is_err());
    }
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn cache_is_bounded() {
    let cached = Cached::new(
        counting(),
        Duration::from_secs(300),
        4,
        live(&["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"]),
    );
    for i in 0..10 {
        cached.authenticate(&format!("good-n{i}")).await.unwrap();
    }
    assert!(cached.entries.lock().unwrap().len() <= 4);
    // The most recent token is still cached.
    cached.authenticate("good-n9").await.unwrap();
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(start_paused = true)]
async fn a_cached_token_is_reviewed_again_once_its_pod_is_gone() {
    use kube::runtime::watcher::Event;
    let pods = live(&["n1", "n2"]);
    let cached = Cached::new(counting(), Duration::from_secs(600), 100, pods.clone());
    cached.authenticate("good-n1").await.unwrap();
    cached.authenticate("good-n2").await.unwrap();
    tokio::time::advance(Duration::from_secs(120)).await;
    cached.authenticate("good-n1").await.unwrap();
    assert_eq!(
        cached.inner.calls.load(Ordering::SeqCst),
        2,
        "live pods vouch"
    );
    pods.apply(Ok(Event::Delete(Some(pod_uid("n1")))));
    cached.authenticate("good-n1").await.unwrap();
    cached.authenticate("good-n2").await.unwrap();
    assert_eq!(
        cached.inner.calls.load(Ordering::SeqCst),
        3,
        "only the deleted pod's token is reviewed again"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_synced_pod_watch_a_cached_token_is_trusted_for_a_bounded_time() {
    let cached = Cached::new(
        counting(),
        Duration::from_secs(600),
        100,
        LivePods::default(),
    );
    cached.authenticate("good-n1").await.unwrap();
    tokio::time::advance(UNVOUCHED_FOR - Duration::from_secs(1)).await;
    cached.authenticate("good-n1").await.unwrap();
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(2)).await;
    cached.authenticate("good-n1").await.unwrap();
    assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 2);
    assert!(UNVOUCHED_FOR + Duration::from_secs(10) <= Duration::from_secs(60));
}

#[test]
fn token_lifetime_reads_the_exp_claim() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.sig",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"exp":1000,"aud":["x"]}"#)
    );
    let at = |s| std::time::UNIX_EPOCH + Duration::from_secs(s);
    assert_eq!(
        token_lifetime(&token, at(400)),
        Some(Duration::from_secs(600))
    );
    assert_eq!(token_lifetime(&token, at(2000)), Some(Duration::ZERO));
    assert_eq!(token_lifetime("opaque", at(0)), None);
    assert_eq!(token_lifetime("a.!!!.c", at(0)), None);
}

/// Simulates one agent for a day: the kubelet rotates its 600 s projected token every 480 s
/// (80% of its life), and the agent reports every `heartbeat`. Returns (reports, reviews).
async fn one_day(heartbeat: u64) -> (u64, usize) {
    let cached = Cached::new(counting(), Duration::from_secs(600), 100, live(&["n1"]));
    let mut reports = 0;
    for t in (0..86_400).step_by(usize::try_from(heartbeat).unwrap()) {
        let token = format!("good-n1-{}", t / 480);
        cached.authenticate(&token).await.unwrap();
        reports += 1;
        tokio::time::advance(Duration::from_secs(heartbeat)).await;
    }
    (reports, cached.inner.calls.load(Ordering::SeqCst))
}

/// The measurement asked for: TokenReviews per report at steady state. Every token is reviewed
/// exactly once, so the ratio is heartbeat / token rotation period (capped at 1).
#[tokio::test(start_paused = true)]
async fn token_reviews_per_report_over_a_day() {
    for (heartbeat, want_reviews) in [(30, 180), (60, 180), (300, 180), (900, 96)] {
        let (reports, reviews) = one_day(heartbeat).await;
        assert_eq!(
            reviews, want_reviews,
            "heartbeat {heartbeat}s: {reviews} reviews for {reports} reports"
        );
    }
}
