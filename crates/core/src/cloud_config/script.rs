//! Rendering of the `sh` scripts a cloud-config `NodeOp` runs on a node: write the managed file
//! atomically, or remove it. Pure: no I/O.
//!
//! # The write script
//! 1. `set -eu`; the source is the file the Job's pod mounts from the Secret or ConfigMap
//!    ([`MOUNT_DIR`](super::source::MOUNT_DIR)), so the document is in neither the pod spec nor
//!    the script.
//! 2. The source's SHA-256 must equal the hash the operator planned (the object may have been
//!    edited since): otherwise nothing is written and the Job fails.
//! 3. The document is copied to a hidden temporary file in the target's directory (`/oem`;
//!    the agent ignores it: not `.yaml`), made mode 0600, synced, then renamed over the
//!    target: the node sees the old file or the new one, never a part. The temporary file is
//!    removed if the script stops before the rename.
//! 4. A previous managed path (the spec's `path` changed) is removed.
//! 5. With a stage, `kairos-agent run-stage <stage>` runs in the host's root (`chroot`).
//!
//! No other file is touched. The script never reboots: the engine reboots after the Job.
//!
//! # The remove script
//! Removes the managed file (`rm -f`), and nothing else.
//!
//! # Environment
//! `HOST_DIR` (default `/host`) and `CONFIG_SOURCE` (default the mounted file) may be set to
//! run a script against a fake root in tests or by hand; the Job sets neither.

use super::source::{MOUNT_DIR, MOUNTED_FILE};
use crate::shell::quote;

/// Where the Job sees the host's root filesystem (the NodeOp's `hostMountPath`).
pub const HOST_DIR: &str = "/host";

/// What the write script does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteScript<'a> {
    /// The managed file (matches the CRD's path pattern: a `.yaml` file directly under `/oem`).
    pub path: &'a str,
    /// SHA-256 (hex) the source must have.
    pub sha256: &'a str,
    /// A previous managed file to remove, when the path changed.
    pub previous_path: Option<&'a str>,
    /// The stage to run after writing, if any (matches the CRD's stage pattern).
    pub run_stage: Option<&'a str>,
}

fn header() -> String {
    format!(
        "set -eu\nHOST_DIR=\"${{HOST_DIR:-{HOST_DIR}}}\"\n\
         CONFIG_SOURCE=\"${{CONFIG_SOURCE:-{MOUNT_DIR}/{MOUNTED_FILE}}}\"\n"
    )
}

/// The directory part of `path` (`/oem` for `/oem/x.yaml`).
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The write script (see the module documentation).
pub fn render_write(w: &WriteScript<'_>) -> String {
    let mut s = header();
    s.push_str(&format!(
        "TARGET={}\nWANT={}\n",
        quote(w.path),
        quote(w.sha256)
    ));
    s.push_str(&format!("DIR=\"$HOST_DIR\"{}\n", quote(dir_of(w.path))));
    s.push_str(
        r#"if [ ! -d "$DIR" ]; then
    echo "kairos-config: the host has no directory ${DIR#"$HOST_DIR"}: nothing written" >&2
    exit 1
fi
GOT=$(sha256sum "$CONFIG_SOURCE" | cut -d ' ' -f 1)
if [ "$GOT" != "$WANT" ]; then
    echo "kairos-config: the source has sha256 $GOT, not the planned $WANT (edited since?): nothing written" >&2
    exit 1
fi
TMP="$DIR/.kairos-operator.tmp.$$"
trap 'rm -f "$TMP"' EXIT
umask 077
cp "$CONFIG_SOURCE" "$TMP"
chmod 0600 "$TMP"
sync
mv -f "$TMP" "$HOST_DIR$TARGET"
trap - EXIT
echo "kairos-config: wrote $TARGET (sha256 $WANT)"
"#,
    );
    if let Some(old) = w.previous_path.filter(|old| *old != w.path) {
        s.push_str(&format!(
            "rm -f \"$HOST_DIR\"{q}\necho \"kairos-config: removed the previous file \"{q}\n",
            q = quote(old)
        ));
    }
    if let Some(stage) = w.run_stage {
        s.push_str(&format!(
            "chroot \"$HOST_DIR\" kairos-agent run-stage {}\n",
            quote(stage)
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// The remove script: deletes `path` (a managed file) on the host, nothing else.
pub fn render_remove(path: &str) -> String {
    let mut s = header();
    s.push_str(&format!("TARGET={}\n", quote(path)));
    s.push_str("rm -f \"$HOST_DIR$TARGET\"\necho \"kairos-config: removed $TARGET\"\nexit 0\n");
    s
}
