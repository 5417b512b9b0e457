//! The `main` plumbing shared by the e2e tool binaries (`kairos-sandbox`, `kairos-measure`,
//! `kairos-bench`): logs to stderr, the exit code of a run, and the re-run of a measuring tool
//! against the release binaries. Does process I/O.

use std::ffi::OsString;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::harness::process::target_dir;

/// Logs to stderr at the level of `RUST_LOG` (default `warn`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Success, or the error (with its causes) on stderr and failure.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `run` against the release binaries of `bin_dir` (see [`reexec_with_release_bins`]):
/// in this process when they are set already, else in a re-run of this program.
pub async fn run_on_release_bins<Fut>(bin_dir: Option<&Path>, run: impl FnOnce() -> Fut) -> ExitCode
where
    Fut: Future<Output = anyhow::Result<()>>,
{
    match reexec_with_release_bins(bin_dir) {
        Ok(Some(code)) => code,
        Ok(None) => exit_code(run().await),
        Err(e) => exit_code(Err(e)),
    }
}

/// Re-runs this program with `KAIROS_OPERATOR_BIN`/`KAIROS_AGENT_BIN` pointing at the release
/// binaries of `bin_dir` (default `<target>/release`), unless both are set already (the
/// harness finds the binaries through them). `Some(exit code)` when it re-ran.
pub fn reexec_with_release_bins(
    bin_dir: Option<&Path>,
) -> anyhow::Result<Option<std::process::ExitCode>> {
    if std::env::var_os("KAIROS_OPERATOR_BIN").is_some()
        && std::env::var_os("KAIROS_AGENT_BIN").is_some()
    {
        return Ok(None);
    }
    let dir = bin_dir.map_or_else(|| target_dir().join("release"), Path::to_path_buf);
    let op = dir.join("kairos-operator");
    let agent = dir.join("kairos-node-agent");
    for b in [&op, &agent] {
        anyhow::ensure!(
            b.exists(),
            "{} not found: cargo build --release -p kairos-operator -p kairos-node-agent",
            b.display()
        );
    }
    let me = std::env::current_exe().context("failed to find this program")?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let status = std::process::Command::new(me)
        .args(args)
        .env("KAIROS_OPERATOR_BIN", op)
        .env("KAIROS_AGENT_BIN", agent)
        .status()
        .context("failed to re-run with the release binaries")?;
    Ok(Some(if status.success() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }))
}
