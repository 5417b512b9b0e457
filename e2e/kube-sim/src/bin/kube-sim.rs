//! `kube-sim`: runs the Kubernetes API simulator as a process, so a person can point kubectl or
//! the operator at it. Does network and file I/O.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use kairos_kube_sim::{SimConfig, SimServer, default_crd_dir};

/// Command line of `kube-sim`.
#[derive(Debug, Parser)]
#[command(about = "An in-memory Kubernetes API simulator for trying the Kairos operator by hand")]
struct Args {
    /// Port to listen on (loopback only); 0 picks a free one.
    #[arg(long, env = "KUBE_SIM_PORT", default_value_t = 8001)]
    port: u16,
    /// Where to write a kubeconfig pointing at the simulator.
    #[arg(long, env = "KUBE_SIM_KUBECONFIG_OUT")]
    kubeconfig_out: Option<PathBuf>,
    /// Directory of CRD YAML files to install at start.
    #[arg(long, env = "KUBE_SIM_CRD_DIR")]
    crd_dir: Option<PathBuf>,
    /// Seconds between watch bookmarks.
    #[arg(long, env = "KUBE_SIM_BOOKMARK_SECONDS", default_value_t = 60)]
    bookmark_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args = Args::parse();
    let cfg = SimConfig {
        bookmark_interval: Duration::from_secs(args.bookmark_seconds.max(1)),
        crd_dir: Some(args.crd_dir.unwrap_or_else(default_crd_dir)),
        ..SimConfig::default()
    };
    let server = SimServer::start(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    if let Some(p) = &args.kubeconfig_out {
        server.write_kubeconfig(p)?;
    }
    tracing::info!(url = %server.url(), kubeconfig = ?args.kubeconfig_out, "kube-sim listening");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
