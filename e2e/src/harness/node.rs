//! Simulated nodes: the Node object (labels, taints, Ready condition, nodeInfo) and a host-root
//! directory with the release files, boot_id, kernel command line, boot-mode marker and
//! cloud-config; rebooting rewrites them and restarts the node's agent. Does file, process and
//! API I/O.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::fixtures::{BootMode, ReleaseFixture, cmdline, sentinels};
use super::process::{Proc, locate};

/// What to create: a node's name, role, release files and boot mode.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Node name (also the hostname).
    pub name: String,
    /// Control-plane node (label `node-role.kubernetes.io/control-plane` and a NoSchedule taint).
    pub control_plane: bool,
    /// Release files.
    pub release: ReleaseFixture,
    /// How it booted.
    pub boot_mode: BootMode,
}

impl SimNode {
    /// A worker booted from its active image.
    pub fn worker(name: &str, release: ReleaseFixture) -> Self {
        Self {
            name: name.into(),
            control_plane: false,
            release,
            boot_mode: BootMode::Active,
        }
    }

    /// A control-plane node booted from its active image.
    pub fn control_plane(name: &str, release: ReleaseFixture) -> Self {
        Self {
            name: name.into(),
            control_plane: true,
            release,
            boot_mode: BootMode::Active,
        }
    }
}

/// Changes a reboot applies (what an upgrade leaves behind).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RebootChange {
    /// New release files (e.g. the upgraded version).
    pub release: Option<ReleaseFixture>,
    /// New boot mode (e.g. `Passive` for a rollback).
    pub boot_mode: Option<BootMode>,
}

#[derive(Debug)]
struct NodeState {
    release: ReleaseFixture,
    boot_mode: BootMode,
    boot_id: String,
    agent: Option<Proc>,
    agent_args: Vec<OsString>,
    boots: u32,
    /// What an upgrade wrote for the next boot of the active system, if anything.
    staged: Option<ReleaseFixture>,
}

/// A simulated node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    name: String,
    control_plane: bool,
    root: PathBuf,
    dir: PathBuf,
    kubeconfig: PathBuf,
    client: Client,
    state: Arc<Mutex<NodeState>>,
}

fn write(root: &Path, rel: &str, contents: &str) -> anyhow::Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("failed to create {}", d.display()))?;
    }
    std::fs::write(&p, contents).with_context(|| format!("failed to write {}", p.display()))
}

/// Writes (or rewrites) a node's host root.
fn write_host_root(
    root: &Path,
    name: &str,
    release: &ReleaseFixture,
    mode: BootMode,
    boot_id: &str,
) -> anyhow::Result<()> {
    let kr = root.join("etc/kairos-release");
    match release.kairos_release() {
        Some(c) => write(root, "etc/kairos-release", &c)?,
        None => {
            if kr.exists() {
                std::fs::remove_file(&kr).context("failed to remove kairos-release")?;
            }
        }
    }
    write(root, "usr/lib/os-release", &release.os_release())?;
    let link = root.join("etc/os-release");
    std::fs::create_dir_all(root.join("etc")).context("failed to create etc")?;
    if link.symlink_metadata().is_err() {
        std::os::unix::fs::symlink("../usr/lib/os-release", &link)
            .context("failed to link os-release")?;
    }
    write(root, "etc/hostname", &format!("{name}\n"))?;
    write(
        root,
        "proc/sys/kernel/random/boot_id",
        &format!("{boot_id}\n"),
    )?;
    write(root, "proc/cmdline", &cmdline(release, mode))?;
    let run_cos = root.join("run/cos");
    if run_cos.exists() {
        std::fs::remove_dir_all(&run_cos).context("failed to clear run/cos")?;
    }
    if release.is_kairos() {
        for sentinel in sentinels(release, mode) {
            write(root, &format!("run/cos/{sentinel}"), "")?;
        }
        write(
            root,
            "oem/90_custom.yaml",
            &format!(
                "#cloud-config\nhostname: {name}\nusers:\n  - name: kairos\n    groups: [admin]\n    ssh_authorized_keys: [\"github:kairos-io\"]\n"
            ),
        )?;
        write(
            root,
            "usr/local/cloud-config/10_k8s.yaml",
            "#cloud-config\nk3s:\n  enabled: true\n  args:\n    - --disable=traefik\n",
        )?;
    }
    Ok(())
}

impl NodeHandle {
    /// Creates the host root under `dir` and the Node object.
    pub async fn create(
        client: Client,
        dir: &Path,
        kubeconfig: &Path,
        spec: SimNode,
    ) -> anyhow::Result<Self> {
        let ndir = dir.join("nodes").join(&spec.name);
        let root = ndir.join("host");
        std::fs::create_dir_all(&root)
            .with_context(|| format!("failed to create {}", root.display()))?;
        let boot_id = uuid::Uuid::new_v4().to_string();
        write_host_root(&root, &spec.name, &spec.release, spec.boot_mode, &boot_id)?;
        let h = Self {
            name: spec.name.clone(),
            control_plane: spec.control_plane,
            root,
            dir: ndir,
            kubeconfig: kubeconfig.into(),
            client,
            state: Arc::new(Mutex::new(NodeState {
                release: spec.release,
                boot_mode: spec.boot_mode,
                boot_id,
                agent: None,
                agent_args: vec![],
                boots: 1,
                staged: None,
            })),
        };
        h.create_node_object().await?;
        Ok(h)
    }

    fn st(&self) -> std::sync::MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn create_node_object(&self) -> anyhow::Result<()> {
        let (release, boot_id) = {
            let s = self.st();
            (s.release.clone(), s.boot_id.clone())
        };
        let mut labels = json!({
            "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        });
        let mut taints = json!([]);
        if self.control_plane {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
            taints =
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        }
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": labels},
            "spec": {"taints": taints},
        }))?;
        let api: Api<Node> = Api::all(self.client.clone());
        api.create(&PostParams::default(), &node)
            .await
            .with_context(|| format!("failed to create node {}", self.name))?;
        self.set_status(true, &release, &boot_id).await
    }

    async fn set_status(
        &self,
        ready: bool,
        release: &ReleaseFixture,
        boot_id: &str,
    ) -> anyhow::Result<()> {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let (status, reason, msg) = if ready {
            ("True", "KubeletReady", "kubelet is posting ready status")
        } else {
            ("False", "KubeletNotReady", "node is rebooting")
        };
        let os_release = release.os_release();
        let os_image = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default();
        let body = json!({"status": {
            "conditions": [
                {"type": "Ready", "status": status, "reason": reason, "message": msg, "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "", "lastHeartbeatTime": now, "lastTransitionTime": now},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.10"}, {"type": "Hostname", "address": self.name}],
            "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": boot_id, "kernelVersion": "6.8.0-60-generic",
                "osImage": os_image, "containerRuntimeVersion": "containerd://2.0.5-k3s1",
                "kubeletVersion": release.kubelet_version(), "kubeProxyVersion": release.kubelet_version(),
                "operatingSystem": "linux", "architecture": "amd64",
            },
        }});
        let api: Api<Node> = Api::all(self.client.clone());
        api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .with_context(|| format!("failed to write status of node {}", self.name))?;
        Ok(())
    }

    /// Node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a control-plane node.
    pub fn is_control_plane(&self) -> bool {
        self.control_plane
    }

    /// The host root directory (what the agent's `--host-root` should be).
    pub fn host_root(&self) -> &Path {
        &self.root
    }

    /// A per-node scratch directory (agent logs, tokens).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current boot ID.
    pub fn boot_id(&self) -> String {
        self.st().boot_id.clone()
    }

    /// Current release fixture.
    pub fn release(&self) -> ReleaseFixture {
        self.st().release.clone()
    }

    /// Current boot mode.
    pub fn boot_mode(&self) -> BootMode {
        self.st().boot_mode
    }

    /// How many times the node booted (1 after creation).
    pub fn boots(&self) -> u32 {
        self.st().boots
    }

    /// Records that an upgrade wrote `release` as the new active system: the next reboot into
    /// the active system boots it (a reboot whose change names a release or another boot mode
    /// does not, and drops it).
    pub fn stage(&self, release: ReleaseFixture) {
        self.st().staged = Some(release);
    }

    /// What an upgrade staged for the next boot of the active system.
    pub fn staged(&self) -> Option<ReleaseFixture> {
        self.st().staged.clone()
    }

    /// Starts `kairos-node-agent` for this node with `args` and env `KUBECONFIG`, `NODE_NAME`
    /// and `KAIROS_HOST_ROOT`. A running agent is stopped first.
    pub async fn spawn_agent(&self, args: &[&str]) -> anyhow::Result<()> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.stop_agent().await;
        self.st().agent_args = args;
        self.start_agent()
    }

    fn start_agent(&self) -> anyhow::Result<()> {
        let bin = locate("kairos-node-agent", "KAIROS_AGENT_BIN")?;
        let env = vec![
            (
                "KUBECONFIG".to_string(),
                self.kubeconfig.clone().into_os_string(),
            ),
            ("NODE_NAME".to_string(), OsString::from(&self.name)),
            (
                "KAIROS_HOST_ROOT".to_string(),
                self.root.clone().into_os_string(),
            ),
            (
                "RUST_LOG".to_string(),
                std::env::var_os("RUST_LOG").unwrap_or_else(|| "info".into()),
            ),
        ];
        let mut s = self.st();
        let p = Proc::spawn(
            &format!("agent-{}", self.name),
            &bin,
            &s.agent_args,
            &env,
            &self.dir.join("agent.log"),
        )?;
        s.agent = Some(p);
        Ok(())
    }

    /// Kills the node's agent and starts it again with the arguments it last ran with (an agent
    /// container restarting in its pod). Nothing happens when it never ran.
    pub async fn restart_agent(&self) -> anyhow::Result<()> {
        if self.st().agent_args.is_empty() {
            return Ok(());
        }
        self.stop_agent().await;
        self.start_agent()
    }

    /// Stops the node's agent, if running.
    pub async fn stop_agent(&self) {
        let p = self.st().agent.take();
        if let Some(mut p) = p {
            p.kill().await;
        }
    }

    /// The process id of the running agent, if any.
    pub fn agent_pid(&self) -> Option<u32> {
        self.st().agent.as_ref().and_then(Proc::id)
    }

    /// Whether an agent process is running.
    pub fn agent_running(&self) -> bool {
        let mut s = self.st();
        match s.agent.as_mut() {
            Some(p) => p.try_exit_status().is_none(),
            None => false,
        }
    }

    /// Everything the node's agents printed (all boots).
    pub fn agent_logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// Reboots the node: Ready=False, agent stopped, new boot_id (and release files / boot mode
    /// if given; else a release an upgrade staged when it boots the active system), Ready=True,
    /// agent restarted with its previous arguments if it was running.
    pub async fn reboot(&self, change: RebootChange) -> anyhow::Result<()> {
        let had_agent = self.st().agent.is_some();
        self.stop_agent().await;
        let (release, boot_id) = {
            let s = self.st();
            (s.release.clone(), s.boot_id.clone())
        };
        self.set_status(false, &release, &boot_id).await?;
        let (release, boot_id) = {
            let mut s = self.st();
            let staged = s.staged.take();
            match (change.release, change.boot_mode) {
                (Some(r), _) => s.release = r,
                (None, None | Some(BootMode::Active)) => {
                    if let Some(r) = staged {
                        s.release = r;
                    }
                }
                (None, Some(_)) => {}
            }
            if let Some(m) = change.boot_mode {
                s.boot_mode = m;
            }
            s.boot_id = uuid::Uuid::new_v4().to_string();
            s.boots += 1;
            write_host_root(&self.root, &self.name, &s.release, s.boot_mode, &s.boot_id)?;
            (s.release.clone(), s.boot_id.clone())
        };
        self.set_status(true, &release, &boot_id).await?;
        if had_agent {
            self.start_agent()?;
        }
        Ok(())
    }
}
