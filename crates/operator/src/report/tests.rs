//! In-process tests of the report service: the real tonic server and client over an in-memory
//! duplex pipe, the real TokenReview authenticator against the API simulator on a loopback port,
//! and an in-memory store. No cluster.
//!
//! More topics: [`certs`] (the TLS material in the API and the store's requests), [`serve`] (the
//! server as the operator runs it), [`tls`] (the TLS path with CA rotation); [`api`] starts the
//! API simulator, and [`fake`] holds the in-memory store.

mod api;
mod certs;
mod fake;
mod serve;
mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::names::conditions::REPORTING;
use kairos_api::v1alpha1::{BootState, UpgradeState, UpgradeStatus};
use kairos_core::conditions::find;
use kairos_core::report::{HostSnapshot, facts};
use kairos_kube_sim::SimServer;
use kairos_proto::v1::report_service_client::ReportServiceClient;
use kairos_proto::v1::report_service_server::ReportServiceServer;
use kairos_proto::v1::{NodeReport, ReportAck};
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Code, Request};

use super::auth::{Cached, TokenReviewAuthenticator};
use super::metrics::{ReportMetrics, ReportResult};
use super::service::{NodeCache, ReportServer};
use api::NS;
use fake::MemStore;

struct Harness {
    /// The API server the authenticator asks.
    api: SimServer,
    /// The agents' tokens, by the names the tests use (see [`api::agents`]).
    tokens: HashMap<&'static str, String>,
    client: ReportServiceClient<Channel>,
    store: Arc<MemStore>,
    cache: Arc<NodeCache>,
    metrics: ReportMetrics,
}

async fn start(store: Arc<MemStore>) -> Harness {
    start_with_clock(store, Timestamp::now).await
}

async fn start_with_clock(store: Arc<MemStore>, clock: fn() -> Timestamp) -> Harness {
    let (api, api_client) = api::start().await;
    let tokens = api::agents(&api_client).await;
    let metrics = ReportMetrics::default();
    let reviewer = TokenReviewAuthenticator::new(
        api_client,
        NS.into(),
        "kairos-node-agent".into(),
        metrics.clone(),
    );
    let auth = Cached::new(
        reviewer,
        Duration::from_secs(600),
        100,
        super::pods::LivePods::default(),
    );
    let cache = Arc::new(NodeCache::default());
    let service = ReportServer::new(
        auth,
        store.clone(),
        cache.clone(),
        metrics.clone(),
        Duration::from_secs(300),
        Duration::from_secs(60),
    )
    .with_clock(clock);
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(
        Server::builder()
            .add_service(ReportServiceServer::new(service))
            .serve_with_incoming(tokio_stream::once(Ok::<_, std::io::Error>(server_io))),
    );
    let mut client_io = Some(client_io);
    let channel = Endpoint::try_from("http://in-process")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = client_io.take();
            async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("used"))
            }
        }))
        .await
        .unwrap();
    Harness {
        api,
        tokens,
        client: ReportServiceClient::new(channel),
        store,
        cache,
        metrics,
    }
}

fn kairos(node: &str, version: &str, boot_id: &str) -> NodeReport {
    let f = facts(&HostSnapshot {
        kairos_release: Some(format!(
            "KAIROS_VERSION=\"{version}\"\nKAIROS_FLAVOR=\"ubuntu\"\nKAIROS_FLAVOR_RELEASE=\"24.04\"\nKAIROS_VARIANT=standard\n"
        )),
        os_release: Some("ID=ubuntu\nPRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\n".into()),
        cmdline: Some("BOOT_IMAGE=/cOS/vmlinuz root=LABEL=COS_ACTIVE panic=5\n".into()),
        boot_id: Some(format!("{boot_id}\n")),
        ..HostSnapshot::default()
    });
    kairos_proto::convert::node_report(node, "0.1.0", &f)
}

fn debian(node: &str) -> NodeReport {
    let f = facts(&HostSnapshot {
        os_release: Some("ID=debian\nVERSION_ID=\"12\"\n".into()),
        boot_id: Some("b-debian\n".into()),
        ..HostSnapshot::default()
    });
    kairos_proto::convert::node_report(node, "0.1.0", &f)
}

impl Harness {
    async fn send(
        &mut self,
        token: Option<&str>,
        report: NodeReport,
    ) -> Result<ReportAck, tonic::Status> {
        let mut request = Request::new(report);
        // A name of [`api::agents`] stands for that agent's token; anything else is sent as is.
        let token = token.map(|t| self.tokens.get(t).map_or(t, String::as_str));
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        self.client
            .report(request)
            .await
            .map(tonic::Response::into_inner)
    }

    fn version(&self, node: &str) -> Option<String> {
        self.store.status(node)?.kairos?.version
    }
}

#[tokio::test]
async fn accepted_report_creates_the_kairos_node_its_status_and_the_node_labels() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    assert_eq!(
        ack,
        ReportAck {
            changed: true,
            heartbeat_seconds: 60
        }
    );
    assert_eq!(h.store.writes(), ["apply n1", "status n1", "labels n1"]);
    // The token names the pod, not the node: the node comes from the pod.
    let pod_reads = h.api.sim().requests().snapshot();
    let pod_reads = pod_reads
        .iter()
        .filter(|(k, _)| k.verb == "get" && k.resource == "pods");
    assert_eq!(pod_reads.map(|(_, n)| n).sum::<u64>(), 1);

    let kn = h.store.kairos_nodes.lock().unwrap()["n1"].clone();
    let owner = &kn.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Node", "uid-n1")
    );
    let status = kn.status.unwrap();
    assert_eq!(status.kairos.unwrap().version.as_deref(), Some("v3.6.0"));
    assert_eq!(status.boot_state, Some(BootState::Active));
    assert_eq!(status.boot_id.as_deref(), Some("b1"));
    assert_eq!(find(&status.conditions, REPORTING).unwrap().status, "True");
    let labels = h.store.metadata.lock().unwrap()["n1"].labels.clone();
    assert_eq!(labels["kairos.io/managed"], "true");
    assert_eq!(labels["kairos.io/flavor"], "ubuntu");
    assert_eq!(labels["kairos.io/boot-state"], "active");
    assert_eq!(h.metrics.reports(ReportResult::accepted), 1);

    // The same report again writes nothing.
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    assert!(!ack.changed);
    assert_eq!(h.store.writes().len(), 3);
}

#[tokio::test]
async fn a_reboot_into_a_new_version_shows_in_the_status() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.7.0", "b2"))
        .await
        .unwrap();
    assert!(ack.changed);
    assert_eq!(h.version("n1").as_deref(), Some("v3.7.0"));
    assert_eq!(h.store.status("n1").unwrap().boot_id.as_deref(), Some("b2"));
}

#[tokio::test]
async fn a_token_of_node_a_claiming_node_b_is_refused_and_b_is_untouched() {
    let mut h = start(MemStore::with_nodes(&["n1", "n2"])).await;
    h.send(Some("tok-n2"), kairos("n2", "v3.6.0", "b2"))
        .await
        .unwrap();
    let before = h.store.writes();

    let err = h
        .send(Some("tok-n1"), kairos("n2", "v9.9.9", "evil"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(
        err.message().contains("bound to node \"n1\""),
        "{}",
        err.message()
    );
    assert_eq!(h.store.writes(), before);
    assert_eq!(h.version("n2").as_deref(), Some("v3.6.0"));
    assert_eq!(h.metrics.reports(ReportResult::rejected_wrong_node), 1);
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated_and_write_nothing() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    let cases = [
        (Some("tok-wrong-audience"), "audience"),
        (Some("tok-default-sa"), "kairos-system:default"),
        (Some("garbage"), "invalid bearer token"),
        (None, "missing authorization"),
    ];
    for (token, needle) in cases {
        let err = h
            .send(token, kairos("n1", "v3.6.0", "b1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}");
        assert!(
            err.message().contains(needle),
            "{token:?}: {}",
            err.message()
        );
    }
    assert!(h.store.writes().is_empty());
    assert_eq!(h.metrics.reports(ReportResult::rejected_unauthenticated), 4);
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    let mut bad = kairos("", "v3.6.0", "b1");
    let err = h.send(Some("tok-n1"), bad.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    bad.node_name = "n1".into();
    bad.errors = vec!["x".repeat(100_000)];
    let err = h.send(Some("tok-n1"), bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(h.store.writes().is_empty());
    assert_eq!(h.metrics.reports(ReportResult::rejected_invalid), 2);
}

#[tokio::test]
async fn a_node_that_stops_being_kairos_loses_its_kairos_node_and_labels() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    let ack = h.send(Some("tok-n1"), debian("n1")).await.unwrap();
    assert!(ack.changed);
    assert!(h.store.kairos_nodes.lock().unwrap().is_empty());
    assert_eq!(h.store.metadata.lock().unwrap()["n1"], Default::default());
    // Plain nodes cost nothing more.
    let writes = h.store.writes().len();
    assert!(!h.send(Some("tok-n1"), debian("n1")).await.unwrap().changed);
    assert_eq!(h.store.writes().len(), writes);
}

#[tokio::test]
async fn another_writers_change_is_reread_not_overwritten() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    let upgrade = UpgradeStatus {
        state: UpgradeState::Rebooting,
        attempts: 1,
        ..UpgradeStatus::default()
    };
    h.store
        .edit_status("n1", |s| s.upgrade = Some(upgrade.clone()));
    h.send(Some("tok-n1"), kairos("n1", "v3.7.0", "b2"))
        .await
        .unwrap();
    let status = h.store.status("n1").unwrap();
    assert_eq!(status.upgrade, Some(upgrade));
    assert_eq!(status.kairos.unwrap().version.as_deref(), Some("v3.7.0"));
}

#[tokio::test]
async fn the_sweep_marks_silent_nodes_and_a_new_report_revives_them() {
    let mut h = start(MemStore::with_nodes(&["n1", "n2"])).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    h.send(Some("tok-n2"), kairos("n2", "v3.6.0", "b2"))
        .await
        .unwrap();
    let threshold = SignedDuration::from_mins(8);
    let marked = super::sweep::sweep_once(h.store.as_ref(), threshold, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(marked, 0);

    let later = Timestamp::now() + SignedDuration::from_mins(9);
    let marked = super::sweep::sweep_once(h.store.as_ref(), threshold, later)
        .await
        .unwrap();
    assert_eq!(marked, 2);
    let silent = h.store.status("n1").unwrap();
    let reporting = find(&silent.conditions, REPORTING).unwrap();
    assert_eq!(
        (reporting.status.as_str(), reporting.reason.as_str()),
        ("False", "AgentSilent")
    );
    // Marked once: the next sweep writes nothing.
    assert_eq!(
        super::sweep::sweep_once(h.store.as_ref(), threshold, later)
            .await
            .unwrap(),
        0
    );

    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    assert!(ack.changed);
    let back = h.store.status("n1").unwrap();
    assert_eq!(find(&back.conditions, REPORTING).unwrap().status, "True");
}

/// Seconds the clock of [`another_replicas_sweep_is_seen_through_the_resource_version`] is
/// ahead; only that test moves it.
static CLOCK_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn shifted_clock() -> Timestamp {
    let offset = CLOCK_OFFSET.load(std::sync::atomic::Ordering::SeqCst);
    Timestamp::now() + SignedDuration::from_secs(offset)
}

#[tokio::test]
async fn another_replicas_sweep_is_seen_through_the_resource_version() {
    let mut h = start_with_clock(MemStore::with_nodes(&["n1"]), shifted_clock).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    // Another replica marks the node silent nine minutes later; this replica's watch has not
    // seen that write yet and still shows the status from before.
    let later = Timestamp::now() + SignedDuration::from_mins(9);
    h.store.freeze_watch();
    let threshold = SignedDuration::from_mins(8);
    let marked = super::sweep::sweep_once(h.store.as_ref(), threshold, later).await;
    assert_eq!(marked.unwrap(), 1);
    assert_eq!(h.cache.len(), 1);

    // The agent is back at `later`: lastSeen is due, the write with the cached resource version
    // conflicts, the status is re-read and Reporting flips back with a new transition time.
    CLOCK_OFFSET.store(9 * 60, std::sync::atomic::Ordering::SeqCst);
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    assert!(ack.changed);
    let status = h.store.status("n1").unwrap();
    let reporting = find(&status.conditions, REPORTING).unwrap();
    assert_eq!(reporting.status, "True");
    assert!(reporting.last_transition_time.0 >= later - SignedDuration::from_secs(1));
}

#[tokio::test]
async fn reports_read_the_watch_cache_and_a_lagging_one_costs_a_reread_not_a_write() {
    let mut h = start(MemStore::with_nodes(&["n1"])).await;
    h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
        .await
        .unwrap();
    let writes = h.store.writes().len();
    // At steady state every report is judged against the watch cache: no read of its own.
    for _ in 0..5 {
        let ack = h
            .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
            .await
            .unwrap();
        assert!(!ack.changed);
    }
    assert_eq!(*h.store.fresh_reads.lock().unwrap(), 0);
    assert_eq!(h.store.writes().len(), writes);

    // A reboot is written; the watch has not seen that write when the next report comes, so
    // the report looks new against the cache: its write, made with the cached version, is
    // refused, the node is read afresh, and nothing more is written.
    h.store.freeze_watch();
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b2"))
        .await
        .unwrap();
    assert!(ack.changed);
    let writes = h.store.writes().len();
    let ack = h
        .send(Some("tok-n1"), kairos("n1", "v3.6.0", "b2"))
        .await
        .unwrap();
    assert!(!ack.changed, "{:?}", h.store.writes());
    assert_eq!(h.store.writes().len(), writes);
    assert_eq!(*h.store.fresh_reads.lock().unwrap(), 1);
    assert_eq!(h.store.status("n1").unwrap().boot_id.as_deref(), Some("b2"));
}

/// Measures how many TokenReviews the API server sees per report at steady state.
#[tokio::test]
async fn token_reviews_per_report_at_steady_state() {
    let mut h = start(MemStore::with_nodes(&["n1", "n2"])).await;
    let reports = 100;
    for i in 0..reports {
        h.send(Some("tok-n1"), kairos("n1", "v3.6.0", "b1"))
            .await
            .unwrap();
        h.send(
            Some("tok-n2"),
            kairos("n2", "v3.6.0", if i < 50 { "b2" } else { "b3" }),
        )
        .await
        .unwrap();
    }
    let reviews = h.metrics.token_reviews();
    assert_eq!(
        reviews, 2,
        "one TokenReview per agent token, not per report"
    );
    let seen: u64 = (h.api.sim().requests().snapshot())
        .iter()
        .filter(|(k, _)| k.resource == "tokenreviews")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(seen, 2, "the API server sees the same");
    assert_eq!(h.metrics.reports(ReportResult::accepted), 2 * reports);
    // 2 creates + 2 first statuses + 1 reboot status + 2 label sets + 1 label change (boot id
    // does not label; the labels stay) -> writes stay constant while reports grow.
    assert!(h.store.writes().len() <= 8, "{:?}", h.store.writes());
}
