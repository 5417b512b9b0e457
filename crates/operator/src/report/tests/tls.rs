//! The TLS path end to end, in process: the rustls acceptor with the hot-swapped [`Resolver`],
//! the tonic server behind it, and a tonic client that trusts a given CA bundle, over an
//! in-memory duplex pipe. Covers the CA rotation overlap. No network.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio_rustls::TlsAcceptor;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server, Uri};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::report::certs::Resolver;
use crate::report::tls::{self, Step, TlsMaterial};

const HOST: &str = "kairos-operator.kairos-system.svc";

fn names() -> Vec<String> {
    tls::serving_names("kairos-operator", "kairos-system")
}

/// Opens one connection to a server presenting `resolver`'s certificate, trusting `bundle` and
/// expecting the name `host`, and runs a health check over it.
async fn health_check(resolver: &Arc<Resolver>, bundle: &str, host: &str) -> Result<(), String> {
    let acceptor = TlsAcceptor::from(Arc::new(resolver.server_config()));
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let Ok(tls) = acceptor.accept(server_io).await else {
            return;
        };
        let (_, health) = tonic_health::server::health_reporter();
        let _ = Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::once(Ok::<_, std::io::Error>(tls)))
            .await;
    });
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(bundle))
        .domain_name(host);
    let mut client_io = Some(client_io);
    let channel = Endpoint::try_from(format!("https://{host}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = client_io.take();
            async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("used"))
            }
        }))
        .await
        .map_err(|e| format!("{e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn created(now: Timestamp) -> TlsMaterial {
    tls::execute(&[Step::CreateAll], None, &names(), now).unwrap()
}

#[tokio::test]
async fn agents_trusting_the_published_bundle_connect_and_others_do_not() {
    let now = Timestamp::now();
    let m = created(now);
    let resolver = Arc::new(Resolver::default());
    resolver.load(&m).unwrap();
    let bundle = tls::ca_bundle(&m, None, now);
    health_check(&resolver, &bundle, HOST).await.unwrap();
    health_check(&resolver, &bundle, "kairos-operator")
        .await
        .unwrap();
    // A name the certificate is not for, and a CA the server was not signed by.
    assert!(
        health_check(&resolver, &bundle, "evil.example")
            .await
            .is_err()
    );
    let stranger = tls::ca_bundle(&created(now), None, now);
    assert!(health_check(&resolver, &stranger, HOST).await.is_err());
}

#[tokio::test]
async fn a_ca_rotation_never_breaks_an_agent_that_follows_the_configmap() {
    let now = Timestamp::now();
    // A CA made 310 days ago (55 days left), its serving certificate renewed since.
    let old = created(now - SignedDuration::from_hours(24 * 310));
    let renewed_at = now - SignedDuration::from_hours(4);
    let old = tls::execute(&[Step::RenewServing], Some(&old), &names(), renewed_at).unwrap();
    let resolver = Arc::new(Resolver::default());
    resolver.load(&old).unwrap();
    let old_bundle = tls::ca_bundle(&old, None, now);

    // Step 1: the next CA is published; agents on either bundle still connect.
    // The handshakes check against the real clock, so the story happened in the last hours.
    let t1 = now - SignedDuration::from_hours(3);
    let with_next = tls::execute(&[Step::AddNextCa], Some(&old), &names(), t1).unwrap();
    let both = tls::ca_bundle(&with_next, Some(&old_bundle), t1);
    assert!(
        !resolver.load(&with_next).unwrap(),
        "the serving certificate does not change yet"
    );
    health_check(&resolver, &old_bundle, HOST).await.unwrap();
    health_check(&resolver, &both, HOST).await.unwrap();

    // Step 2: an hour later the next CA signs a new serving certificate, swapped in live.
    let t2 = t1 + SignedDuration::from_hours(2);
    let promoted = tls::execute(&[Step::PromoteNextCa], Some(&with_next), &names(), t2).unwrap();
    assert!(resolver.load(&promoted).unwrap());
    health_check(&resolver, &tls::ca_bundle(&promoted, Some(&both), t2), HOST)
        .await
        .unwrap();
    health_check(&resolver, &both, HOST).await.unwrap();
    // Only an agent that never re-read the ConfigMap in that hour is refused.
    assert!(health_check(&resolver, &old_bundle, HOST).await.is_err());
}
