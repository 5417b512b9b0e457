//! The project root and running a command in it, as every task does. Does process I/O.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The project root (the parent of `xtask/`).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Runs `program args` in the project root and fails when it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<()> {
    let started = std::time::Instant::now();
    eprintln!("==> {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("failed to start {program}"))?;
    eprintln!(
        "<== {program} {} ({:.0?})",
        args.join(" "),
        started.elapsed()
    );
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// `cargo build --release --locked` of `packages`.
pub(crate) fn build_release(packages: &[&str]) -> Result<()> {
    let mut args = vec!["build", "--release", "--locked"];
    for package in packages {
        args.extend(["-p", package]);
    }
    run("cargo", &args)
}
