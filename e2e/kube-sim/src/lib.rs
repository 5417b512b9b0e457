//! An in-process Kubernetes API simulator: enough of the HTTP API for kube-rs and kubectl (see
//! `e2e/README.md` for what it checks and what it does not). Every request is authenticated
//! ([`authn`]: the admin token of the kubeconfigs it writes, service-account tokens it issued, or
//! anonymous) and authorized by RBAC ([`rbac`]), and every decision is recorded
//! ([`Sim::permissions`]). [`SimServer::start`] binds a
//! loopback port and serves until dropped; [`SimServer::restart`] takes it down and brings it
//! back with the same state. Does network and file I/O (CRD files, kubeconfig).

pub mod access;
pub mod apply;
pub mod attributes;
pub mod audit;
pub mod authn;
pub mod bootstrap;
pub mod discovery;
pub mod dryrun;
pub mod error;
pub mod eviction;
pub mod gate;
pub mod handlers;
pub mod http;
pub mod lifecycle;
pub mod lists;
pub mod meta;
pub mod negotiate;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod reviews;
pub mod schema;
pub mod selectors;
pub mod store;
pub mod table;
pub mod tls;
pub mod tokens;
pub mod watch;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use rand::RngCore;
use serde_json::{Value, json};

use attributes::Attributes;
use authn::UserInfo;
use error::ApiError;
use objects::Managed;
use rbac::{Decision, Grant, Policy};
use store::State;

/// Settings of a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches from a past `resourceVersion` (older: 410 Gone).
    pub history: usize,
    /// Directory of CRD YAML files installed at start (`deploy/crds`).
    pub crd_dir: Option<PathBuf>,
    /// The largest object a write may store, in bytes of its JSON (managedFields included):
    /// etcd's `--max-request-bytes`, 1.5 MiB by default. A larger one is refused as a real
    /// server refuses it (500, `etcdserver: request is too large`) and nothing is stored.
    pub max_request_bytes: usize,
    /// The largest request body a write may send: the API server's `MaxRequestBodyBytes`, 3 MiB.
    /// A larger body is refused with 413 `RequestEntityTooLarge`.
    pub max_body_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
            history: 10_000,
            crd_dir: Some(default_crd_dir()),
            max_request_bytes: store::ETCD_MAX_REQUEST_BYTES,
            max_body_bytes: MAX_REQUEST_BODY_BYTES,
        }
    }
}

/// The API server's `MaxRequestBodyBytes` (3 MiB, twice etcd's default request limit).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// `deploy/crds` of this repository.
pub fn default_crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

/// The shared simulator state.
#[derive(Debug)]
pub struct Sim {
    state: Mutex<State>,
    key: Vec<u8>,
    bookmark_interval: Duration,
    /// Bodies larger than this are refused with 413 (see [`SimConfig::max_body_bytes`]).
    max_body_bytes: usize,
    addr: OnceLock<SocketAddr>,
    /// Bumped to end every open watch (see [`Sim::drop_watches`]).
    watch_epoch: tokio::sync::watch::Sender<u64>,
    /// Requests served, by client, verb and resource.
    requests: audit::RequestLog,
    /// Authorization decisions, by user.
    permissions: access::PermissionLog,
    /// LISTs held back (see [`Sim::hold_lists`]).
    list_gate: gate::ListGate,
    /// Resources whose writes fail (see [`Sim::fail_writes`]).
    failing_writes: Mutex<std::collections::BTreeSet<String>>,
}

impl Sim {
    /// A simulator with built-in namespaces and service accounts, before any CRD.
    pub fn new(cfg: &SimConfig) -> Self {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let mut state = State::new(1000, cfg.history.max(1));
        state.max_stored_bytes = cfg.max_request_bytes;
        let sim = Self {
            state: Mutex::new(state),
            key,
            bookmark_interval: cfg.bookmark_interval,
            max_body_bytes: cfg.max_body_bytes,
            addr: OnceLock::new(),
            watch_epoch: tokio::sync::watch::Sender::new(0),
            requests: audit::RequestLog::default(),
            permissions: access::PermissionLog::default(),
            list_gate: gate::ListGate::default(),
            failing_writes: Mutex::default(),
        };
        {
            let mut st = sim.lock();
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let nsrt = st.registry.find("", "v1", "namespaces").cloned();
                let sart = st.registry.find("", "v1", "serviceaccounts").cloned();
                if let (Some(nsrt), Some(sart)) = (nsrt, sart) {
                    let _ = objects::create(
                        &mut st,
                        &nsrt,
                        "",
                        json!({"metadata": {"name": ns}}),
                        Managed::Update("kube-apiserver"),
                    );
                    let _ = objects::create(
                        &mut st,
                        &sart,
                        ns,
                        json!({"metadata": {"name": "default"}}),
                        Managed::Update("kube-controller-manager"),
                    );
                }
            }
            let rbac_objects = [
                ("clusterroles", bootstrap::cluster_roles()),
                ("clusterrolebindings", bootstrap::cluster_role_bindings()),
            ];
            for (plural, objects) in rbac_objects {
                if let Some(rt) = st.registry.find(rbac::GROUP, "v1", plural).cloned() {
                    for o in objects {
                        let _ =
                            objects::create(&mut st, &rt, "", o, Managed::Update("kube-apiserver"));
                    }
                }
            }
        }
        sim
    }

    /// Decides whether `user` may do `a` with the RBAC objects stored now (so a Role or binding
    /// written by one request applies to the next), and records the decision in
    /// [`Sim::permissions`]. `system:masters` is allowed without looking at the state.
    pub fn decide(&self, user: &UserInfo, a: &Attributes) -> Decision {
        let decision = if user.in_group(authn::MASTERS) {
            Decision::Allow(Grant::PrivilegedGroup)
        } else {
            rbac::authorize(user, a, &Policy::from_state(&self.lock()))
        };
        self.permissions.record(&user.name, a, &decision);
        decision
    }

    /// Like [`Sim::decide`] with the state already locked (`st`).
    pub(crate) fn decide_in(&self, st: &State, user: &UserInfo, a: &Attributes) -> Decision {
        let decision = rbac::authorize(user, a, &Policy::from_state(st));
        self.permissions.record(&user.name, a, &decision);
        decision
    }

    /// [`Sim::decide`] as a result.
    ///
    /// # Errors
    /// The real server's 403 Forbidden when denied.
    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Result<Grant, ApiError> {
        match self.decide(user, a) {
            Decision::Allow(grant) => Ok(grant),
            Decision::Deny { reason } => Err(attributes::forbidden(&user.name, a, &reason)),
        }
    }

    /// Every authorization decision so far, by username: what was asked, whether it was
    /// allowed and by which rule (see [`access::PermissionLog`]). Access reviews are not
    /// counted.
    pub fn permissions(&self) -> &access::PermissionLog {
        &self.permissions
    }

    /// Every request denied so far (403), of every user.
    pub fn forbidden(&self) -> Vec<access::Denial> {
        self.permissions.denied()
    }

    /// Ends every open watch, as an API server restart does; with `compact`, also forgets the
    /// change history, so that clients resuming from their last `resourceVersion` get 410 Gone
    /// and must list again (as after a restart with a compacted etcd).
    pub fn drop_watches(&self, compact: bool) {
        if compact {
            self.lock().compact();
        }
        self.watch_epoch.send_modify(|epoch| *epoch += 1);
    }

    /// A receiver that changes when [`Sim::drop_watches`] is called.
    pub(crate) fn watch_epoch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    /// Holds back every LIST of `plural` (e.g. `kairosnodes`) from now on until
    /// [`Sim::release_lists`]: such requests get no answer meanwhile, as from an overloaded API
    /// server, so a client's initial sync cannot finish. Watches (also streaming lists) and every
    /// other verb are served as usual. A held request is counted in [`Sim::requests`] once it
    /// proceeds.
    pub fn hold_lists(&self, plural: &str) {
        self.list_gate.hold(plural);
    }

    /// Releases every resource held by [`Sim::hold_lists`]: the waiting LISTs are answered (with
    /// the state at that moment).
    pub fn release_lists(&self) {
        self.list_gate.release_all();
    }

    /// Makes every write (create, update, patch, delete) of `plural` (e.g. `leases`) fail with
    /// 503 Service Unavailable until [`Sim::restore_writes`], as when the API server or etcd is
    /// in trouble for some requests only. Reads and watches are served as usual.
    pub fn fail_writes(&self, plural: &str) {
        self.failing_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(plural.to_owned());
    }

    /// Ends [`Sim::fail_writes`] for every resource.
    pub fn restore_writes(&self) {
        self.failing_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Whether writes of `plural` fail now (see [`Sim::fail_writes`]).
    pub(crate) fn writes_fail(&self, plural: &str) -> bool {
        self.failing_writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(plural)
    }

    /// The gate behind [`Sim::hold_lists`] (to release one resource, or count waiting LISTs).
    pub fn list_gate(&self) -> &gate::ListGate {
        &self.list_gate
    }

    /// The requests served so far, by client, verb and resource.
    pub fn requests(&self) -> &audit::RequestLog {
        &self.requests
    }

    /// Locks the state (a poisoned lock is recovered: the state stays consistent per operation).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs a CRD object (as if created through the API).
    pub fn install_crd(&self, crd: Value) -> anyhow::Result<()> {
        let mut st = self.lock();
        let rt = st
            .registry
            .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned()
            .context("CRD type missing")?;
        objects::create(&mut st, &rt, "", crd, Managed::Update("kube-sim"))
            .map_err(|e| anyhow::anyhow!("failed to install CRD: {}", e.message))?;
        Ok(())
    }

    /// Installs every CRD document of the `*.yaml` files in `dir`.
    pub fn install_crd_dir(&self, dir: &Path) -> anyhow::Result<()> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("failed to read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f)
                .with_context(|| format!("failed to read {}", f.display()))?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .with_context(|| format!("failed to parse {}", f.display()))?;
                if v["kind"] == "CustomResourceDefinition" {
                    self.install_crd(v)?;
                }
            }
        }
        Ok(())
    }

    fn server_address(&self) -> String {
        self.addr.get().map(|a| a.to_string()).unwrap_or_default()
    }
}

/// A running simulator; stops serving when dropped. [`SimServer::restart`] stops and starts
/// serving the same state on the same address.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    sim: Arc<Sim>,
    tls: tls::ServingTls,
    serving: Mutex<Option<Serving>>,
}

/// The thread and runtime serving the simulator.
#[derive(Debug)]
struct Serving {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Serving {
    /// Serves `sim` on `listener` on a new thread with its own tokio runtime. When stopped, the
    /// listener closes and the runtime shuts down, which drops every open connection and watch.
    fn start(
        sim: Arc<Sim>,
        listener: std::net::TcpListener,
        tls: tls::ServingTls,
    ) -> anyhow::Result<Self> {
        listener.set_nonblocking(true)?;
        let app = axum::Router::new().fallback(http::handle).with_state(sim);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kube-sim")
            .enable_all()
            .build()
            .context("failed to build the simulator runtime")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let serve = async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        axum::serve(tls.listen(listener), app).await
                    };
                    tokio::select! {
                        r = serve => if let Err(e) = r {
                            tracing::error!(error = %e, "kube-sim server stopped");
                        },
                        _ = stopped => {}
                    }
                });
                // The listener is closed (dropped with `serve`); open watches and connections
                // end with the runtime's tasks.
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .context("failed to start the simulator thread")?;
        Ok(Self { stop, thread })
    }
}

/// Binds `addr`, retrying for up to 5 s while it is in use (std sets `SO_REUSEADDR` on Unix, so
/// the closed connections of a previous listener do not block it; another process might).
async fn bind_again(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("failed to bind {addr} again")),
        }
    }
}

impl SimServer {
    /// Starts a simulator on `addr` (port 0 picks a free port), installs the CRDs of
    /// `cfg.crd_dir`, and forgets the bootstrap history (watches from before it get 410).
    ///
    /// The server runs on its own thread and tokio runtime, so a test that blocks its own
    /// runtime (a `std::process::Command`, a `std::thread::sleep`) cannot starve it.
    pub async fn start(cfg: SimConfig, addr: SocketAddr) -> anyhow::Result<Self> {
        let sim = Arc::new(Sim::new(&cfg));
        if let Some(dir) = &cfg.crd_dir {
            sim.install_crd_dir(dir)?;
        }
        sim.lock().compact();
        let listener =
            std::net::TcpListener::bind(addr).with_context(|| format!("failed to bind {addr}"))?;
        let addr = listener.local_addr()?;
        let _ = sim.addr.set(addr);
        let tls = tls::ServingTls::generate()?;
        let serving = Serving::start(sim.clone(), listener, tls.clone())?;
        Ok(Self {
            addr,
            sim,
            tls,
            serving: Mutex::new(Some(serving)),
        })
    }

    /// Restarts the server as if its process died and came back: stops serving (the listener
    /// closes, every open connection and watch is cut, requests in flight get no answer),
    /// refuses connections for `downtime`, then serves the same state again on the same
    /// address. The state survives as it would in etcd: every object, the resourceVersion
    /// counter and the change history (watches may resume from their last version; call
    /// [`Sim::drop_watches`] with `compact` first to make them list again).
    ///
    /// # Errors
    /// When the address cannot be bound again within 5 s after `downtime`, or the new server
    /// thread cannot start; the simulator then stays down.
    pub async fn restart(&self, downtime: Duration) -> anyhow::Result<()> {
        let old = self
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(old) = old {
            // The server thread may already be gone: nothing to stop then.
            let _ = old.stop.send(());
            tokio::task::spawn_blocking(move || old.thread.join())
                .await
                .context("failed to wait for the simulator thread")?
                .map_err(|_| anyhow::anyhow!("the simulator thread panicked"))?;
        }
        tracing::info!(addr = %self.addr, ?downtime, "kube-sim down");
        tokio::time::sleep(downtime).await;
        let listener = bind_again(self.addr).await?;
        let serving = Serving::start(self.sim.clone(), listener, self.tls.clone())?;
        *self.serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(serving);
        tracing::info!(addr = %self.addr, "kube-sim up again");
        Ok(())
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>` (the certificate is signed by [`SimServer::ca_pem`]).
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The PEM of the CA that signed the simulator's serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.tls.ca_pem
    }

    /// The simulator state (for white-box tests).
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }

    /// A kubeconfig pointing at this simulator as its admin (context `kube-sim`, the CA of its
    /// serving certificate, the static token [`authn::ADMIN_TOKEN`] of user `kube-sim-admin` in
    /// `system:masters`).
    pub fn kubeconfig_yaml(&self) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.tls.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {}\n\
             \x20   certificate-authority-data: {ca}\nusers:\n- name: kube-sim-admin\n  user:\n    token: {}\ncontexts:\n- name: kube-sim\n  context:\n    \
             cluster: kube-sim\n    user: kube-sim-admin\n    namespace: default\ncurrent-context: kube-sim\n",
            self.url(),
            authn::ADMIN_TOKEN,
        )
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
            .with_context(|| format!("failed to write {}", path.display()))
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let serving = self
            .serving
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(serving) = serving {
            // The server thread may already be gone: nothing to stop then. It is not joined:
            // dropping must not block the caller's runtime.
            let _ = serving.stop.send(());
        }
    }
}
