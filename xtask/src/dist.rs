//! `cargo xtask dist`: the release artifacts in `dist/`: `install.yaml` (deploy/default rendered
//! and validated strictly by scripts/validate-manifests.sh), `monitoring.yaml` (deploy/monitoring,
//! likewise, its Prometheus Operator kinds excepted), the `kubectl-kairos` plugin binary when the
//! workspace has that package, and `SHA256SUMS` over them. Does file and process I/O.

use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::command::{build_release, run};

/// The kubectl plugin's package (and binary) name.
const PLUGIN: &str = "kubectl-kairos";

/// The file of checksums, in `sha256sum` format.
pub(crate) const SUMS: &str = "SHA256SUMS";

/// Writes `dist/` afresh under `root`.
pub(crate) fn dist(root: &Path) -> Result<()> {
    let dir = root.join("dist");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("failed to remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    run(
        "bash",
        &[
            "scripts/validate-manifests.sh",
            "--out",
            "dist/install.yaml",
        ],
    )?;
    run(
        "bash",
        &[
            "scripts/validate-manifests.sh",
            "--tree",
            "deploy/monitoring",
            "--external-group",
            "monitoring.coreos.com",
            "--out",
            "dist/monitoring.yaml",
        ],
    )?;
    let metadata = workspace_metadata(root)?;
    if has_package(&metadata, PLUGIN) {
        build_release(&[PLUGIN])?;
        let target = metadata["target_directory"]
            .as_str()
            .context("cargo metadata without target_directory")?;
        let binary = Path::new(target).join("release").join(PLUGIN);
        std::fs::copy(&binary, dir.join(PLUGIN))
            .with_context(|| format!("failed to copy {}", binary.display()))?;
    } else {
        eprintln!("dist: no package {PLUGIN} in the workspace: no plugin binary");
    }
    let sums = sha256sums(&dir)?;
    std::fs::write(dir.join(SUMS), &sums).context("failed to write dist/SHA256SUMS")?;
    eprint!("dist: wrote dist/ with\n{sums}");
    Ok(())
}

/// `cargo metadata` of the workspace (its own packages only).
fn workspace_metadata(root: &Path) -> Result<serde_json::Value> {
    let out = std::process::Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("failed to run cargo metadata")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")
}

/// Whether the workspace `metadata` describes has a package named `name`.
pub(crate) fn has_package(metadata: &serde_json::Value, name: &str) -> bool {
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == name)
}

/// `sha256sum` lines (`<hex>  <name>`) for every file of `dir` but the sums file, by name.
pub(crate) fn sha256sums(dir: &Path) -> Result<String> {
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("failed to list {}", dir.display()))?
    {
        let entry = entry?;
        let name = entry
            .file_name()
            .into_string()
            .ok()
            .context("a non-UTF-8 file name")?;
        if entry.file_type()?.is_file() && name != SUMS {
            names.push(name);
        }
    }
    names.sort();
    let mut out = String::new();
    for name in names {
        let bytes =
            std::fs::read(dir.join(&name)).with_context(|| format!("failed to read {name}"))?;
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!("{hex}  {name}\n"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
