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
    run_with(program, args, &[])
}

/// [`run`] with `env` added to the environment.
pub(crate) fn run_with(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let started = std::time::Instant::now();
    eprintln!("==> {program} {}", args.join(" "));
    let status = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
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

/// `cargo build --release --locked` of `packages`, linked statically as the images link them,
/// for measuring: the images build for musl, which this machine may not have, so this builds
/// the host's own target with its C library linked in. What is measured then maps no shared
/// library that the image does not have. Returns the directory of the binaries.
pub(crate) fn build_release_static(packages: &[&str]) -> Result<PathBuf> {
    let host = host_triple()?;
    let mut args = vec!["build", "--release", "--locked", "--target", &host];
    for package in packages {
        args.extend(["-p", package]);
    }
    // With `--target`, the flags reach the target's code only (not build scripts or macros).
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    flags.push_str(" -C target-feature=+crt-static");
    run_with("cargo", &args, &[("RUSTFLAGS", flags.trim())])?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target_dir.join(host).join("release"))
}

/// The target triple `rustc` builds for by default.
fn host_triple() -> Result<String> {
    let out = std::process::Command::new("rustc")
        .arg("-vV")
        .output()
        .context("failed to run rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV names no host")
}
