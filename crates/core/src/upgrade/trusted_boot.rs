//! The trusted-boot (UKI) upgrade's scripts: the Job's and the preflight's. Pure: no I/O.
//!
//! A trusted-boot image, as `auroraboot build-uki -t container` builds it, holds signed EFI
//! files (`active.efi`, ...) and nothing else: no shell, no `kairos-agent`, so it cannot run the
//! upgrade script the way a Kairos image does (`kairos-agent upgrade --source dir:/` inside the
//! image). Instead the Job runs in the engine's default image (`NODEOP_DEFAULT_IMAGE`, busybox
//! by default: it needs `sh` and `nsenter`), privileged and in the host's PID namespace, and
//! enters every namespace of the host's PID 1 to run the host's own
//! `kairos-agent upgrade --source oci:<image>`. In the host's mount namespace the agent sees the
//! host's `/sys` (its UKI path reads the EFI variables there), `/run/cos` and the EFI system
//! partition; it pulls the image with the host's own registry configuration, checks the EFI
//! files' signatures against the keys enrolled in the node's firmware, and installs them as the
//! new active entry with systemd-boot's boot counting (3 tries, then the passive entry).
//!
//! # The Job's script
//! 1. `set -e` (and `set -x` with `debug`).
//! 2. The trusted-boot check ([`UKI_CHECK`]): the host must have booted a UKI (immucore's
//!    `/run/cos/uki_boot_mode`, or `rd.immucore.uki` on its command line); otherwise the script
//!    fails before anything is written.
//! 3. `nsenter -t 1 -m -u -i -n -p -- kairos-agent [--debug] upgrade --recovery --source
//!    oci:<image>` when the recovery system is upgraded, then the same without `--recovery` for
//!    the active system.
//!
//! There is no version gate in the Job: the image's version cannot be read without unpacking
//! its EFI files; the planners skip nodes that already report the image tag's version.
//!
//! # The preflight
//! Read-only, unprivileged, in the same default image: the trusted-boot check alone, so a node
//! that does not boot trusted fails before it is cordoned (what the operator's planners judge
//! from the agent's report, checked again on the node itself).
//!
//! # Environment
//! `HOST_DIR` (default `/host`, the NodeOp's `hostMountPath`) may be set to run the scripts
//! against a fake root in tests; the Job sets none.

use super::ScriptOptions;

/// How the Job enters the host: every namespace of PID 1 (mount, UTS, IPC, network, PID).
pub const NSENTER_HOST: &str = "nsenter -t 1 -m -u -i -n -p --";

/// Fails (exit 1, with a message on standard error) unless the host booted a UKI.
pub const UKI_CHECK: &str = r#"HOST_DIR="${HOST_DIR:-/host}"
if [ ! -e "$HOST_DIR/run/cos/uki_boot_mode" ] && ! grep -qw 'rd.immucore.uki' "$HOST_DIR/proc/cmdline" 2>/dev/null; then
    echo "kairos-upgrade: this node did not boot a trusted-boot (UKI) image (no /run/cos/uki_boot_mode, no rd.immucore.uki on its command line): a UKI image cannot upgrade it" >&2
    exit 1
fi
"#;

/// The host's `kairos-agent upgrade` of the recovery or active system from `image`.
pub fn agent_line(opts: &ScriptOptions, image: &str, recovery: bool) -> String {
    let source = crate::shell::oci_source(image);
    format!(
        "{NSENTER_HOST} {}",
        super::script::agent_upgrade(opts, recovery, &source)
    )
}

/// The trusted-boot upgrade Job's script for `opts` and the UKI container `image` (see the
/// module documentation).
pub fn render(opts: &ScriptOptions, image: &str) -> String {
    let mut s = String::from("set -e\n");
    if opts.debug {
        s.push_str("set -x\n");
    }
    s.push_str(UKI_CHECK);
    s.push_str(&format!(
        "echo \"kairos-upgrade: trusted boot: the host's kairos-agent installs {}\"\n",
        image.replace(['"', '\\', '$', '`'], "?")
    ));
    if opts.upgrade_recovery {
        s.push_str(&agent_line(opts, image, true));
        s.push('\n');
    }
    if opts.active() {
        s.push_str(&agent_line(opts, image, false));
        s.push('\n');
    }
    s.push_str("exit 0\n");
    s
}

/// The trusted-boot upgrade's read-only preflight (see the module documentation).
pub fn render_preflight() -> String {
    format!("set -e\n{UKI_CHECK}exit 0\n")
}
