//! The report channel end to end: the real `kairos-operator` serving its report channel on
//! loopback, in plain text ([`Cluster::start_report_operator`]) or over TLS as deployed
//! ([`Cluster::start_report_operator_tls`]), real `kairos-node-agent` processes with
//! bound tokens ([`Cluster::start_agent`]), and a small HTTP/1.1 GET for the operator's admin
//! endpoints (`/readyz`, `/metrics`). Does process, network and API I/O.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt as _;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::identity::AgentIdentity;
use super::node::NodeHandle;
use super::process::free_port;
use super::{Cluster, wait_for};

/// How long [`Cluster::start_report_operator`] waits for `/readyz`.
pub const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A running operator started by [`Cluster::start_report_operator`].
#[derive(Debug, Clone)]
pub struct OperatorHandle {
    /// Index for [`Cluster::operator_logs`] and [`Cluster::kill_operator`].
    pub index: usize,
    /// The operator's namespace (agent pods and tokens live there).
    pub namespace: String,
    /// The gRPC report channel.
    pub grpc_addr: SocketAddr,
    /// Whether the report channel serves TLS with the operator's own CA and certificate (else
    /// plain text, `--insecure-grpc`).
    pub tls: bool,
    /// The admin server (`/livez`, `/readyz`, `/metrics`).
    pub admin_addr: SocketAddr,
}

impl OperatorHandle {
    /// The agents' `--operator-endpoint`: `https://127.0.0.1:<port>` (a name of the serving
    /// certificate), or `http://` when the channel is plain text.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc_addr)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let (code, body) = http_get(self.admin_addr, "/metrics").await?;
        anyhow::ensure!(code == 200, "GET /metrics answered {code}: {body}");
        Ok(body)
    }

    /// The value of the sample `series` (name with labels, e.g.
    /// `kairos_reports_total{result="accepted"}`) in `/metrics`; 0 when absent.
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        Ok(metric_value(&self.metrics().await?, series).unwrap_or(0.0))
    }
}

/// The value of `series` in a Prometheus text exposition, if present.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// `GET path` on `addr` over HTTP/1.1 (`Connection: close`); returns the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .with_context(|| format!("GET http://{addr}{path} timed out"))?
        .with_context(|| format!("GET http://{addr}{path} failed"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("GET http://{addr}{path}: no status line in {head:?}"))?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((code, body))
}

/// Decodes a chunked HTTP/1.1 body (lenient: stops at the first malformed chunk).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            out.push_str(rest.get(..n.min(rest.len())).unwrap_or_default());
            break;
        }
        out.push_str(rest.get(..n).unwrap_or_default());
        body = rest.get(n..).unwrap_or_default().trim_start_matches("\r\n");
    }
    out
}

/// `--insecure-grpc` (plain-text report channel) and `extra`.
fn insecure<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--insecure-grpc"];
    args.extend_from_slice(extra);
    args
}

impl Cluster {
    /// Creates `ns` and the agent's service account, spawns `kairos-operator` with
    /// `--insecure-grpc` on free loopback ports (`--namespace ns` plus `extra` flags), and waits
    /// until its `/readyz` answers 200.
    pub async fn start_report_operator(
        &self,
        ns: &str,
        extra: &[&str],
    ) -> anyhow::Result<OperatorHandle> {
        self.start_report_operator_with_env(ns, extra, &[]).await
    }

    /// Like [`Cluster::start_report_operator_with_env`], but the report channel serves TLS, as
    /// deployed, with the CA and serving certificate the operator creates (and shares through a
    /// Secret and a ConfigMap in `ns`; agents get the CA from [`Cluster::report_ca`]).
    pub async fn start_report_operator_tls(
        &self,
        ns: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<OperatorHandle> {
        self.start_ready_operator(ns, extra, env).await
    }

    /// The CA bundle the operator in `ns` publishes for its agents (PEM), as the agents'
    /// ConfigMap volume holds it.
    pub async fn report_ca(&self, ns: &str) -> anyhow::Result<String> {
        use kairos_api::names::{CA_CONFIGMAP, CA_CONFIGMAP_KEY};
        let cm = Api::<ConfigMap>::namespaced(self.client(), ns)
            .get(CA_CONFIGMAP)
            .await
            .with_context(|| format!("failed to read the ConfigMap {ns}/{CA_CONFIGMAP}"))?;
        cm.data
            .and_then(|mut d| d.remove(CA_CONFIGMAP_KEY))
            .with_context(|| format!("{ns}/{CA_CONFIGMAP} has no {CA_CONFIGMAP_KEY}"))
    }

    /// A file with the CA bundle of `op`'s report channel, for the agents' `--ca-file` (read
    /// afresh; nothing is written for a plain-text channel, whose agents never read it).
    pub async fn report_ca_file(&self, op: &OperatorHandle) -> anyhow::Result<PathBuf> {
        let path = self.dir().join(format!("report-ca-{}.crt", op.index));
        if op.tls {
            let ca = self.report_ca(&op.namespace).await?;
            std::fs::write(&path, ca)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        Ok(path)
    }

    /// Like [`Cluster::start_report_operator`], with `env` besides (`POD_NAME`, say, to keep a
    /// leader-election identity across [`Cluster::restart_report_operator`]).
    pub async fn start_report_operator_with_env(
        &self,
        ns: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<OperatorHandle> {
        self.start_ready_operator(ns, &insecure(extra), env).await
    }

    /// Kills the operator of `op` and starts it again on the same ports, with `--insecure-grpc`
    /// and `extra` flags and `env` (the container restarting in its pod: agents keep their
    /// endpoint), then waits until it is ready.
    pub async fn restart_report_operator(
        &self,
        op: &OperatorHandle,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<OperatorHandle> {
        self.kill_operator(op.index).await;
        let args = insecure(extra);
        self.spawn_ready_operator(&op.namespace, (op.grpc_addr, op.admin_addr), &args, env)
            .await
    }

    async fn start_ready_operator(
        &self,
        ns: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<OperatorHandle> {
        self.ensure_namespace(ns).await?;
        self.ensure_service_account(ns, kairos_api::names::AGENT_SERVICE_ACCOUNT)
            .await?;
        let grpc_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let admin_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        self.spawn_ready_operator(ns, (grpc_addr, admin_addr), extra, env)
            .await
    }

    async fn spawn_ready_operator(
        &self,
        ns: &str,
        (grpc_addr, admin_addr): (SocketAddr, SocketAddr),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<OperatorHandle> {
        let (grpc, admin) = (grpc_addr.to_string(), admin_addr.to_string());
        let mut args = vec![
            "--grpc-addr",
            &grpc,
            "--admin-addr",
            &admin,
            "--namespace",
            ns,
        ];
        args.extend_from_slice(extra);
        let index = self.spawn_operator(&args, env).await?;
        let last = std::sync::Mutex::new(String::new());
        let ready = wait_for(OPERATOR_READY_TIMEOUT, || async {
            match http_get(admin_addr, "/readyz").await {
                Ok((200, _)) => Some(()),
                other => {
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = format!("{other:?}");
                    None
                }
            }
        })
        .await;
        if let Err(e) = ready {
            let last = last.lock().unwrap_or_else(|e| e.into_inner()).clone();
            anyhow::bail!(
                "the operator did not become ready: {e} (last answer: {last})\n--- operator log ---\n{}",
                self.operator_logs(index)
            );
        }
        Ok(OperatorHandle {
            index,
            namespace: ns.to_string(),
            grpc_addr,
            admin_addr,
            tls: !extra.contains(&"--insecure-grpc"),
        })
    }

    /// Makes agent pod `pod` in `ns` a pod of the DaemonSet `kairos-node-agent` (created if
    /// missing), as the deployed agent's pods are, so drains with `ignoreDaemonSets` skip it.
    pub async fn own_by_agent_daemonset(&self, ns: &str, pod: &str) -> anyhow::Result<()> {
        let name = kairos_api::names::AGENT_SERVICE_ACCOUNT;
        let api: Api<DaemonSet> = Api::namespaced(self.client(), ns);
        let ds = match api.get_opt(name).await? {
            Some(ds) => ds,
            None => {
                let ds: DaemonSet = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                        "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                            "spec": {"containers": [{"name": "agent", "image": "kairos-node-agent:e2e"}]}}},
                }))?;
                match api.create(&PostParams::default(), &ds).await {
                    Ok(ds) => ds,
                    Err(kube::Error::Api(e)) if e.code == 409 => api.get(name).await?,
                    Err(e) => return Err(e).context("failed to create the agent DaemonSet"),
                }
            }
        };
        let owner = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name,
            "uid": ds.uid(), "controller": true, "blockOwnerDeletion": true}]);
        Api::<Pod>::namespaced(self.client(), ns)
            .patch(
                pod,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"ownerReferences": owner}})),
            )
            .await
            .with_context(|| format!("failed to make {ns}/{pod} a DaemonSet pod"))?;
        Ok(())
    }

    /// Gives `node` an agent identity in the operator's namespace (audience `kairos-operator`,
    /// the pod owned by the agent DaemonSet) and starts its `kairos-node-agent` against `op` with `extra` flags, by default
    /// `--poll-interval 500ms --heartbeat 5s` (each unless `extra` gives it).
    pub async fn start_agent(
        &self,
        node: &NodeHandle,
        op: &OperatorHandle,
        extra: &[&str],
    ) -> anyhow::Result<AgentIdentity> {
        let id = self
            .agent_identity(node, &op.namespace, kairos_api::names::AGENT_TOKEN_AUDIENCE)
            .await?;
        self.own_by_agent_daemonset(&op.namespace, &id.pod).await?;
        let endpoint = op.endpoint();
        let token = id.token_file.to_string_lossy().into_owned();
        let ca_file = self.report_ca_file(op).await?;
        let ca_file = ca_file.to_string_lossy().into_owned();
        let host_root = node.host_root().to_string_lossy().into_owned();
        let mut args = vec![
            "--node-name",
            node.name(),
            "--host-root",
            &host_root,
            "--operator-endpoint",
            &endpoint,
            "--token-file",
            &token,
            "--ca-file",
            &ca_file,
        ];
        for (flag, default) in [("--poll-interval", "500ms"), ("--heartbeat", "5s")] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend_from_slice(extra);
        node.spawn_agent(&args).await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_value_finds_labelled_series() {
        let text = "# HELP kairos_reports_total x\n# TYPE kairos_reports_total counter\n\
                    kairos_reports_total{result=\"accepted\"} 12\n\
                    kairos_reports_total{result=\"rejected_wrong_node\"} 1\n";
        assert_eq!(
            metric_value(text, "kairos_reports_total{result=\"accepted\"}"),
            Some(12.0)
        );
        assert_eq!(
            metric_value(text, "kairos_reports_total{result=\"rejected_wrong_node\"}"),
            Some(1.0)
        );
        assert_eq!(
            metric_value(text, "kairos_reports_total{result=\"error\"}"),
            None
        );
    }

    #[test]
    fn dechunk_joins_chunks() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
