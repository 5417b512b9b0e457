//! The `kubectl-kairos` plugin binary run against a [`Cluster`]: built once per test process,
//! run with the cluster's kubeconfig, its output captured. Does process I/O.

use anyhow::Context as _;
use tokio::process::Command;
use tokio::sync::OnceCell;

use super::cluster::Cluster;
use super::process::{BINARY_PACKAGES, build_once, locate};

/// What one run of the plugin printed, and whether it succeeded.
#[derive(Clone, Debug)]
pub struct PluginRun {
    /// Exit status 0.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

static BUILT: OnceCell<Result<(), String>> = OnceCell::const_new();

/// Builds `kubectl-kairos` (with the other binaries the tests run, so that one build serves all)
/// once per test process with the `cargo` that runs the tests, unless `KAIROS_PLUGIN_BIN` is
/// set or `KAIROS_E2E_NO_BUILD=1`.
pub async fn ensure_plugin_built() -> anyhow::Result<()> {
    let preset = std::env::var_os("KAIROS_PLUGIN_BIN").is_some();
    build_once(&BUILT, &BINARY_PACKAGES, preset).await
}

impl Cluster {
    /// Runs `kubectl-kairos args..` (`$KAIROS_PLUGIN_BIN`, else `<target>/debug/kubectl-kairos`)
    /// with this cluster's kubeconfig, without colour (its output is not a terminal).
    pub async fn kubectl_kairos(&self, args: &[&str]) -> anyhow::Result<PluginRun> {
        ensure_plugin_built().await?;
        let bin = locate("kubectl-kairos", "KAIROS_PLUGIN_BIN")?;
        let out = Command::new(&bin)
            .arg("--kubeconfig")
            .arg(self.kubeconfig_path())
            .args(args)
            .env_remove("KUBECONFIG")
            .output()
            .await
            .with_context(|| format!("failed to run {}", bin.display()))?;
        Ok(PluginRun {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
