//! Spawning the real `kairos-operator` and `kairos-node-agent` binaries (and the real backend's
//! etcd/kube-apiserver) as child processes that are killed when dropped, even on panic. Finds
//! binaries through env variables or the cargo target dir, and builds ours once if asked. Does
//! process and file I/O.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// A child process with its output captured in a log file; killed on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Spawns `bin args..` with extra `env`, logging stdout and stderr to `log`.
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[OsString],
        env: &[(String, OsString)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("failed to open {}", log.display()))?;
        let err = out.try_clone().context("failed to clone log handle")?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to spawn {name} ({})", bin.display()))?;
        tracing::info!(name, bin = %bin.display(), log = %log.display(), "spawned");
        Ok(Self {
            name: name.into(),
            child,
            log: log.into(),
        })
    }

    /// The process id (None once it exited).
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// What the process printed so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether it exited (and its status).
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process and waits for it.
    pub async fn kill(&mut self) {
        if let Err(e) = self.child.kill().await {
            tracing::debug!(name = %self.name, error = %e, "kill failed (already exited?)");
        }
    }
}

/// The cargo target directory of this workspace (`CARGO_TARGET_DIR` or `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Locates one of our binaries: `$<env_var>`, else `<target>/debug/<name>`.
pub fn locate(name: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(p));
    }
    let p = target_dir().join("debug").join(name);
    anyhow::ensure!(
        p.exists(),
        "{name} not found at {} (set {env_var}, or build it: cargo build -p kairos-operator -p kairos-node-agent -p kubectl-kairos)",
        p.display()
    );
    Ok(p)
}

static BUILT: OnceCell<Result<(), String>> = OnceCell::const_new();

/// The packages of the binaries the tests run, built together (as `cargo xtask ci` builds them,
/// so one build serves both).
pub(crate) const BINARY_PACKAGES: [&str; 3] =
    ["kairos-operator", "kairos-node-agent", "kubectl-kairos"];

/// Builds `kairos-operator` and `kairos-node-agent` (and `kubectl-kairos` with them) once per
/// test process with the `cargo` that runs the tests, unless
/// `KAIROS_OPERATOR_BIN`/`KAIROS_AGENT_BIN` are set or `KAIROS_E2E_NO_BUILD=1`.
pub async fn ensure_built() -> anyhow::Result<()> {
    let preset = std::env::var_os("KAIROS_OPERATOR_BIN").is_some()
        && std::env::var_os("KAIROS_AGENT_BIN").is_some();
    build_once(&BUILT, &BINARY_PACKAGES, preset).await
}

/// Runs `cargo build -p <packages>..` once per `cell` (per test process), unless `preset` or
/// `KAIROS_E2E_NO_BUILD=1`; every caller gets the first build's result.
pub(crate) async fn build_once(
    cell: &'static OnceCell<Result<(), String>>,
    packages: &[&str],
    preset: bool,
) -> anyhow::Result<()> {
    let r = cell
        .get_or_init(|| async {
            if preset || std::env::var("KAIROS_E2E_NO_BUILD").is_ok_and(|v| v == "1") {
                return Ok(());
            }
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .arg("build")
                .args(packages.iter().flat_map(|p| ["-p", p]))
                .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
                .status()
                .await
                .map_err(|e| format!("failed to run cargo build: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "cargo build of {} failed: {status}",
                    packages.join(", ")
                ))
            }
        })
        .await;
    r.clone().map_err(anyhow::Error::msg)
}

/// A free loopback TCP port (bound and released; good enough for tests).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("failed to bind a free port")?;
    Ok(l.local_addr()?.port())
}
