//! Rendering of the `sh` scripts an upgrade runs on a node. Pure: no I/O.
//!
//! The upgrade Job's script (run in the target image with that image's own `kairos-agent`)
//! and the read-only preflight check, returned as strings.
//!
//! # The upgrade script
//! 1. `set -e` (and `set -x` with `debug`).
//! 2. The version gate, unless `force` or the active system is not upgraded: it reads
//!    `KAIROS_VERSION` and `KAIROS_SOFTWARE_VERSION[_PREFIX]` from the image's own
//!    `/etc/kairos-release` (falling back to `/etc/os-release`, then `/usr/lib/os-release`,
//!    where older releases kept them) and the same from the host's files under `$HOST_DIR`.
//!    Release files are parsed with `sed`, never sourced: the host's files are not executed
//!    by this privileged container. An empty (unknown) version on either side never compares
//!    equal. When the versions are equal:
//!    - active-only upgrade: the script writes [`UP_TO_DATE_MARKER`] as the first line of the
//!      termination log and exits 0 without mounting anything or running `kairos-agent`;
//!    - active + recovery: the marker is written too (no reboot is needed), the recovery system
//!      is still upgraded, the active one is not.
//!
//!    A recovery-only upgrade has no gate at all: the host's files say nothing about the
//!    recovery system.
//! 3. `mount --rbind $HOST_DIR/dev /dev` and `mount --rbind $HOST_DIR/run /run`, detached
//!    again (`umount -l`) by an `EXIT` trap. The termination log is always written *before*
//!    these mounts: while the host's `/dev` is bound over the container's,
//!    `/dev/termination-log` is not the file the kubelet reads.
//! 4. `kairos-agent [--debug] upgrade --recovery --source dir:/ --exclude-path ...` when the
//!    recovery system is upgraded (`--source 'oci:<image>'` when the recovery system has its own
//!    image, see [`render_with_recovery`]), then `kairos-agent [--debug] upgrade --source dir:/
//!    --exclude-path ...` for the active system. `--debug` is a global flag of `kairos-agent`,
//!    so it precedes the subcommand. The excluded paths ([`EXCLUDED_PATHS`]) are passed as one
//!    `--exclude-path '<path>'` flag each, as upstream kairos-operator does: Kubernetes injects
//!    pod-specific `/etc/hostname` and `/etc/hosts` into the container, and copying them onto
//!    the host would change the node's identity after the reboot.
//!
//! With neither `upgrade_active` nor `upgrade_recovery` (the CRD refuses that combination) the
//! active system is upgraded, as upstream does.
//!
//! The script never reboots: the NodeOp engine reboots after the Job succeeded.
//!
//! # Environment
//! `HOST_DIR` (default `/host`, the NodeOp's `hostMountPath`), `TERMINATION_LOG` (default
//! `/dev/termination-log`) and `IMAGE_ROOT` (default empty: the image's own `/`) may be set to
//! run the script against a fake root in tests or by hand; the Job sets none of them.

/// First line of the upgrade Job's termination message when the node already runs the image's
/// version: the Job succeeded, and the engine must **not** reboot the node (see
/// [`super::job_outcome`]).
pub const UP_TO_DATE_MARKER: &str = "kairos-upgrade: up-to-date";

/// Paths `kairos-agent upgrade --source dir:/` must not copy from the container to the host.
pub const EXCLUDED_PATHS: [&str; 2] = ["/etc/hostname", "/etc/hosts"];

/// Where the upgrade Job sees the host's root filesystem (the NodeOp's `hostMountPath`).
pub const HOST_DIR: &str = "/host";

/// What the upgrade script does; mirrors the `NodeOpUpgrade` spec fields of the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ScriptOptions {
    /// Upgrade the active system.
    pub upgrade_active: bool,
    /// Upgrade the recovery system.
    pub upgrade_recovery: bool,
    /// Skip the version gate.
    pub force: bool,
    /// Run `kairos-agent --debug` and trace the script (`set -x`).
    pub debug: bool,
}

impl ScriptOptions {
    /// Whether the active system is upgraded (also when neither system was asked for).
    pub fn active(&self) -> bool {
        self.upgrade_active || !self.upgrade_recovery
    }

    /// Whether the script compares the image's and the host's versions.
    pub fn gated(&self) -> bool {
        !self.force && self.active()
    }

    /// Whether a node found up to date is skipped entirely (no recovery work left either):
    /// only then may a preflight check or the KairosNode status skip the node up front.
    pub fn skips_when_up_to_date(&self) -> bool {
        self.gated() && !self.upgrade_recovery
    }

    /// Whether the node reboots after a successful Job: only a new active system needs one.
    pub fn reboots(&self) -> bool {
        self.active()
    }
}

const HEADER: &str = r#"HOST_DIR="${HOST_DIR:-/host}"
TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"
IMAGE_ROOT="${IMAGE_ROOT:-}"
"#;

/// Shell functions and the version lookup shared by the upgrade and preflight scripts. Leaves
/// `CURRENT` (host) and `TARGET` (image) set, empty when unknown, and `UP_TO_DATE` true only
/// when both are known and equal.
const VERSION_GATE: &str = r#"# read_key FILE KEY: the last KEY=value of a release file, quotes removed; empty if absent.
read_key() {
    [ -f "$1" ] || return 0
    sed -n "s/^$2=//p" "$1" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}
# host_file PATH: PATH under HOST_DIR; an absolute symlink is resolved inside HOST_DIR.
host_file() {
    f="$HOST_DIR$1"
    if [ -L "$f" ]; then
        t=$(readlink "$f")
        case "$t" in /*) f="$HOST_DIR$t" ;; esac
    fi
    printf '%s\n' "$f"
}
# release_version FILE...: version and software version from the first file with KAIROS_VERSION.
release_version() {
    for file in "$@"; do
        v=$(read_key "$file" KAIROS_VERSION)
        if [ -n "$v" ]; then
            printf '%s+%s%s\n' "$v" "$(read_key "$file" KAIROS_SOFTWARE_VERSION_PREFIX)" \
                "$(read_key "$file" KAIROS_SOFTWARE_VERSION)"
            return 0
        fi
    done
}
TARGET=$(release_version "$IMAGE_ROOT/etc/kairos-release" "$IMAGE_ROOT/etc/os-release" \
    "$IMAGE_ROOT/usr/lib/os-release")
CURRENT=$(release_version "$(host_file /etc/kairos-release)" "$(host_file /etc/os-release)" \
    "$(host_file /usr/lib/os-release)")
echo "kairos-upgrade: host runs ${CURRENT:-an unknown version}, image has ${TARGET:-an unknown version}"
UP_TO_DATE=false
if [ -n "$CURRENT" ] && [ -n "$TARGET" ] && [ "$CURRENT" = "$TARGET" ]; then
    UP_TO_DATE=true
fi
"#;

/// Binds the host's `/dev` and `/run`, and undoes the binds when the script exits (whatever
/// its status), so that whatever runs after it in the container (the engine's wrapper writes
/// the boot ID to `/dev/termination-log`) sees the container's own `/dev` again. Each trap is
/// set only once its mount succeeded, so a failed mount never detaches the container's `/dev`.
const MOUNTS: &str = r#"mount --rbind "$HOST_DIR/dev" /dev
trap 'umount -l /dev || :' EXIT
mount --rbind "$HOST_DIR/run" /run
trap 'umount -l /run || :; umount -l /dev || :' EXIT
"#;

/// The upgrade Job's script for `opts` (see the module documentation for what it does).
pub fn render(opts: &ScriptOptions) -> String {
    render_with_recovery(opts, None)
}

/// The upgrade Job's script for `opts`, the recovery system (when upgraded) installed from
/// `recovery_image` (`--source oci:<image>`, pulled on the node) instead of the Job's own image
/// when one is given.
pub fn render_with_recovery(opts: &ScriptOptions, recovery_image: Option<&str>) -> String {
    let mut s = String::from("set -e\n");
    if opts.debug {
        s.push_str("set -x\n");
    }
    s.push_str(HEADER);
    if opts.gated() {
        s.push_str(VERSION_GATE);
        s.push_str("if [ \"$UP_TO_DATE\" = true ]; then\n");
        s.push_str(&format!(
            "    printf '%s\\n%s\\n' '{UP_TO_DATE_MARKER}' \"host already runs $CURRENT\" > \"$TERMINATION_LOG\"\n"
        ));
        if opts.upgrade_recovery {
            s.push_str(
                "    echo \"kairos-upgrade: active system up to date, upgrading recovery only\"\n",
            );
        } else {
            s.push_str("    echo \"kairos-upgrade: up to date, nothing to do\"\n");
            s.push_str("    exit 0\n");
        }
        s.push_str("fi\n");
    }
    s.push_str(MOUNTS);
    if opts.upgrade_recovery {
        match recovery_image {
            Some(image) => s.push_str(&agent_line_from(
                opts,
                true,
                &crate::shell::oci_source(image),
            )),
            None => s.push_str(&agent_line(opts, true)),
        }
        s.push('\n');
    }
    if opts.active() {
        if opts.gated() && opts.upgrade_recovery {
            s.push_str("if [ \"$UP_TO_DATE\" != true ]; then\n    ");
            s.push_str(&agent_line(opts, false));
            s.push_str("\nfi\n");
        } else {
            s.push_str(&agent_line(opts, false));
            s.push('\n');
        }
    }
    s.push_str("exit 0\n");
    s
}

/// The `kairos-agent upgrade` command line for the recovery or the active system, from the
/// Job's own image (`--source dir:/`).
pub fn agent_line(opts: &ScriptOptions, recovery: bool) -> String {
    agent_line_from(opts, recovery, "dir:/")
}

/// The `kairos-agent upgrade` command line with `source` (already quoted for `sh`), leaving out
/// the paths that are not the system's.
fn agent_line_from(opts: &ScriptOptions, recovery: bool, source: &str) -> String {
    let mut line = agent_upgrade(opts, recovery, source);
    for path in EXCLUDED_PATHS {
        line.push_str(&format!(" --exclude-path '{path}'"));
    }
    line
}

/// `kairos-agent [--debug] upgrade [--recovery] --source <source>` (`source` as it goes into
/// the script: quoted by the caller when it needs to be).
pub(crate) fn agent_upgrade(opts: &ScriptOptions, recovery: bool, source: &str) -> String {
    let mut line = String::from("kairos-agent");
    if opts.debug {
        line.push_str(" --debug");
    }
    line.push_str(" upgrade");
    if recovery {
        line.push_str(" --recovery");
    }
    line.push_str(" --source ");
    line.push_str(source);
    line
}

/// The preflight of an upgrade that may not skip any node: it only proves the image was
/// pulled and starts on the node (exit 0, no termination message: "go on").
pub const PULL_ONLY_PREFLIGHT: &str = "exit 0";

/// The read-only preflight check: it writes `node already runs <version>` to the termination
/// log (meaning "skip this node", the NodeOp preflight contract) when the host already runs the
/// image's version, and otherwise exits 0 silently. Use it only when
/// [`ScriptOptions::skips_when_up_to_date`] holds.
pub fn render_preflight() -> String {
    let mut s = String::from("set -e\n");
    s.push_str(HEADER);
    s.push_str(VERSION_GATE);
    s.push_str("if [ \"$UP_TO_DATE\" = true ]; then\n");
    s.push_str("    echo \"node already runs $CURRENT\" > \"$TERMINATION_LOG\"\n");
    s.push_str("fi\nexit 0\n");
    s
}
