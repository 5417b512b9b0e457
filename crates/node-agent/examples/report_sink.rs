//! A tiny plain-text report service that accepts every report and logs it: for measuring and
//! debugging the agent without an operator (`cargo run --example report_sink -- 127.0.0.1:9443`,
//! then run the agent with `--operator-endpoint http://127.0.0.1:9443`). With a PEM certificate
//! and key as second and third arguments it serves TLS (`https://`). Not for production.

#![allow(
    clippy::print_stdout,
    reason = "a debugging tool that prints what it receives"
)]

use std::net::SocketAddr;

use kairos_proto::v1::report_service_server::{ReportService, ReportServiceServer};
use kairos_proto::v1::{NodeReport, ReportAck};
use tonic::{Request, Response, Status};

struct Sink;

#[tonic::async_trait]
impl ReportService for Sink {
    async fn report(&self, request: Request<NodeReport>) -> Result<Response<ReportAck>, Status> {
        let has_token = request.metadata().get("authorization").is_some();
        let r = request.into_inner();
        println!(
            "report from {} (token: {has_token}): kairos={} boot_id={} errors={:?}",
            r.node_name, r.is_kairos, r.boot_id, r.errors
        );
        Ok(Response::new(ReportAck {
            changed: true,
            heartbeat_seconds: 0,
        }))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9443".to_owned())
        .parse()?;
    let mut builder = tonic::transport::Server::builder();
    if let (Some(cert), Some(key)) = (std::env::args().nth(2), std::env::args().nth(3)) {
        let identity =
            tonic::transport::Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?);
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    println!("listening on {addr}");
    builder
        .add_service(ReportServiceServer::new(Sink))
        .serve(addr)
        .await?;
    Ok(())
}
