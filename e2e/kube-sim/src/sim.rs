//! The simulator's shared state ([`Sim`]): the object store behind one lock, the token signing
//! key, the request and permission logs, and the faults a test can inject (held LISTs, failing
//! writes, dropped watches). Reads CRD files ([`Sim::install_crd_dir`]); no other I/O.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use rand::RngCore;
use serde_json::{Value, json};

use super::access;
use super::attributes::{self, Attributes};
use super::audit;
use super::authn::{self, UserInfo};
use super::bootstrap;
use super::config::SimConfig;
use super::error::ApiError;
use super::gate;
use super::objects::{self, Managed};
use super::rbac::{self, Decision, Grant, Policy};
use super::store::State;

/// The shared simulator state.
#[derive(Debug)]
pub struct Sim {
    state: Mutex<State>,
    /// The key that signs and checks service-account tokens (random per simulator).
    pub(crate) key: Vec<u8>,
    /// How often watches with bookmarks get one (see [`SimConfig::bookmark_interval`]).
    pub(crate) bookmark_interval: Duration,
    /// Bodies larger than this are refused with 413 (see [`SimConfig::max_body_bytes`]).
    pub(crate) max_body_bytes: usize,
    /// The address it is served on, once bound (discovery names it).
    pub(crate) addr: OnceLock<SocketAddr>,
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
    pub(crate) fn new(cfg: &SimConfig) -> Self {
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
    pub(crate) fn decide(&self, user: &UserInfo, a: &Attributes) -> Decision {
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
    pub(crate) fn authorize(&self, user: &UserInfo, a: &Attributes) -> Result<Grant, ApiError> {
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

    /// How many LISTs of `plural` are held back now (see [`Sim::hold_lists`]).
    pub fn lists_waiting(&self, plural: &str) -> usize {
        self.list_gate.waiting(plural)
    }

    /// The gate behind [`Sim::hold_lists`].
    pub(crate) fn list_gate(&self) -> &gate::ListGate {
        &self.list_gate
    }

    /// The requests served so far, by client, verb and resource.
    pub fn requests(&self) -> &audit::RequestLog {
        &self.requests
    }

    /// Locks the state (a poisoned lock is recovered: the state stays consistent per operation).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Installs a CRD object (as if created through the API).
    pub(crate) fn install_crd(&self, crd: Value) -> anyhow::Result<()> {
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
    pub(crate) fn install_crd_dir(&self, dir: &Path) -> anyhow::Result<()> {
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

    /// The address it is served on (empty before it is bound).
    pub(crate) fn server_address(&self) -> String {
        self.addr.get().map(|a| a.to_string()).unwrap_or_default()
    }
}
