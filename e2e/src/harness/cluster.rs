//! The [`Cluster`]: one API over the two backends (see the module docs of `harness`), its
//! kube `Client` and kubeconfig, simulated nodes, the kubelet stand-in and operator processes.
//! Does process, file and API I/O.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Namespace, Node, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use kairos_kube_sim::{SimConfig, SimServer, default_crd_dir};

use super::kubelet::Kubelet;
use super::node::{NodeHandle, SimNode};
use super::process::{Proc, locate};
use super::real::{RealApiServer, RealBinaries};

/// The namespace `deploy/default` installs the operator in.
pub const INSTALL_NAMESPACE: &str = "kairos-system";

/// Which backend a cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The in-repo simulator.
    Sim,
    /// A real kube-apiserver and etcd.
    Real,
}

#[derive(Debug)]
pub(super) enum Backend {
    Sim(SimServer),
    Real(Box<RealApiServer>),
}

/// A running API server with simulated nodes.
pub struct Cluster {
    // Field order matters: processes and nodes go before the server they talk to.
    operators: Mutex<Vec<Proc>>,
    nodes: Arc<Mutex<BTreeMap<String, NodeHandle>>>,
    client: Client,
    kubeconfig: PathBuf,
    pub(super) backend: Backend,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The backend [`Cluster::start`] would pick from the environment.
    pub fn backend_from_env() -> BackendKind {
        if RealBinaries::from_env().is_some() {
            BackendKind::Real
        } else {
            BackendKind::Sim
        }
    }

    /// Starts a cluster on the backend the environment selects (see the module docs).
    pub async fn start() -> anyhow::Result<Self> {
        match RealBinaries::from_env() {
            Some(b) => Self::start_real(&b).await,
            None => Self::start_sim(SimConfig::default()).await,
        }
    }

    /// Starts the backend the environment selects without the project's CRDs (for a test that
    /// installs them as an admin would).
    pub async fn start_bare() -> anyhow::Result<Self> {
        match RealBinaries::from_env() {
            Some(b) => Self::start_real_with(&b, false).await,
            None => {
                let cfg = SimConfig {
                    crd_dir: None,
                    ..SimConfig::default()
                };
                Self::start_sim(cfg).await
            }
        }
    }

    /// Starts the simulator backend with `cfg`.
    pub async fn start_sim(cfg: SimConfig) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("kairos-e2e-").tempdir()?;
        let server = SimServer::start(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let kubeconfig = dir.path().join("kubeconfig");
        server.write_kubeconfig(&kubeconfig)?;
        let client = client_from(&kubeconfig).await?;
        Ok(Self::assemble(
            dir,
            kubeconfig,
            client,
            Backend::Sim(server),
        ))
    }

    /// Starts the real backend with `bins` and installs the CRDs of `deploy/crds`.
    pub async fn start_real(bins: &RealBinaries) -> anyhow::Result<Self> {
        Self::start_real_with(bins, true).await
    }

    async fn start_real_with(bins: &RealBinaries, crds: bool) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("kairos-e2e-real-")
            .tempdir()?;
        let server = RealApiServer::start(bins, dir.path()).await?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, &server.kubeconfig_yaml)?;
        let client = client_from(&kubeconfig).await?;
        let c = Self::assemble(dir, kubeconfig, client, Backend::Real(Box::new(server)));
        if crds {
            c.install_crds(&default_crd_dir()).await?;
        }
        c.ensure_namespace("default").await?;
        Ok(c)
    }

    fn assemble(
        dir: tempfile::TempDir,
        kubeconfig: PathBuf,
        client: Client,
        backend: Backend,
    ) -> Self {
        Self {
            operators: Mutex::new(vec![]),
            nodes: Arc::new(Mutex::new(BTreeMap::new())),
            client,
            kubeconfig,
            backend,
            dir,
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> BackendKind {
        match self.backend {
            Backend::Sim(_) => BackendKind::Sim,
            Backend::Real(_) => BackendKind::Real,
        }
    }

    /// Whether owner-reference garbage collection runs (always on sim; on real only with a
    /// kube-controller-manager).
    pub fn has_gc(&self) -> bool {
        match &self.backend {
            Backend::Sim(_) => true,
            Backend::Real(r) => r.has_gc(),
        }
    }

    /// The simulator, when on the sim backend.
    pub fn sim(&self) -> Option<&SimServer> {
        match &self.backend {
            Backend::Sim(s) => Some(s),
            Backend::Real(_) => None,
        }
    }

    /// A client with admin rights.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The kubeconfig file (admin).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }
    /// Runs the real `kubectl args..` against this cluster (its kubeconfig, a cache directory of
    /// its own), without blocking the runtime. `None` when kubectl cannot be started (not
    /// installed); otherwise whether it succeeded and what it printed (stdout, then stderr).
    pub async fn kubectl(&self, args: &[&str]) -> Option<(bool, String)> {
        let out = tokio::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.dir().join("kubectl-cache"))
            .args(args)
            .output()
            .await
            .ok()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some((out.status.success(), text))
    }

    /// A scratch directory removed with the cluster.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Installs every CRD in `dir` (server-side apply) and waits until each is Established.
    pub async fn install_crds(&self, dir: &Path) -> anyhow::Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let mut names = vec![];
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f)?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: serde_json::Value = serde::Deserialize::deserialize(doc)?;
                if v["kind"] != "CustomResourceDefinition" {
                    continue;
                }
                let crd: CustomResourceDefinition = serde_json::from_value(v)?;
                let name = crd.name_any();
                api.patch(
                    &name,
                    &PatchParams::apply("kairos-e2e").force(),
                    &Patch::Apply(&crd),
                )
                .await
                .with_context(|| format!("failed to install CRD {name}"))?;
                names.push(name);
            }
        }
        for name in names {
            wait_for(Duration::from_secs(30), || async {
                let c = api.get(&name).await.ok()?;
                c.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            })
            .await
            .with_context(|| format!("CRD {name} not established"))?;
        }
        Ok(())
    }

    /// Creates a namespace (if missing) and its `default` service account (a real cluster's
    /// controller manager would; envtest-style setups have none).
    pub async fn ensure_namespace(&self, ns: &str) -> anyhow::Result<()> {
        let nsapi: Api<Namespace> = Api::all(self.client.clone());
        let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        ignore_exists(nsapi.create(&PostParams::default(), &n).await)
            .with_context(|| format!("failed to create namespace {ns}"))?;
        self.ensure_service_account(ns, "default").await
    }

    /// Creates a service account if missing.
    pub async fn ensure_service_account(&self, ns: &str, name: &str) -> anyhow::Result<()> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        let sa: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        ignore_exists(api.create(&PostParams::default(), &sa).await)
            .with_context(|| format!("failed to create service account {ns}/{name}"))
    }

    /// Adds a simulated node: its Node object and host root.
    pub async fn add_node(&self, spec: SimNode) -> anyhow::Result<NodeHandle> {
        let h = NodeHandle::create(self.client.clone(), self.dir.path(), &self.kubeconfig, spec)
            .await?;
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(h.name().to_string(), h.clone());
        Ok(h)
    }

    /// Labels a Node (merge patch), as an admin or the operator's node labelling would.
    pub async fn label_node(&self, node: &str, key: &str, value: &str) -> anyhow::Result<()> {
        Api::<Node>::all(self.client.clone())
            .patch(
                node,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .with_context(|| format!("failed to label node {node}"))?;
        Ok(())
    }

    /// A simulated node by name.
    pub fn node(&self, name: &str) -> Option<NodeHandle> {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The kubelet stand-in for all simulated nodes.
    pub fn kubelet(&self) -> Kubelet {
        Kubelet {
            client: self.client.clone(),
            nodes: self.nodes.clone(),
        }
    }

    /// Spawns `kairos-operator args..` as installed: with the install tree's permissions applied
    /// for its namespace (`--namespace`, else `POD_NAMESPACE` in `env`, else `kairos-system`) and
    /// `KUBECONFIG` authenticating as that namespace's `kairos-operator` service account, never as
    /// admin. Returns its index for [`Cluster::operator_logs`]. The process is killed with the
    /// cluster.
    pub async fn spawn_operator(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<usize> {
        let ns = args
            .windows(2)
            .find(|w| w[0] == "--namespace")
            .map(|w| w[1])
            .or_else(|| {
                env.iter()
                    .find(|(k, _)| *k == "POD_NAMESPACE")
                    .map(|(_, v)| *v)
            })
            .unwrap_or(INSTALL_NAMESPACE);
        let kubeconfig = self.operator_kubeconfig(ns).await?;
        let bin = locate("kairos-operator", "KAIROS_OPERATOR_BIN")?;
        let mut ops = self.operators.lock().unwrap_or_else(|e| e.into_inner());
        let idx = ops.len();
        let mut envs: Vec<(String, OsString)> = vec![
            ("KUBECONFIG".into(), kubeconfig.into_os_string()),
            (
                "RUST_LOG".into(),
                std::env::var_os("RUST_LOG").unwrap_or_else(|| "info".into()),
            ),
        ];
        envs.extend(env.iter().map(|(k, v)| (k.to_string(), OsString::from(v))));
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        ops.push(Proc::spawn(
            &format!("operator-{idx}"),
            &bin,
            &args,
            &envs,
            &self.dir.path().join(format!("operator-{idx}.log")),
        )?);
        Ok(idx)
    }

    /// What operator `idx` printed so far.
    pub fn operator_logs(&self, idx: usize) -> String {
        self.operators
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(idx)
            .map(Proc::logs)
            .unwrap_or_default()
    }

    /// The process id of operator `idx` while it runs (None once it exited or was killed).
    pub fn operator_pid(&self, idx: usize) -> Option<u32> {
        let mut ops = self.operators.lock().unwrap_or_else(|e| e.into_inner());
        let p = ops.get_mut(idx)?;
        if p.try_exit_status().is_some() {
            return None;
        }
        p.id()
    }

    /// Kills operator `idx` (e.g. to test a restart).
    pub async fn kill_operator(&self, idx: usize) {
        let p = {
            let mut ops = self.operators.lock().unwrap_or_else(|e| e.into_inner());
            (idx < ops.len()).then(|| ops.remove(idx))
        };
        if let Some(mut p) = p {
            p.kill().await;
        }
    }
}

/// A kube client from a kubeconfig file. kube 5 retries 429 responses (up to 15 times, with
/// backoff up to 1000 s) by default; tests need to see a PDB-blocked eviction at once, so this
/// client does not retry.
pub async fn client_from(path: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(path)?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    cfg.default_retry = false;
    Ok(Client::try_from(cfg)?)
}

fn ignore_exists<T>(r: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Polls `f` every 50 ms until it returns Some or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a working `kubectl` is on PATH.
pub fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}
