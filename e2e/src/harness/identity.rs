//! Agent identities: a pod of the agent's service account bound to a simulated node (what the
//! DaemonSet would run there) and a bound service-account token written to a file, as the
//! kubelet's projected token volume would. Does API and file I/O.

use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::Cluster;
use super::node::NodeHandle;

/// What [`Cluster::agent_identity`] created.
#[derive(Debug, Clone)]
pub struct AgentIdentity {
    /// The agent pod's name (in the operator's namespace).
    pub pod: String,
    /// The token file.
    pub token_file: PathBuf,
}

impl Cluster {
    /// Creates (or reuses) the agent pod `kairos-node-agent-<node>` of service account
    /// `kairos-node-agent` in `ns`, bound to `node` and Running, and writes a token for
    /// `audience` (600 s) bound to that pod into `<node dir>/token`.
    pub async fn agent_identity(
        &self,
        node: &NodeHandle,
        ns: &str,
        audience: &str,
    ) -> anyhow::Result<AgentIdentity> {
        let sa_name = kairos_api::names::AGENT_SERVICE_ACCOUNT;
        self.ensure_namespace(ns).await?;
        self.ensure_service_account(ns, sa_name).await?;
        let pods: Api<Pod> = Api::namespaced(self.client(), ns);
        let name = format!("{sa_name}-{}", node.name());
        let pod = match pods.get_opt(&name).await? {
            Some(p) => p,
            None => {
                let p: Pod = serde_json::from_value(json!({
                    "metadata": {"name": name, "labels": {"app.kubernetes.io/name": sa_name}},
                    "spec": {"nodeName": node.name(), "serviceAccountName": sa_name, "automountServiceAccountToken": false,
                        "containers": [{"name": "agent", "image": "kairos-node-agent:e2e"}]},
                }))?;
                let p = pods
                    .create(&PostParams::default(), &p)
                    .await
                    .context("failed to create agent pod")?;
                self.kubelet().run_pod(ns, &name).await?;
                p
            }
        };
        let sas: Api<ServiceAccount> = Api::namespaced(self.client(), ns);
        let req: TokenRequest = serde_json::from_value(json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": 600,
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name, "uid": pod.uid()}},
        }))?;
        let tr: TokenRequest = sas
            .create_subresource("token", sa_name, &PostParams::default(), &req)
            .await
            .context("failed to request agent token")?;
        let token = tr
            .status
            .map(|s| s.token)
            .context("token request returned no token")?;
        let token_file = node.dir().join("token");
        std::fs::write(&token_file, token).context("failed to write agent token")?;
        Ok(AgentIdentity {
            pod: name,
            token_file,
        })
    }
}
