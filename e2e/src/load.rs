//! Load generation and process sampling for the measuring programs (`kairos-measure`,
//! `kairos-bench`): simulated Kairos nodes of every flavour with their agent's bound token, an
//! in-process fleet of reporters (one report stream per node, sending what the real agent code
//! reads from the node's host root), and `/proc` readings of a process's memory and CPU time.
//! Does process, file, network and API I/O.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use kairos_core::report::facts;
use kairos_proto::v1::NodeReport;
use kairos_proto::v1::report_service_client::ReportServiceClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::harness::{BootMode, Cluster, NodeHandle, ReleaseFixture, SimNode};

/// One reading of a process: resident and peak memory (KiB) and CPU time (clock ticks).
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM` (peak resident set).
    pub hwm_kib: u64,
    /// utime + stime.
    pub ticks: u64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("failed to read /proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("failed to read /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Sample {
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        ticks: num(11) + num(12),
    })
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// min / median / max of `v`.
pub fn spread(mut v: Vec<u64>) -> (u64, u64, u64) {
    v.sort_unstable();
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(a), Some(m), Some(z)) => (*a, *m, *z),
        _ => (0, 0, 0),
    }
}

/// Node `i` of a measured fleet, named `node-<i>`: the first three are control-plane nodes;
/// flavours, variants, distributions and versions rotate; every eleventh boots passive.
pub fn fixture(i: usize) -> SimNode {
    let makers: [fn(&str) -> ReleaseFixture; 7] = [
        ReleaseFixture::ubuntu_k3s,
        ReleaseFixture::ubuntu_k0s,
        ReleaseFixture::ubuntu_core,
        ReleaseFixture::alpine_k3s,
        ReleaseFixture::alpine_core,
        ReleaseFixture::opensuse_k3s,
        ReleaseFixture::opensuse_k0s,
    ];
    let versions = ["v3.5.0", "v3.4.2", "v3.6.0"];
    let release = makers[i % makers.len()](versions[i % versions.len()]);
    let mut n = if i < 3 {
        SimNode::control_plane(&format!("node-{i:05}"), release)
    } else {
        SimNode::worker(&format!("node-{i:05}"), release)
    };
    if i % 11 == 5 {
        n.boot_mode = BootMode::Passive;
    }
    n
}

/// Adds the simulated nodes `specs` (e.g. `(0..n).map(fixture)`), `parallel` at a time.
pub async fn add_nodes(
    c: &Cluster,
    specs: impl IntoIterator<Item = SimNode>,
    parallel: usize,
) -> anyhow::Result<Vec<NodeHandle>> {
    futures::stream::iter(specs.into_iter().map(|spec| c.add_node(spec)))
        .buffered(parallel.max(1))
        .try_collect()
        .await
}

/// Gives each node an agent pod in `ns` and a bound token for it (what the kubelet mounts into
/// the agent's pod), `parallel` at a time; returns each node's token file.
pub async fn agent_tokens(
    c: &Cluster,
    ns: &str,
    nodes: &[NodeHandle],
    parallel: usize,
) -> anyhow::Result<Vec<PathBuf>> {
    futures::stream::iter(nodes.iter().map(|n| async move {
        let id = c
            .agent_identity(n, ns, kairos_api::names::AGENT_TOKEN_AUDIENCE)
            .await?;
        Ok::<_, anyhow::Error>(id.token_file)
    }))
    .buffered(parallel.max(1))
    .try_collect()
    .await
}

/// How the reporters of a [`Reporters`] fleet send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// One report every interval, at a random phase (the agents' heartbeat).
    Every(Duration),
    /// Back to back: the next report as soon as the last one is answered (saturation).
    Flood,
    /// Stop and end.
    Stop,
}

/// Counters of a reporter fleet.
#[derive(Debug, Default)]
pub struct Counters {
    /// Reports answered OK.
    pub delivered: AtomicU64,
    /// Reports that failed (connection or status).
    pub failed: AtomicU64,
}

/// An in-process fleet of reporters, one per node, sending the report the real agent builds
/// from the node's host root with its node's bound token. Each reporter is the agent's own
/// client ([`kairos_node_agent::client::Reporter`]: the CA and token files, TLS, one connection
/// per report), unless `shared_connection` puts every report on one HTTP/2 connection. The
/// first report of each goes out at once.
#[derive(Debug)]
pub struct Reporters {
    pace: watch::Sender<Pace>,
    counters: Arc<Counters>,
    tasks: Vec<JoinHandle<()>>,
}

/// How one reporter sends.
enum Sender {
    /// The agent's client.
    Agent(kairos_node_agent::client::Reporter),
    /// A client on the shared connection, with the token's header.
    Shared(
        ReportServiceClient<Channel>,
        tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    ),
}

impl Sender {
    async fn send(&mut self, report: NodeReport) -> bool {
        match self {
            Self::Agent(agent) => agent.send(report).await.is_ok(),
            Self::Shared(client, auth) => {
                let mut req = tonic::Request::new(report);
                req.metadata_mut().insert("authorization", auth.clone());
                client.report(req).await.is_ok()
            }
        }
    }
}

impl Reporters {
    /// Starts one reporter per `(node, token file)` against `endpoint` (trusting the CA bundle
    /// in `ca_file` when it is `https://`), pacing with `pace` after the first report.
    pub fn start(
        endpoint: &str,
        ca_file: &Path,
        shared_connection: bool,
        nodes: &[(NodeHandle, PathBuf)],
        pace: Pace,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = watch::channel(pace);
        let counters = Arc::new(Counters::default());
        let shared = if shared_connection {
            let mut e = Endpoint::from_shared(endpoint.to_string())?;
            if endpoint.starts_with("https://") {
                let pem = std::fs::read(ca_file)
                    .with_context(|| format!("failed to read {}", ca_file.display()))?;
                e = e.tls_config(
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                )?;
            }
            Some(e.connect_lazy())
        } else {
            None
        };
        let mut tasks = Vec::with_capacity(nodes.len());
        for (node, token_file) in nodes {
            let sender = match &shared {
                Some(channel) => {
                    let token = std::fs::read_to_string(token_file)
                        .with_context(|| format!("failed to read {}", token_file.display()))?;
                    let auth = format!("Bearer {}", token.trim())
                        .parse()
                        .context("a token that is not a header value")?;
                    Sender::Shared(ReportServiceClient::new(channel.clone()), auth)
                }
                None => Sender::Agent(kairos_node_agent::client::Reporter::new(
                    endpoint.to_string(),
                    ca_file.to_owned(),
                    token_file.clone(),
                )),
            };
            let host = kairos_node_agent::host::Host::new(node.host_root());
            let report = kairos_proto::convert::node_report(
                node.name(),
                kairos_node_agent::AGENT_VERSION,
                &facts(&host.snapshot()),
            );
            tasks.push(tokio::spawn(report_loop(
                sender,
                report,
                rx.clone(),
                counters.clone(),
            )));
        }
        Ok(Self {
            pace: tx,
            counters,
            tasks,
        })
    }

    /// Changes the pace of every reporter (takes effect after its current wait).
    pub fn set_pace(&self, pace: Pace) {
        self.pace.send_replace(pace);
    }

    /// Reports answered OK so far.
    pub fn delivered(&self) -> u64 {
        self.counters.delivered.load(Ordering::Relaxed)
    }

    /// Reports failed so far.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Stops every reporter and waits for them.
    pub async fn stop(self) {
        self.pace.send_replace(Pace::Stop);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn report_loop(
    mut sender: Sender,
    report: NodeReport,
    mut pace: watch::Receiver<Pace>,
    counters: Arc<Counters>,
) {
    let mut first = true;
    loop {
        let now = *pace.borrow_and_update();
        let wait = match now {
            Pace::Stop => return,
            _ if first => Duration::ZERO,
            Pace::Flood => Duration::ZERO,
            // Half the interval plus up to a whole one: every interval on average, spread.
            Pace::Every(every) => every / 2 + random_below(every),
        };
        if !wait.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                // A new pace applies at once (a flood must not wait out a heartbeat).
                _ = pace.changed() => continue,
            }
        }
        if sender.send(report.clone()).await {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            first = false;
        } else {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // Back off a little after a failure, as the agent does.
            tokio::time::sleep(Duration::from_millis(200) + random_below(Duration::from_secs(1)))
                .await;
        }
    }
}

/// A pseudo-random duration below `max`.
fn random_below(max: Duration) -> Duration {
    let ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(u64::from(rand::random::<u32>()) % ms)
}
