//! The real backend: etcd and kube-apiserver (and kube-controller-manager for garbage collection
//! when its binary is given) on free loopback ports, with generated certificates, a
//! service-account signing key and RBAC. Binaries come from `KUBEBUILDER_ASSETS` or
//! `KUBE_APISERVER_BIN` + `ETCD_BIN` (+ `KUBE_CONTROLLER_MANAGER_BIN`); nothing is downloaded.
//! kube-apiserver can be restarted, and etcd stopped and started, over the same data and ports
//! (the faults of `super::faults`). Does process, file and network I/O.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use kube::Client;

use super::certs;
use super::process::{Proc, free_port};

/// Where the real control-plane binaries are.
#[derive(Debug, Clone)]
pub struct RealBinaries {
    /// kube-apiserver.
    pub apiserver: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
    /// kube-controller-manager, if available (enables garbage collection).
    pub controller_manager: Option<PathBuf>,
}

impl RealBinaries {
    /// From the environment, or None when the real backend is not configured.
    pub fn from_env() -> Option<Self> {
        let cm_env = std::env::var_os("KUBE_CONTROLLER_MANAGER_BIN").map(PathBuf::from);
        if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from) {
            let cm =
                cm_env.or_else(|| Some(dir.join("kube-controller-manager")).filter(|p| p.exists()));
            return Some(Self {
                apiserver: dir.join("kube-apiserver"),
                etcd: dir.join("etcd"),
                controller_manager: cm,
            });
        }
        match (
            std::env::var_os("KUBE_APISERVER_BIN"),
            std::env::var_os("ETCD_BIN"),
        ) {
            (Some(a), Some(e)) => Some(Self {
                apiserver: a.into(),
                etcd: e.into(),
                controller_manager: cm_env,
            }),
            _ => None,
        }
    }
}

/// How to start one process again: its name, binary, arguments and log file.
#[derive(Debug, Clone)]
struct Command {
    name: &'static str,
    bin: PathBuf,
    args: Vec<OsString>,
    log: PathBuf,
}

impl Command {
    fn spawn(&self) -> anyhow::Result<Proc> {
        Proc::spawn(self.name, &self.bin, &self.args, &[], &self.log)
    }
}

/// A running etcd + kube-apiserver (+ controller manager); killed on drop. Either can be
/// stopped and started again over the same data directory and ports
/// ([`RealApiServer::restart_apiserver`], [`RealApiServer::stop_etcd`]).
#[derive(Debug)]
pub struct RealApiServer {
    etcd_cmd: Command,
    etcd: tokio::sync::Mutex<Option<Proc>>,
    apiserver_cmd: Command,
    apiserver: tokio::sync::Mutex<Proc>,
    controller_manager: Option<Proc>,
    /// Kubeconfig (admin client certificate).
    pub kubeconfig_yaml: String,
}

/// A kubeconfig for `https://127.0.0.1:<port>` with the admin client certificate of `pki`.
pub fn admin_kubeconfig(pki: &certs::Pki, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
         certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    \
         client-key-data: {key}\ncontexts:\n- name: e2e\n  context:\n    cluster: e2e\n    user: admin\n    namespace: default\n\
         current-context: e2e\n",
        ca = B64.encode(&pki.ca_pem),
        cert = B64.encode(&pki.admin_cert_pem),
        key = B64.encode(&pki.admin_key_pem),
    )
}

fn os(args: &[String]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

impl RealApiServer {
    /// Whether garbage collection runs (a controller manager was started).
    pub fn has_gc(&self) -> bool {
        self.controller_manager.is_some()
    }

    /// Starts everything in `dir` and waits until the API answers.
    pub async fn start(bins: &RealBinaries, dir: &Path) -> anyhow::Result<Self> {
        for b in [&bins.apiserver, &bins.etcd] {
            anyhow::ensure!(
                b.exists(),
                "real backend binary {} does not exist",
                b.display()
            );
        }
        let pki_dir = dir.join("pki");
        std::fs::create_dir_all(&pki_dir)?;
        let pki = certs::generate(&pki_dir)?;
        let (client_port, peer_port, secure_port) = (free_port()?, free_port()?, free_port()?);
        let etcd_args = vec![
            "--name=default".to_string(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{client_port}"),
            format!("--advertise-client-urls=http://127.0.0.1:{client_port}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
            format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
        ];
        let etcd_cmd = Command {
            name: "etcd",
            bin: bins.etcd.clone(),
            args: os(&etcd_args),
            log: dir.join("etcd.log"),
        };
        let etcd = etcd_cmd.spawn()?;
        let issuer = "https://kubernetes.default.svc.cluster.local";
        let api_args = vec![
            format!("--etcd-servers=http://127.0.0.1:{client_port}"),
            format!("--secure-port={secure_port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--cert-dir={}", dir.join("apiserver-certs").display()),
            format!("--tls-cert-file={}", pki.serving_cert.display()),
            format!("--tls-private-key-file={}", pki.serving_key.display()),
            format!("--client-ca-file={}", pki.ca_cert.display()),
            format!("--service-account-issuer={issuer}"),
            format!("--api-audiences={issuer}"),
            format!("--service-account-key-file={}", pki.sa_pub.display()),
            format!(
                "--service-account-signing-key-file={}",
                pki.sa_key.display()
            ),
            "--authorization-mode=RBAC".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
        ];
        let apiserver_cmd = Command {
            name: "kube-apiserver",
            bin: bins.apiserver.clone(),
            args: os(&api_args),
            log: dir.join("kube-apiserver.log"),
        };
        let apiserver = apiserver_cmd.spawn()?;
        let kubeconfig_yaml = admin_kubeconfig(&pki, secure_port);
        let kc_path = dir.join("admin.kubeconfig");
        std::fs::write(&kc_path, &kubeconfig_yaml)?;
        let mut me = Self {
            etcd_cmd,
            etcd: tokio::sync::Mutex::new(Some(etcd)),
            apiserver_cmd,
            apiserver: tokio::sync::Mutex::new(apiserver),
            controller_manager: None,
            kubeconfig_yaml,
        };
        me.wait_ready().await?;
        if let Some(cm) = &bins.controller_manager {
            let cm_args = vec![
                format!("--kubeconfig={}", kc_path.display()),
                "--controllers=garbagecollector,namespace,disruption".into(),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={}", free_port()?),
                format!("--cert-dir={}", dir.join("kcm-certs").display()),
            ];
            me.controller_manager = Some(Proc::spawn(
                "kube-controller-manager",
                cm,
                &os(&cm_args),
                &[],
                &dir.join("kube-controller-manager.log"),
            )?);
        }
        Ok(me)
    }

    /// Kills kube-apiserver and, after `downtime`, starts it again with the same flags: the
    /// same port and certificates over the same etcd, so clients reconnect to the same address,
    /// every watch ends, and its watch cache starts again at etcd's current revision (a watch
    /// resuming from before gets 410 Expired once that revision moved on). Waits until ready.
    ///
    /// # Errors
    /// When it does not start or become ready again.
    pub async fn restart_apiserver(&self, downtime: Duration) -> anyhow::Result<()> {
        let mut apiserver = self.apiserver.lock().await;
        apiserver.kill().await;
        tracing::info!(?downtime, "kube-apiserver down");
        tokio::time::sleep(downtime).await;
        *apiserver = self.apiserver_cmd.spawn()?;
        drop(apiserver);
        self.wait_ready().await
    }

    /// Kills etcd: kube-apiserver keeps running and answers requests that need etcd with
    /// errors (or not at all) until [`RealApiServer::start_etcd`].
    pub async fn stop_etcd(&self) {
        if let Some(mut etcd) = self.etcd.lock().await.take() {
            etcd.kill().await;
            tracing::info!("etcd down");
        }
    }

    /// Starts etcd again over the same data directory and ports (nothing happens when it
    /// runs), and waits until kube-apiserver is ready again.
    ///
    /// # Errors
    /// When etcd cannot be spawned or kube-apiserver does not become ready.
    pub async fn start_etcd(&self) -> anyhow::Result<()> {
        {
            let mut etcd = self.etcd.lock().await;
            if etcd.is_none() {
                *etcd = Some(self.etcd_cmd.spawn()?);
                tracing::info!("etcd up again");
            }
        }
        self.wait_ready().await
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml)?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = Client::try_from(cfg)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let req = axum::http::Request::get("/readyz")
                .body(Vec::new())
                .context("failed to build readyz request")?;
            if let Ok(text) = client.request_text(req).await
                && text.trim() == "ok"
            {
                return Ok(());
            }
            {
                let mut apiserver = self.apiserver.lock().await;
                if let Some(st) = apiserver.try_exit_status() {
                    anyhow::bail!("kube-apiserver exited ({st}); log:\n{}", apiserver.logs());
                }
                anyhow::ensure!(
                    tokio::time::Instant::now() < deadline,
                    "kube-apiserver not ready after 90s; log:\n{}",
                    apiserver.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
