//! Kairos upgrades (DESIGN.md sections 3 and 5). Pure: no I/O.
//!
//! The upgrade script, the fleet upgrade (`NodeOpUpgrade`) and the per-node upgrade
//! (`KairosNode.spec.version`), both run through a `NodeOp` of the generic engine, and the
//! verification after the reboot.
//!
//! # Contract with the NodeOp engine
//! This module only produces `NodeOp` objects and reads their status; the engine runs them.
//! An upgrade `NodeOp` is recognised by [`upgrade_target`] (it carries the label
//! [`LABEL_NODEOP_UPGRADE`] or [`LABEL_KAIROSNODE`]); for those the engine must:
//!
//! 1. **Skip the reboot of an up-to-date node.** When the Job succeeded, read the termination
//!    message of the Job's container and call [`job_outcome`]: [`JobOutcome::UpToDate`] means
//!    the node already ran the image's version and nothing was written to its active system,
//!    so the engine must not reboot it; it goes straight to Uncordoning and ends `Completed`
//!    with the detail as its message (a Job that *failed* is a failure whatever its message).
//!    The script writes the marker ([`script::UP_TO_DATE_MARKER`], first line, detail second)
//!    before it mounts anything. The engine's boot-ID wrapper must therefore **append** the
//!    boot ID (`>>`, not `>`) and read it from the message's last line.
//! 2. **Verify after the reboot** with [`verify_upgrade`], passing the target version from
//!    [`upgrade_target`] (annotation [`ANNOTATION_TARGET_VERSION`], absent when the image tag
//!    names no version), the KairosNode status of the node and the boot ID recorded before
//!    the reboot. `Succeeded` -> Uncordoning; `RolledBack` -> `RolledBack` (left cordoned
//!    unless `uncordonOnFailure`); `Failed` -> `Failed`; `Pending` -> keep Verifying until the
//!    engine's timeout fails the node. (The per-node planner applies the same verification to
//!    the KairosNode status whatever the engine does, see [`node`].)
//! 3. Honour the preflight the upgrade NodeOp carries when the gate can skip whole nodes: its
//!    termination message means "skip" (upstream's contract, already in the NodeOp API).
//!
//! The script leaves the container's `/dev` as it found it (its binds of the host's `/dev`
//! and `/run` are detached on exit), so the wrapper's write reaches the real termination log.
//! A recovery-only upgrade NodeOp has `rebootOnSuccess: false` (upstream behaviour: only a new
//! active system needs a reboot), so it is never verified by version.

pub mod fit;
pub mod fleet;
pub mod image;
pub mod node;
pub mod script;
pub mod trusted_boot;
pub mod verify;
pub mod version;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::LocalObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kairos_api::names::{ANNOTATION_UPGRADE_IMAGE, LABEL_KAIROSNODE, LABEL_NODEOP_UPGRADE};
use kairos_api::v1alpha1::{DrainOptions, NodeOp, NodeOpSpec, Preflight};

use crate::k8s_names;

pub use script::ScriptOptions;
pub use verify::{JobOutcome, Verification, job_outcome, verify_upgrade};

/// Annotation on an upgrade `NodeOp`: the Kairos version it installs (what [`verify_upgrade`]
/// checks after the reboot). Absent when unknown.
pub const ANNOTATION_TARGET_VERSION: &str = "operator.kairos.io/target-version";

/// Annotation on a fleet upgrade `NodeOp`: a hash of the `NodeOpUpgrade` fields that chose the
/// target list (`targetNodes`, `nodeSelector`, `force`, `upgradeActive`, `upgradeRecovery`) when
/// it started. A later difference means an edit that cannot change the fixed target list.
pub const ANNOTATION_TARGETS_HASH: &str = "operator.kairos.io/targets-hash";

/// Retries of the upgrade Job's pod. One retry covers a transient failure (a busy mount); a
/// deterministic failure (no space, bad image) is not repeated six times (Kubernetes' default).
/// Re-running `kairos-agent upgrade` is safe: it rewrites the passive system before switching.
pub const UPGRADE_BACKOFF_LIMIT: i32 = 1;

/// `jobTimeoutSeconds` of an upgrade NodeOp.
pub const UPGRADE_JOB_TIMEOUT_SECONDS: i64 = 30 * 60;

/// What an upgrade `NodeOp` upgrades to, as the engine needs it for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeTarget {
    /// The Kairos version the upgrade installs, when known.
    pub version: Option<String>,
}

/// `Some` when `nodeop` is an upgrade (created by this module), with its target.
pub fn upgrade_target(nodeop: &NodeOp) -> Option<UpgradeTarget> {
    let labels = nodeop.metadata.labels.as_ref()?;
    if !labels.contains_key(LABEL_NODEOP_UPGRADE) && !labels.contains_key(LABEL_KAIROSNODE) {
        return None;
    }
    let version =
        k8s_names::annotation(&nodeop.metadata, ANNOTATION_TARGET_VERSION).map(str::to_owned);
    Some(UpgradeTarget { version })
}

/// The image an upgrade `NodeOp` installs: its [`ANNOTATION_UPGRADE_IMAGE`] (a trusted-boot
/// upgrade, whose Job runs in another image), else the Job's image.
pub fn installed_image(nodeop: &NodeOp) -> String {
    k8s_names::annotation(&nodeop.metadata, ANNOTATION_UPGRADE_IMAGE)
        .map_or_else(|| nodeop.spec.image.clone(), str::to_owned)
}

/// The annotations of an upgrade `NodeOp` installing `image`: `annotations`, plus
/// [`ANNOTATION_UPGRADE_IMAGE`] for a trusted-boot upgrade (see [`installed_image`]).
pub(crate) fn with_installed_image(
    mut annotations: BTreeMap<String, String>,
    image: &str,
    trusted_boot: bool,
) -> BTreeMap<String, String> {
    if trusted_boot {
        annotations.insert(ANNOTATION_UPGRADE_IMAGE.to_owned(), image.to_owned());
    }
    annotations
}

/// The parts of an upgrade NodeOp spec that differ between a fleet and a node upgrade.
pub(crate) struct SpecInput<'a> {
    pub(crate) image: &'a str,
    pub(crate) image_pull_secrets: Option<Vec<LocalObjectReference>>,
    pub(crate) opts: ScriptOptions,
    /// The recovery system's own image, when it is upgraded from another image than `image`.
    pub(crate) recovery_image: Option<&'a str>,
    /// `image` is a trusted-boot (UKI) container image: the host's `kairos-agent` installs it
    /// (see [`trusted_boot`]).
    pub(crate) trusted_boot: bool,
    pub(crate) targets: Vec<String>,
    pub(crate) concurrency: i32,
    pub(crate) stop_on_failure: bool,
    pub(crate) uncordon_on_failure: bool,
    /// The gates and the Job's resources, as the upgrade asks (none for a per-node upgrade).
    pub(crate) gates: UpgradeGates,
}

/// What a fleet upgrade passes to its NodeOp as is: its gates and the Job's resources.
#[derive(Default)]
pub(crate) struct UpgradeGates {
    pub(crate) gates: kairos_api::v1alpha1::Gates,
    pub(crate) resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
}

/// The spec of an upgrade NodeOp: the Job runs the rendered script in the target image with
/// the host at `/host`; the node is cordoned and drained first (DaemonSet pods stay, pods with
/// emptyDir volumes are evicted: a reboot interrupts them anyway, and k3s' own metrics-server
/// uses one, so refusing them would make most nodes undrainable; unmanaged pods are still
/// refused); it reboots after success when the active system changed.
///
/// A trusted-boot upgrade instead runs [`trusted_boot::render`] in the engine's default image,
/// in the host's PID namespace, with [`trusted_boot::render_preflight`] as its preflight (the
/// UKI image itself has no shell to run anything in); the node's own `kairos-agent` pulls the
/// image.
pub(crate) fn nodeop_spec(input: SpecInput<'_>) -> NodeOpSpec {
    if input.trusted_boot {
        let opts = input.opts;
        let mut spec = nodeop_spec(SpecInput {
            trusted_boot: false,
            ..input
        });
        let image = std::mem::take(&mut spec.image);
        spec.command = shell(trusted_boot::render(&opts, &image));
        spec.host_pid = Some(true);
        spec.preflight = Some(Preflight {
            image: None,
            command: shell(trusted_boot::render_preflight()),
        });
        return spec;
    }
    // Every upgrade has a preflight pod in the target image, so the image is pulled on the
    // node before it is cordoned (a pull that fails, fails the node with nothing disrupted);
    // it also skips up-to-date nodes when the upgrade may.
    let check = if input.opts.skips_when_up_to_date() {
        script::render_preflight()
    } else {
        script::PULL_ONLY_PREFLIGHT.to_owned()
    };
    let preflight = Some(Preflight {
        image: None,
        command: shell(check),
    });
    NodeOpSpec {
        node_selector: None,
        target_nodes: Some(input.targets),
        image: input.image.to_owned(),
        image_pull_secrets: input.image_pull_secrets,
        command: shell(script::render_with_recovery(
            &input.opts,
            input.recovery_image,
        )),
        host_mount_path: script::HOST_DIR.to_owned(),
        host_pid: None,
        cordon: Some(true),
        drain_options: Some(drain_before_reboot()),
        reboot_on_success: Some(input.opts.reboots()),
        backoff_limit: Some(UPGRADE_BACKOFF_LIMIT),
        // Writing an image to the passive system takes minutes; half an hour means it hangs.
        job_timeout_seconds: Some(UPGRADE_JOB_TIMEOUT_SECONDS),
        concurrency: input.concurrency,
        stop_on_failure: Some(input.stop_on_failure),
        uncordon_on_failure: Some(input.uncordon_on_failure),
        paused: None,
        preflight,
        gates: input.gates.gates,
        resources: input.gates.resources,
        preflight_resources: None,
        reboot_resources: None,
    }
}

/// How a node is drained before an operation that reboots it: DaemonSet pods stay, pods with
/// emptyDir volumes are evicted (a reboot interrupts them anyway), unmanaged pods are refused.
pub(crate) fn drain_before_reboot() -> DrainOptions {
    DrainOptions {
        enabled: Some(true),
        force: Some(false),
        grace_period_seconds: None,
        ignore_daemon_sets: true,
        delete_empty_dir_data: true,
        timeout_seconds: None,
    }
}

fn shell(script: String) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script]
}

/// An owner reference making `kind/name` (uid `uid`) the controller of the object.
pub(crate) fn controller_ref(kind: &str, name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: format!(
            "{}/{}",
            kairos_api::names::GROUP,
            kairos_api::names::VERSION
        ),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Labels of an upgrade NodeOp: `key=value` (value made label-safe).
pub(crate) fn labels(key: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(key.to_owned(), k8s_names::label_value(value))])
}
