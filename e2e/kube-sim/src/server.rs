//! The simulator served over HTTPS on a loopback port ([`SimServer`]), on a thread and tokio
//! runtime of its own, and the admin kubeconfig that points at it. Does network and file I/O.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;

use super::authn;
use super::config::SimConfig;
use super::http;
use super::sim::Sim;
use super::tls;

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

    /// Starts a simulator on a free loopback port (see [`SimServer::start`]), for a test that
    /// then talks to it through [`SimServer::client`].
    pub async fn start_local(cfg: SimConfig) -> anyhow::Result<Self> {
        Self::start(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// A client of this simulator as its admin ([`SimServer::kubeconfig_yaml`]), without the
    /// client's own retries, so that a test sees every answer the simulator gives.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml())
            .context("failed to parse the simulator's kubeconfig")?;
        let mut cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .context("failed to configure a client of the simulator")?;
        cfg.default_retry = false;
        kube::Client::try_from(cfg).context("failed to build a client of the simulator")
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
    /// serving certificate, the static admin token `kube-sim-admin` of user `kube-sim-admin` in
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
