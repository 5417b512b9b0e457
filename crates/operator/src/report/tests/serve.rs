//! Tests of [`serve`] as the operator runs it: TLS material made through the API simulator,
//! readiness once bound, gRPC health and `ReportService` over TLS on a loopback port, and a
//! clean shutdown. Uses 127.0.0.1 only.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kairos_proto::v1::report_service_client::ReportServiceClient;
use kube::api::{Api, ListParams};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::api::{self, NS};
use super::certs::published;
use crate::report::store::Watched;
use crate::report::{ReportConfig, ReportMetrics, TlsMode, serve};

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn config(port: u16, tls: TlsMode) -> ReportConfig {
    ReportConfig {
        grpc_addr: ([127, 0, 0, 1], port).into(),
        namespace: "kairos-system".into(),
        service_name: "kairos-operator".into(),
        agent_service_account: "kairos-node-agent".into(),
        tls,
        lastseen_interval: Duration::from_secs(300),
        heartbeat: Duration::from_secs(60),
        api_concurrency: 8,
        connection_max_age: Duration::from_secs(300),
        max_connections: 16,
        leading: tokio::sync::watch::channel(true).1,
    }
}

/// A running [`serve`]: ready once it returns; [`Serving::stop`] shuts it down and checks it
/// ended cleanly and not ready.
struct Serving {
    server: tokio::task::JoinHandle<Result<(), crate::report::Error>>,
    ready: tokio::sync::watch::Receiver<bool>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Serving {
    async fn start(client: kube::Client, config: ReportConfig) -> Self {
        let (ready_tx, mut ready) = tokio::sync::watch::channel(false);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            client,
            Watched::unlisted(),
            config,
            ReportMetrics::default(),
            ready_tx,
            async move {
                let _ = stopped.await;
            },
        ));
        tokio::time::timeout(Duration::from_secs(20), ready.wait_for(|r| *r))
            .await
            .unwrap()
            .unwrap();
        Self {
            server,
            ready,
            stop,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(!*self.ready.borrow(), "not ready once shut down");
    }
}

async fn channel(port: u16, ca: Option<&str>) -> Channel {
    let scheme = if ca.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::try_from(format!("{scheme}://127.0.0.1:{port}")).unwrap();
    if let Some(ca) = ca {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("kairos-operator.kairos-system.svc");
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    endpoint.connect().await.unwrap()
}

#[tokio::test]
async fn managed_tls_serves_health_and_reports_then_shuts_down() {
    let (_api, client) = api::start().await;
    let port = free_port();
    let serving = Serving::start(client.clone(), config(port, TlsMode::Managed)).await;

    // The agents' view: the CA bundle from the ConfigMap.
    let ca = published(&client).await;
    let channel = channel(port, Some(&ca)).await;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "kairos.operator.v1.ReportService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    // The report service answers (the simulator refuses this token).
    let mut request = tonic::Request::new(kairos_proto::v1::NodeReport {
        node_name: "n1".into(),
        ..Default::default()
    });
    request
        .metadata_mut()
        .insert("authorization", "Bearer x".parse().unwrap());
    let err = ReportServiceClient::new(channel)
        .report(request)
        .await
        .unwrap_err();
    assert_ne!(err.code(), tonic::Code::Unimplemented);

    serving.stop().await;
}

#[tokio::test]
async fn plaintext_mode_needs_no_tls_material() {
    let (_api, client) = api::start().await;
    let port = free_port();
    let serving = Serving::start(client.clone(), config(port, TlsMode::Plaintext)).await;
    let health = HealthClient::new(channel(port, None).await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, ServingStatus::Serving as i32);
    let secrets = Api::<Secret>::namespaced(client.clone(), NS)
        .list(&ListParams::default())
        .await
        .unwrap();
    let configmaps = Api::<ConfigMap>::namespaced(client, NS)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(
        secrets.items.is_empty() && configmaps.items.is_empty(),
        "no Secret or ConfigMap in plaintext mode"
    );
    serving.stop().await;
}

#[tokio::test]
async fn a_connection_held_past_its_age_is_closed() {
    let (_api, client) = api::start().await;
    let port = free_port();
    let serving = Serving::start(
        client,
        ReportConfig {
            connection_max_age: Duration::from_millis(500),
            ..config(port, TlsMode::Plaintext)
        },
    )
    .await;
    // An HTTP/2 connection that makes one call and then sits idle, as an agent holding its
    // connection between reports would.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = axum::http::Request::post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(&[
            0, 0, 0, 0, 0,
        ])))
        .unwrap();
    let answer = sender.send_request(request).await.unwrap();
    assert_eq!(answer.status(), 200);
    http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap();
    // The server ends the connection once it is older than its age; the client sees it close.
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the connection was closed")
        .unwrap()
        .unwrap();
    serving.stop().await;
}
