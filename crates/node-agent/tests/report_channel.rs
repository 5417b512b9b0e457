//! The agent's reporting loop against an in-process tonic report service on a loopback port:
//! it sends the right report with the bearer token, re-reads the token, reports a change at
//! once, retries after a rejection, and speaks TLS with the CA bundle it is given.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use kairos_api::v1alpha1::BootState;
use kairos_core::report::AgentReport;
use kairos_node_agent::client::Reporter;
use kairos_node_agent::{Cli, LogFormat, run_loop};
use kairos_proto::v1::report_service_server::{ReportService, ReportServiceServer};
use kairos_proto::v1::{NodeReport, ReportAck};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// One call as the server saw it.
#[derive(Debug)]
struct Seen {
    /// The client's address: one per connection.
    peer: Option<std::net::SocketAddr>,
    authorization: Option<String>,
    report: NodeReport,
}

/// A report service that records every call and answers with the queued statuses first.
struct Recorder {
    calls: mpsc::UnboundedSender<Seen>,
    refusals: Mutex<Vec<Status>>,
}

#[tonic::async_trait]
impl ReportService for Recorder {
    async fn report(&self, request: Request<NodeReport>) -> Result<Response<ReportAck>, Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let _ = self.calls.send(Seen {
            peer: request.remote_addr(),
            authorization,
            report: request.into_inner(),
        });
        if let Some(status) = self.refusals.lock().unwrap().pop() {
            return Err(status);
        }
        Ok(Response::new(ReportAck {
            changed: true,
            heartbeat_seconds: 0,
        }))
    }
}

struct TestServer {
    addr: std::net::SocketAddr,
    calls: mpsc::UnboundedReceiver<Seen>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start_server(refusals: Vec<Status>, tls: Option<Identity>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, calls) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let service = ReportServiceServer::new(Recorder {
        calls: tx,
        refusals: Mutex::new(refusals),
    });
    let mut builder = Server::builder();
    if let Some(identity) = tls {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .unwrap();
    }
    tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
        TcpListenerStream::new(listener),
        async {
            let _ = stopped.await;
        },
    ));
    TestServer {
        addr,
        calls,
        stop: Some(stop),
    }
}

fn write(root: &Path, host_path: &str, content: &str) {
    let p = root.join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A Kairos host root: ubuntu 24.04 standard k3s, booted from the active image.
fn kairos_host(root: &Path, boot_id: &str) {
    write(
        root,
        "/etc/kairos-release",
        "KAIROS_VERSION=\"v3.6.0\"\nKAIROS_FLAVOR=\"ubuntu\"\nKAIROS_FLAVOR_RELEASE=\"24.04\"\n\
         KAIROS_SOFTWARE_VERSION=\"v1.33.1+k3s1\"\nKAIROS_SOFTWARE_VERSION_PREFIX=\"k3s\"\n",
    );
    write(
        root,
        "/usr/lib/os-release",
        "ID=ubuntu\nPRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\n",
    );
    std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
    write(
        root,
        "/proc/cmdline",
        "BOOT_IMAGE=/cOS/vmlinuz root=LABEL=COS_ACTIVE panic=5\n",
    );
    write(root, "/proc/sys/kernel/random/boot_id", boot_id);
    write(root, "/oem/90_custom.yaml", "#cloud-config\nhostname: n1\n");
}

fn cli(root: &Path, endpoint: String, dir: &Path) -> Cli {
    Cli {
        node_name: "n1".into(),
        host_root: root.to_owned(),
        operator_endpoint: Some(endpoint),
        ca_file: dir.join("ca.crt"),
        token_file: dir.join("token"),
        heartbeat: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
        log_format: LogFormat::Plain,
        log_level: "info".into(),
        once: false,
    }
}

async fn next_call(server: &mut TestServer) -> Seen {
    tokio::time::timeout(Duration::from_secs(20), server.calls.recv())
        .await
        .expect("no report within 20s")
        .expect("server gone")
}

fn spawn_agent(cli: Cli) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let reporter = Reporter::new(
        cli.operator_endpoint.clone().unwrap(),
        cli.ca_file.clone(),
        cli.token_file.clone(),
    );
    let handle = tokio::spawn(async move {
        run_loop(&cli, reporter, async {
            let _ = stopped.await;
        })
        .await;
    });
    (stop, handle)
}

#[tokio::test]
async fn every_report_goes_on_a_connection_of_its_own() {
    let mut server = start_server(vec![], None).await;
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("token"), "token-one\n").unwrap();
    let reporter = Reporter::new(
        format!("http://{}", server.addr),
        secrets.path().join("ca.crt"),
        secrets.path().join("token"),
    );
    let mut peers = std::collections::BTreeSet::new();
    for _ in 0..3 {
        reporter.send(NodeReport::default()).await.unwrap();
        peers.insert(next_call(&mut server).await.peer.expect("a TCP peer"));
    }
    // Nothing is pushed to agents, so no connection is held between reports: each report
    // came from a new client port.
    assert_eq!(peers.len(), 3, "{peers:?}");
}

#[tokio::test]
async fn sends_the_report_with_the_bearer_token_and_reports_changes_at_once() {
    let mut server = start_server(vec![], None).await;
    let host = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    kairos_host(host.path(), "11111111-1111-4111-8111-111111111111\n");
    std::fs::write(secrets.path().join("token"), "token-one\n").unwrap();
    let cli = cli(
        host.path(),
        format!("http://{}", server.addr),
        secrets.path(),
    );
    let (stop, agent) = spawn_agent(cli);

    let first = next_call(&mut server).await;
    assert_eq!(first.authorization.as_deref(), Some("Bearer token-one"));
    let report = AgentReport::try_from(first.report).unwrap();
    assert_eq!(report.node_name, "n1");
    assert_eq!(report.agent_version, env!("CARGO_PKG_VERSION"));
    let facts = report.facts;
    assert!(facts.is_kairos);
    let kairos = facts.kairos.unwrap();
    assert_eq!(kairos.version.as_deref(), Some("v3.6.0"));
    assert_eq!(kairos.software_version.as_deref(), Some("v1.33.1+k3s1"));
    assert_eq!(
        facts.os.unwrap().pretty_name.as_deref(),
        Some("Ubuntu 24.04.2 LTS")
    );
    assert_eq!(facts.boot_state, BootState::Active);
    assert_eq!(
        facts.boot_id.as_deref(),
        Some("11111111-1111-4111-8111-111111111111")
    );
    assert_eq!(facts.cloud_config_hash.len(), 64);
    // Each cloud-config file's own hash reaches the operator, by host path.
    assert_eq!(
        facts.cloud_config_files.get("/oem/90_custom.yaml"),
        Some(&kairos_core::report::sha256_hex(
            b"#cloud-config\nhostname: n1\n"
        ))
    );
    assert_eq!(facts.errors, Vec::<String>::new());

    // A "reboot" into a new version, with a rotated token: reported at once (the heartbeat is
    // an hour), with the new token.
    std::fs::write(secrets.path().join("token"), "token-two\n").unwrap();
    write(
        host.path(),
        "/etc/kairos-release",
        "KAIROS_VERSION=\"v3.7.0\"\nKAIROS_FLAVOR=\"ubuntu\"\n",
    );
    write(
        host.path(),
        "/proc/sys/kernel/random/boot_id",
        "22222222-2222-4222-8222-222222222222\n",
    );
    // The files are written one after the other; wait for the report that has both.
    let second = loop {
        let seen = next_call(&mut server).await;
        let r = AgentReport::try_from(seen.report).unwrap();
        if r.facts.boot_id.as_deref() == Some("22222222-2222-4222-8222-222222222222") {
            break (seen.authorization, r);
        }
    };
    assert_eq!(second.0.as_deref(), Some("Bearer token-two"));
    assert_eq!(
        second.1.facts.kairos.unwrap().version.as_deref(),
        Some("v3.7.0")
    );

    // Nothing changes: no further report before the heartbeat.
    let quiet = tokio::time::timeout(Duration::from_millis(400), server.calls.recv()).await;
    assert!(quiet.is_err(), "unexpected report: {quiet:?}");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), agent)
        .await
        .expect("the agent did not stop")
        .unwrap();
}

#[tokio::test]
async fn a_rejected_report_is_retried() {
    let mut server = start_server(
        vec![Status::unauthenticated(
            "token audience is not kairos-operator",
        )],
        None,
    )
    .await;
    let host = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    kairos_host(host.path(), "33333333-3333-4333-8333-333333333333\n");
    std::fs::write(secrets.path().join("token"), "t").unwrap();
    let (stop, agent) = spawn_agent(cli(
        host.path(),
        format!("http://{}", server.addr),
        secrets.path(),
    ));
    let refused = next_call(&mut server).await;
    let retried = next_call(&mut server).await;
    assert_eq!(refused.report, retried.report);
    stop.send(()).unwrap();
    agent.await.unwrap();
}

#[tokio::test]
async fn a_missing_token_sends_nothing_and_an_unreachable_operator_does_not_stop_the_agent() {
    let host = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    kairos_host(host.path(), "44444444-4444-4444-8444-444444444444\n");
    let mut server = start_server(vec![], None).await;
    let (stop, agent) = spawn_agent(cli(
        host.path(),
        format!("http://{}", server.addr),
        secrets.path(),
    ));
    let none = tokio::time::timeout(Duration::from_millis(700), server.calls.recv()).await;
    assert!(none.is_err(), "sent without a token: {none:?}");
    // The token appears (the kubelet mounted it): the next attempt goes through.
    std::fs::write(secrets.path().join("token"), "late-token").unwrap();
    let seen = next_call(&mut server).await;
    assert_eq!(seen.authorization.as_deref(), Some("Bearer late-token"));
    stop.send(()).unwrap();
    agent.await.unwrap();
}

#[tokio::test]
async fn speaks_tls_with_the_given_ca() {
    let ca_params = {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p
    };
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let identity = Identity::from_pem(leaf.pem(), leaf_key.serialize_pem());
    let mut server = start_server(vec![], Some(identity)).await;

    let host = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    kairos_host(host.path(), "55555555-5555-4555-8555-555555555555\n");
    std::fs::write(secrets.path().join("token"), "tls-token").unwrap();
    std::fs::write(secrets.path().join("ca.crt"), ca_cert.pem()).unwrap();
    let endpoint = format!("https://localhost:{}", server.addr.port());
    let (stop, agent) = spawn_agent(cli(host.path(), endpoint, secrets.path()));
    let seen = next_call(&mut server).await;
    assert_eq!(seen.authorization.as_deref(), Some("Bearer tls-token"));
    assert_eq!(seen.report.node_name, "n1");
    stop.send(()).unwrap();
    agent.await.unwrap();

    // A client that trusts another CA never gets a report through.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut other = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other_ca = other.self_signed(&other_key).unwrap();
    std::fs::write(secrets.path().join("ca.crt"), other_ca.pem()).unwrap();
    let reporter = Reporter::new(
        format!("https://localhost:{}", server.addr.port()),
        secrets.path().join("ca.crt"),
        secrets.path().join("token"),
    );
    let err = reporter.send(NodeReport::default()).await.unwrap_err();
    assert_eq!(err.category(), "connect", "{err}");
}
