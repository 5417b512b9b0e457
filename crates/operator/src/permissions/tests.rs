use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use tower::Layer as _;

use super::*;

fn access(verb: &'static str, resource: &str) -> Access {
    Access {
        verb,
        resource: resource.to_owned(),
    }
}

fn classified(method: Method, uri: &str) -> Option<(String, Option<String>)> {
    let uri: Uri = uri.parse().expect("a URI");
    classify(&method, &uri).map(|c| (c.access.to_string(), c.namespace))
}

#[test]
fn requests_are_classified_as_rbac_names_them() {
    let ns = |s: &str| Some(s.to_owned());
    let cases = [
        (
            Method::GET,
            "/api/v1/nodes",
            Some(("list nodes".into(), None)),
        ),
        (
            Method::GET,
            "/api/v1/nodes?watch=true&resourceVersion=1",
            Some(("watch nodes".into(), None)),
        ),
        (
            Method::GET,
            "/api/v1/nodes/n1",
            Some(("get nodes".into(), None)),
        ),
        (
            Method::PATCH,
            "/api/v1/nodes/n1",
            Some(("patch nodes".into(), None)),
        ),
        (
            Method::GET,
            "/apis/coordination.k8s.io/v1/namespaces/kairos-system/leases?fieldSelector=metadata.name%3Dkairos-operator",
            Some((
                "list leases.coordination.k8s.io".into(),
                ns("kairos-system"),
            )),
        ),
        (
            Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/kairos-system/leases/kairos-operator",
            Some((
                "update leases.coordination.k8s.io".into(),
                ns("kairos-system"),
            )),
        ),
        (
            Method::POST,
            "/api/v1/namespaces/default/pods/p1/eviction",
            Some(("create pods/eviction".into(), ns("default"))),
        ),
        (
            Method::PUT,
            "/apis/operator.kairos.io/v1alpha1/namespaces/ops/nodeops/op1/status",
            Some(("update nodeops.operator.kairos.io/status".into(), ns("ops"))),
        ),
        (
            Method::DELETE,
            "/apis/batch/v1/namespaces/ks/jobs/j1",
            Some(("delete jobs.batch".into(), ns("ks"))),
        ),
        (
            Method::DELETE,
            "/apis/batch/v1/namespaces/ks/jobs",
            Some(("deletecollection jobs.batch".into(), ns("ks"))),
        ),
        (
            Method::POST,
            "/apis/authentication.k8s.io/v1/tokenreviews",
            Some(("create tokenreviews.authentication.k8s.io".into(), None)),
        ),
        // A namespace itself is a cluster-scoped object.
        (
            Method::GET,
            "/api/v1/namespaces/ks",
            Some(("get namespaces".into(), None)),
        ),
        // Non-resource requests are not classified.
        (Method::GET, "/version", None),
        (Method::GET, "/apis", None),
        (Method::GET, "/apis/operator.kairos.io/v1alpha1", None),
    ];
    for (method, uri, want) in cases {
        assert_eq!(classified(method, uri), want, "{uri}");
    }
}

#[test]
fn a_refusal_is_new_once_and_ends_with_a_success_of_the_same_access() {
    let mut ledger = Ledger::default();
    let list = access("list", "leases.coordination.k8s.io");
    let refusal = Refusal {
        message: "forbidden".into(),
        namespace: Some("ks".into()),
    };
    assert!(ledger.ready());
    assert!(ledger.refused(list.clone(), refusal.clone()));
    assert!(!ledger.refused(list.clone(), refusal.clone()), "said once");
    assert!(!ledger.ready());
    assert_eq!(ledger.missing(), ["list leases.coordination.k8s.io in ks"]);
    // Another verb of the same resource does not end it.
    assert_eq!(
        ledger.allowed(&access("get", "leases.coordination.k8s.io")),
        None
    );
    assert!(!ledger.ready());
    assert_eq!(ledger.allowed(&list), Some(refusal.clone()));
    assert!(ledger.ready());
    assert_eq!(ledger.allowed(&list), None);
    // Refused again after it was granted: said again.
    assert!(ledger.refused(list, refusal));
}

#[test]
fn refused_events_do_not_hold_readiness_down() {
    let mut ledger = Ledger::default();
    let refusal = Refusal {
        message: "forbidden".into(),
        namespace: None,
    };
    ledger.refused(access("create", "events.events.k8s.io"), refusal.clone());
    ledger.refused(access("patch", "events"), refusal.clone());
    assert!(ledger.ready());
    assert_eq!(ledger.missing().len(), 2);
    ledger.refused(
        access("create", "tokenreviews.authentication.k8s.io"),
        refusal,
    );
    assert!(!ledger.ready());
}

/// A 403 as the API server words it.
fn forbidden_body(verb: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": format!("leases.coordination.k8s.io is forbidden: User \"system:serviceaccount:ks:kairos-operator\" cannot {verb} resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"ks\""),
    })
}

fn answer(status: StatusCode, body: &serde_json::Value) -> Response<Box<DynBody>> {
    let bytes = axum::body::Bytes::from(serde_json::to_vec(body).unwrap());
    let body: Box<DynBody> =
        Box::new(Full::new(bytes).map_err(|never: Infallible| -> BoxError { match never {} }));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// A fake API server for Leases: lists are refused while `forbidden` is set; a watch never
/// answers (an idle watch). Counts the lists.
fn lease_api(
    permissions: &Permissions,
    forbidden: Arc<AtomicBool>,
    lists: Arc<AtomicUsize>,
) -> kube::Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let (forbidden, lists) = (forbidden.clone(), lists.clone());
        async move {
            if req.uri().query().unwrap_or_default().contains("watch=true") {
                std::future::pending::<()>().await;
            }
            lists.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(if forbidden.load(Ordering::SeqCst) {
                answer(StatusCode::FORBIDDEN, &forbidden_body("list"))
            } else {
                answer(
                    StatusCode::OK,
                    &serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList",
                        "metadata": {"resourceVersion": "7"}, "items": []}),
                )
            })
        }
    });
    kube::Client::new(permissions.layer().layer(service), "ks")
}

/// Log output captured for a test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().filter(|l| l.contains(needle)).count()
    }
}

fn metrics(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

#[tokio::test(start_paused = true)]
async fn a_refused_watch_backs_off_says_so_once_and_recovers_when_granted() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_env_filter(kairos_telemetry::filter("info", crate::cli::QUIET_LOGS).unwrap())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut registry = Registry::with_prefix("kairos");
    let permissions = Permissions::register(&mut registry);
    let mut granted = permissions.granted();
    let (forbidden, lists) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let client = lease_api(&permissions, forbidden.clone(), lists.clone());
    let events = watcher(
        Api::<Lease>::namespaced(client, "ks"),
        watcher::Config::default(),
    )
    .backoff(crate::backoff::WatchBackoff::default())
    .for_each(|_| async {});
    let task = tokio::spawn(events);

    tokio::time::sleep(Duration::from_secs(10)).await;
    let refused = lists.load(Ordering::SeqCst);
    // Backoff from 0.8 s doubling (plus up to half as jitter): at 0 s, 0.8-1.2 s, 2.4-3.6 s and
    // 5.6-8.4 s; the next is after 12 s. Not one a second, let alone thousands.
    assert_eq!(refused, 4, "lists in 10 s");
    assert_eq!(
        logs.lines_with("the installed RBAC lacks this permission"),
        1
    );
    assert_eq!(
        logs.lines_with("cannot list resource"),
        1,
        "the API server's message is logged"
    );
    assert!(!*granted.borrow_and_update());
    assert_eq!(
        permissions.missing(),
        ["list leases.coordination.k8s.io in ks"]
    );
    let text = metrics(&registry);
    assert!(
        text.contains(&format!(
            "kairos_api_forbidden_total{{resource=\"leases.coordination.k8s.io\",verb=\"list\"}} {refused}"
        )),
        "{text}"
    );
    assert!(text.contains(
        "kairos_api_permission_missing{resource=\"leases.coordination.k8s.io\",verb=\"list\"} 1"
    ));

    // The RBAC is fixed: the next retry (at most 30 s later) lists, and readiness comes back.
    forbidden.store(false, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(40), granted.wait_for(|g| *g))
        .await
        .expect("granted again after the backoff")
        .expect("channel open");
    assert!(permissions.missing().is_empty());
    assert!(metrics(&registry).contains(
        "kairos_api_permission_missing{resource=\"leases.coordination.k8s.io\",verb=\"list\"} 0"
    ));
    assert_eq!(logs.lines_with("permission granted again"), 1);
    assert_eq!(
        logs.lines_with("the installed RBAC lacks this permission"),
        1
    );
    task.abort();
}

#[tokio::test]
async fn a_refused_request_still_fails_with_the_api_servers_status() {
    let mut registry = Registry::default();
    let permissions = Permissions::register(&mut registry);
    let client = lease_api(
        &permissions,
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicUsize::new(0)),
    );
    let error = Api::<Lease>::namespaced(client, "ks")
        .list(&Default::default())
        .await
        .expect_err("refused");
    match &error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403);
            assert!(
                status.message.contains("cannot list resource"),
                "{}",
                status.message
            );
        }
        other => panic!("not an API error: {other:?}"),
    }
    assert!(is_forbidden(&error));
    let wrapped = crate::error::Error::Observe {
        what: "list leases".into(),
        source: error,
    };
    assert!(is_forbidden(&wrapped), "found through the source chain");
    let not_found = kube::Error::Api(Box::new(
        kube::core::Status::failure("gone", "NotFound").with_code(404),
    ));
    assert!(!is_forbidden(&not_found));
}

#[test]
fn methods_without_a_verb_and_deep_paths_are_not_classified() {
    assert_eq!(classified(Method::HEAD, "/api/v1/nodes"), None);
    assert_eq!(classified(Method::OPTIONS, "/api/v1/nodes"), None);
    assert_eq!(
        classified(Method::GET, "/api/v1/namespaces/a/pods/p/log/extra"),
        None
    );
    assert_eq!(
        classified(Method::GET, "/api/v1/nodes?watch=1"),
        Some(("watch nodes".into(), None))
    );
    assert_eq!(
        classified(Method::GET, "/api/v1/nodes?watch=false"),
        Some(("list nodes".into(), None))
    );
}

#[test]
fn a_refusal_is_quoted_from_the_status_or_else_the_body() {
    assert_eq!(
        status_message(
            br#"{"kind":"Status","message":"nodes is forbidden: User \"x\" cannot list"}"#
        ),
        "nodes is forbidden: User \"x\" cannot list"
    );
    assert_eq!(status_message(b"forbidden by proxy"), "forbidden by proxy");
    assert_eq!(
        status_message(br#"{"kind":"Status"}"#),
        r#"{"kind":"Status"}"#
    );
}
