//! `kairos-sandbox`: the Kairos operator on a laptop, without a cluster. Starts the Kubernetes
//! API simulator (or a real kube-apiserver when `KUBEBUILDER_ASSETS` is set), six simulated
//! nodes (two control-plane, mixed Kairos flavours, one plain Debian), the real `kairos-operator`
//! and one real `kairos-node-agent` per node, and the kubelet stand-in in automatic mode (Jobs
//! succeed, reboot pods reboot their node; an upgrade Job's image decides the version the node
//! comes back with). Prints the kubeconfig and commands to try, runs until Ctrl-C or SIGTERM,
//! then stops everything and removes its files. Does process, file, network and API I/O.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kairos_api::v1alpha1::KairosNode;
use kairos_e2e::harness::{
    Cluster, NodeHandle, OperatorHandle, ReleaseFixture, SimNode, ensure_built, upgrading_policy,
    wait_for,
};
use kairos_e2e::tool;
use kube::api::{Api, ListParams};

/// The seed's `example-nodeop`, unchanged (shared/seeds/000_74343175d1bdd906.txt).
const SEED_NODEOP: &str = r#"apiVersion: operator.kairos.io/v1alpha1
kind: NodeOp
metadata:
  name: example-nodeop
  namespace: default
spec:
  # NodeSelector to target specific nodes (optional)
  nodeSelector:
    matchLabels:
      kairos.io/managed: "true"

  # The container image to run on each node
  image: busybox:latest

  # The command to execute in the container
  command:
    - sh
    - -c
    - |
      echo "Running on node $(hostname)"
      ls -la /host/etc/kairos-release
      cat /host/etc/kairos-release

  # Path where the node's root filesystem will be mounted (defaults to /host)
  hostMountPath: /host

  # Whether to cordon the node before running the operation
  cordon: true

  # Drain options for pod eviction
  drainOptions:
    enabled: true
    force: false
    gracePeriodSeconds: 30
    ignoreDaemonSets: true
    deleteEmptyDirData: false
    timeoutSeconds: 300

  # Whether to reboot the node after successful operation
  rebootOnSuccess: true

  # Number of retries before marking the job failed
  backoffLimit: 3

  # Maximum number of nodes that can run the operation simultaneously
  # 0 means run on all nodes at once
  concurrency: 1

  # Whether to stop creating new jobs when a job fails
  # Useful for canary deployments
  stopOnFailure: true
"#;

/// Command line of `kairos-sandbox`.
#[derive(Debug, Parser)]
#[command(
    name = "kairos-sandbox",
    about = "Try the Kairos operator without a cluster: a simulated API server, six simulated \
             nodes, the real operator and node agents. Runs until Ctrl-C."
)]
struct Args {
    /// The operator's namespace.
    #[arg(long, default_value = "kairos-system")]
    namespace: String,
    /// Also copy the kubeconfig to this path (it is removed again at exit).
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Seconds a Job or reboot pod "runs" before the kubelet stand-in finishes it.
    #[arg(long, default_value_t = 2)]
    job_seconds: u64,
    /// Do not run `cargo build` for the operator and agent first (use the binaries found through
    /// `KAIROS_OPERATOR_BIN`/`KAIROS_AGENT_BIN` or in `target/debug`).
    #[arg(long)]
    no_build: bool,
}

/// Writes a line to standard output (the sandbox's user interface).
fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// The sandbox's nodes: two control-plane, three Kairos workers of other flavours, one Debian.
fn nodes() -> Vec<SimNode> {
    vec![
        SimNode::control_plane("cp-1", ReleaseFixture::ubuntu_k3s("v3.5.0")),
        SimNode::control_plane("cp-2", ReleaseFixture::opensuse_k3s("v3.5.0")),
        SimNode::worker("worker-1", ReleaseFixture::alpine_k3s("v3.5.0")),
        SimNode::worker("worker-2", ReleaseFixture::ubuntu_k0s("v3.4.2")),
        SimNode::worker("worker-3", ReleaseFixture::ubuntu_core("v3.5.0")),
        SimNode::worker("debian-1", ReleaseFixture::plain_debian()),
    ]
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

struct Sandbox {
    cluster: Cluster,
    operator: OperatorHandle,
    nodes: Vec<NodeHandle>,
}

const OPERATOR_FLAGS: [&str; 8] = [
    "--heartbeat",
    "30s",
    "--lastseen-interval",
    "1m",
    "--poll-interval",
    "2s",
    "--reboot-timeout",
    "5m",
];
const AGENT_FLAGS: [&str; 4] = ["--poll-interval", "1s", "--heartbeat", "30s"];

async fn start(args: &Args) -> anyhow::Result<Sandbox> {
    if !args.no_build {
        say("building kairos-operator and kairos-node-agent (cargo build)...");
        ensure_built().await?;
    }
    let cluster = Cluster::start()
        .await
        .context("failed to start the API server")?;
    let ns = args.namespace.as_str();
    // The operator runs its Jobs and reboot pods with this service account.
    cluster.ensure_namespace(ns).await?;
    cluster
        .ensure_service_account(ns, "kairos-node-job")
        .await?;
    let mut handles = vec![];
    for spec in nodes() {
        handles.push(cluster.add_node(spec).await?);
    }
    let operator = cluster.start_report_operator(ns, &OPERATOR_FLAGS).await?;
    for n in &handles {
        cluster.start_agent(n, &operator, &AGENT_FLAGS).await?;
    }
    Ok(Sandbox {
        cluster,
        operator,
        nodes: handles,
    })
}

/// Waits until every Kairos node has its KairosNode with a reported version.
async fn wait_reported(sb: &Sandbox) -> anyhow::Result<()> {
    let kairos = sb.nodes.iter().filter(|n| n.release().is_kairos()).count();
    let api: Api<KairosNode> = Api::all(sb.cluster.client());
    wait_for(Duration::from_secs(60), || async {
        let list = api.list(&ListParams::default()).await.ok()?;
        let reported = list
            .items
            .iter()
            .filter(|kn| {
                kn.status
                    .as_ref()
                    .and_then(|s| s.kairos.as_ref())
                    .is_some_and(|k| k.version.is_some())
            })
            .count();
        (reported == kairos).then_some(())
    })
    .await
    .context("the agents did not report within 60 s")
}

fn instructions(sb: &Sandbox, kubeconfig: &Path, nodeop: &Path) {
    let kc = kubeconfig.display();
    let ns = &sb.operator.namespace;
    say("");
    say("Kairos sandbox is running.");
    say(format!(
        "  API server:   {:?} backend",
        sb.cluster.backend()
    ));
    say(format!("  kubeconfig:   {kc}"));
    say(format!(
        "  operator:     report channel {} (plain text), admin http://{}/metrics, namespace {ns}",
        sb.operator.endpoint(),
        sb.operator.admin_addr
    ));
    say(format!(
        "  logs:         {}/operator-{}.log, {}/nodes/<node>/agent.log",
        sb.cluster.dir().display(),
        sb.operator.index,
        sb.cluster.dir().display()
    ));
    say("");
    let has_kubectl = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_kubectl {
        say("(kubectl is not on PATH: install it to run the commands below)");
    }
    say("Try:");
    say(format!("  export KUBECONFIG={kc}"));
    say("  kubectl get nodes -L kairos.io/flavor,kairos.io/release,kairos.io/boot-state");
    say("  kubectl get kairosnodes");
    say("  kubectl get kn cp-1 -o yaml");
    say("  # upgrade one node: the operator cordons, drains, runs the upgrade Job, reboots it");
    say(
        "  kubectl patch kairosnode worker-1 --type merge -p '{\"spec\":{\"version\":\"v3.6.0\"}}'",
    );
    say("  kubectl get kn -w");
    say(format!(
        "  # the seed's example NodeOp (runs on every kairos.io/managed node, one at a time)\n  kubectl apply -f {}",
        nodeop.display()
    ));
    say("  kubectl get nodeops -n default -w");
    say(format!("  kubectl get jobs,pods -n {ns}"));
    say("");
    say("Press Ctrl-C to stop and clean up.");
}

/// Reports processes that died (the agents' restarts on reboot are expected and not reported).
async fn watch(sb: &Sandbox) {
    let mut operator_gone = false;
    let mut gone: BTreeMap<String, bool> = BTreeMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if !operator_gone && sb.cluster.operator_pid(sb.operator.index).is_none() {
            operator_gone = true;
            let logs = sb.cluster.operator_logs(sb.operator.index);
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            say("!! the operator exited; last log lines:");
            for l in tail.into_iter().rev() {
                say(format!("   {l}"));
            }
        }
        for n in &sb.nodes {
            let down = !n.agent_running();
            let was = gone.insert(n.name().to_owned(), down).unwrap_or(false);
            if down && was {
                // Down on two checks in a row: not a reboot in progress.
                say(format!(
                    "!! the agent of {} is not running (see {}/agent.log)",
                    n.name(),
                    n.dir().display()
                ));
            }
        }
    }
}

async fn stop(sb: Sandbox) {
    say("stopping the agents and the operator...");
    for n in &sb.nodes {
        n.stop_agent().await;
    }
    sb.cluster.kill_operator(sb.operator.index).await;
    drop(sb);
    say("cleaned up.");
}

async fn run(args: Args) -> anyhow::Result<()> {
    let sb = tokio::select! {
        r = start(&args) => r?,
        () = shutdown_signal() => anyhow::bail!("interrupted while starting"),
    };
    let delay = Duration::from_secs(args.job_seconds);
    let auto = sb.cluster.kubelet().run_auto(upgrading_policy(delay));
    let ready = tokio::select! {
        r = wait_reported(&sb) => r,
        () = shutdown_signal() => Err(anyhow::anyhow!("interrupted while starting")),
    };
    if let Err(e) = ready {
        let logs = sb.cluster.operator_logs(sb.operator.index);
        drop(auto);
        stop(sb).await;
        return Err(e.context(format!("operator log:\n{logs}")));
    }
    let nodeop = sb.cluster.dir().join("example-nodeop.yaml");
    std::fs::write(&nodeop, SEED_NODEOP).context("failed to write the example NodeOp")?;
    let kubeconfig = match &args.kubeconfig_out {
        Some(p) => {
            std::fs::copy(sb.cluster.kubeconfig_path(), p)
                .with_context(|| format!("failed to write {}", p.display()))?;
            p.clone()
        }
        None => sb.cluster.kubeconfig_path().to_path_buf(),
    };
    instructions(&sb, &kubeconfig, &nodeop);
    tokio::select! {
        () = watch(&sb) => {}
        () = shutdown_signal() => {}
    }
    drop(auto);
    say("(stopping; press Ctrl-C again to leave at once)");
    tokio::select! {
        () = stop(sb) => {}
        () = shutdown_signal() => say("left without waiting for the cleanup"),
    }
    if let Some(p) = &args.kubeconfig_out {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tool::init_logging();
    tool::exit_code(run(Args::parse()).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_nodes_two_control_plane_one_debian() {
        let n = nodes();
        assert_eq!(n.len(), 6);
        assert_eq!(n.iter().filter(|n| n.control_plane).count(), 2);
        assert_eq!(n.iter().filter(|n| !n.release.is_kairos()).count(), 1);
    }
}
