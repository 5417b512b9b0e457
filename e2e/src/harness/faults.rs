//! Faults a test injects into the API server, one API over both backends: restart the API
//! server, end every watch, stop and start etcd (real backend only), and make the operator's
//! Lease writes fail as they do in production when its RBAC for Leases is gone (403). On the
//! simulator a fault is the simulator's own ([`kairos_kube_sim::SimServer::restart`],
//! [`kairos_kube_sim::Sim::drop_watches`]); on a real backend it is done to the processes
//! ([`super::RealApiServer`]) or through the API. Does process and API I/O.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role};
use kube::api::{Api, Patch, PatchParams};

use super::cluster::{Backend, Cluster};

/// The operator's Role, which holds its Lease permissions (`deploy/operator/role.yaml`).
const OPERATOR_ROLE: &str = "kairos-operator";

/// The verbs that write a Lease.
const LEASE_WRITE_VERBS: &[&str] = &["create", "update", "patch"];

/// Whether `rule` lets its holder write Leases.
fn writes_leases(rule: &PolicyRule) -> bool {
    let leases = rule
        .resources
        .iter()
        .flatten()
        .any(|r| r == "leases" || r == "*");
    let writes = rule
        .verbs
        .iter()
        .any(|v| v == "*" || LEASE_WRITE_VERBS.contains(&v.as_str()));
    leases && writes
}

/// `rules` without those that write Leases, and the rules taken out.
pub fn without_lease_writes(rules: Vec<PolicyRule>) -> (Vec<PolicyRule>, Vec<PolicyRule>) {
    rules.into_iter().partition(|r| !writes_leases(r))
}

impl Cluster {
    /// Restarts the API server, down for `downtime`, over the same state and on the same
    /// address: the simulator keeps its objects and history; a real kube-apiserver is killed
    /// and started again over the same etcd. Every watch ends.
    ///
    /// # Errors
    /// When the server does not come back.
    pub async fn restart_api_server(&self, downtime: Duration) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sim(s) => s.restart(downtime).await,
            Backend::Real(r) => r.restart_apiserver(downtime).await,
        }
    }

    /// Ends every open watch, so that clients resuming from their last `resourceVersion` get
    /// 410 Gone and list again. The simulator ends them and forgets its history; a real
    /// kube-apiserver has no such control, so it is restarted (at once) over the same etcd,
    /// whose new watch cache starts at the current revision.
    ///
    /// # Errors
    /// When a restarted kube-apiserver does not come back.
    pub async fn drop_watches(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sim(s) => {
                s.sim().drop_watches(true);
                Ok(())
            }
            Backend::Real(r) => r.restart_apiserver(Duration::ZERO).await,
        }
    }

    /// Stops etcd under a running kube-apiserver (real backend only: the simulator has none).
    ///
    /// # Errors
    /// On the simulator.
    pub async fn stop_etcd(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sim(_) => anyhow::bail!("the simulator has no etcd to stop"),
            Backend::Real(r) => {
                r.stop_etcd().await;
                Ok(())
            }
        }
    }

    /// Starts etcd again after [`Cluster::stop_etcd`] and waits until the API server is ready.
    ///
    /// # Errors
    /// On the simulator, or when the API server does not become ready again.
    pub async fn start_etcd(&self) -> anyhow::Result<()> {
        match &self.backend {
            Backend::Sim(_) => anyhow::bail!("the simulator has no etcd to start"),
            Backend::Real(r) => r.start_etcd().await,
        }
    }

    /// Takes the Lease write permissions (create, update, patch) out of the operator's Role in
    /// `ns`, as an administrator's mistake would: from then on the operator's Lease writes get
    /// 403 Forbidden (its reads still work). Returns the rules taken out, for
    /// [`Cluster::restore_lease_writes`]. The same on both backends: both evaluate RBAC.
    ///
    /// # Errors
    /// When the Role cannot be read or written, or grants no Lease write.
    pub async fn fail_lease_writes(&self, ns: &str) -> anyhow::Result<Vec<PolicyRule>> {
        let api: Api<Role> = Api::namespaced(self.client(), ns);
        let role = api
            .get(OPERATOR_ROLE)
            .await
            .with_context(|| format!("failed to read the Role {ns}/{OPERATOR_ROLE}"))?;
        let (kept, taken) = without_lease_writes(role.rules.unwrap_or_default());
        anyhow::ensure!(
            !taken.is_empty(),
            "the Role {ns}/{OPERATOR_ROLE} grants no Lease write"
        );
        self.set_role_rules(ns, kept).await?;
        Ok(taken)
    }

    /// Gives the operator's Role in `ns` back the rules [`Cluster::fail_lease_writes`] took.
    ///
    /// # Errors
    /// When the Role cannot be read or written.
    pub async fn restore_lease_writes(
        &self,
        ns: &str,
        taken: Vec<PolicyRule>,
    ) -> anyhow::Result<()> {
        let api: Api<Role> = Api::namespaced(self.client(), ns);
        let role = api
            .get(OPERATOR_ROLE)
            .await
            .with_context(|| format!("failed to read the Role {ns}/{OPERATOR_ROLE}"))?;
        let mut rules = role.rules.unwrap_or_default();
        rules.extend(taken);
        self.set_role_rules(ns, rules).await
    }

    async fn set_role_rules(&self, ns: &str, rules: Vec<PolicyRule>) -> anyhow::Result<()> {
        let api: Api<Role> = Api::namespaced(self.client(), ns);
        api.patch(
            OPERATOR_ROLE,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"rules": rules})),
        )
        .await
        .with_context(|| format!("failed to write the Role {ns}/{OPERATOR_ROLE}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
