//! Post-reboot verification of an upgrade and the Job's termination message. Pure: no I/O.

use kairos_api::v1alpha1::{BootState, KairosNodeStatus};

use super::script::UP_TO_DATE_MARKER;
use super::version::versions_equal;

/// What the node's latest report says about an upgrade after its reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// No conclusion yet: the node has not reported a new boot, or its report is incomplete.
    /// The caller applies its own timeout (then the node fails).
    Pending,
    /// The node rebooted into the target version from the active system.
    Succeeded,
    /// The node came back on the passive (fallback) system: the upgrade did not stick.
    RolledBack(String),
    /// The node rebooted into something else than the target (wrong version, recovery, live
    /// medium).
    Failed(String),
}

/// Judges an upgrade from the node's reported status after the reboot.
///
/// - `target_version`: the version the upgrade installs, when known (see
///   [`super::UpgradeTarget`]); when unknown only the reboot and the boot state are checked.
/// - `boot_id_before`: the boot ID recorded before the reboot (the NodeOp's
///   `nodeStatuses[node].bootIdBefore`).
///
/// # Guarantees
/// - Nothing is concluded from a report that still carries `boot_id_before`: the node has not
///   rebooted yet ([`Verification::Pending`]).
/// - Without `boot_id_before`, a reboot cannot be told apart from an old report: only a report
///   of the (known) target version booted active counts as [`Verification::Succeeded`]; anything
///   else stays [`Verification::Pending`].
/// - After a reboot: a reported boot-assessment fallback (`upgradeFailure`) ->
///   [`Verification::RolledBack`] whatever the boot state, with that evidence in the message;
///   `passive` -> [`Verification::RolledBack`] (on a trusted-boot node the message says that
///   systemd-boot's boot counting fell back); `recovery`, `autoreset` or `livecd` ->
///   [`Verification::Failed`]; `active` with another version than the target ->
///   [`Verification::Failed`]; `active` with the target (or any version when the target is
///   unknown) -> [`Verification::Succeeded`]; an unknown boot state or a missing version ->
///   [`Verification::Pending`].
pub fn verify_upgrade(
    target_version: Option<&str>,
    reported: &KairosNodeStatus,
    boot_id_before: Option<&str>,
) -> Verification {
    let boot_id = reported.boot_id.as_deref().filter(|b| !b.trim().is_empty());
    let version = reported.kairos.as_ref().and_then(|k| k.version.as_deref());
    let boot_state = reported.boot_state.unwrap_or_default();
    let rebooted = match (boot_id_before, boot_id) {
        (_, None) => return Verification::Pending,
        (Some(before), Some(now)) => before != now,
        (None, Some(_)) => {
            let known_good = target_version.is_some()
                && versions_equal(version, target_version)
                && boot_state == BootState::Active;
            return if known_good {
                Verification::Succeeded
            } else {
                Verification::Pending
            };
        }
    };
    if !rebooted {
        return Verification::Pending;
    }
    let runs = version.unwrap_or("an unknown version");
    let wanted = target_version.unwrap_or("the new image");
    if reported.upgrade_failure == Some(true) {
        return Verification::RolledBack(format!(
            "the boot assessment fell back (upgrade_failure) after failed boots of the upgraded active system; the node booted {} running {runs}: the upgrade to {wanted} did not stick",
            boot_state_phrase(boot_state)
        ));
    }
    match boot_state {
        BootState::Passive if reported.trusted_boot == Some(true) => {
            Verification::RolledBack(format!(
                "the node rebooted into its passive (fallback) trusted-boot entry running {runs}: systemd-boot's boot counting fell back from the upgraded active entry after its tries failed; the upgrade to {wanted} did not stick"
            ))
        }
        BootState::Passive => Verification::RolledBack(format!(
            "the node rebooted into the passive (fallback) system running {runs}: the upgrade to {wanted} did not stick"
        )),
        BootState::Recovery => Verification::Failed(format!(
            "the node rebooted into the recovery system instead of {wanted}"
        )),
        BootState::Autoreset => Verification::Failed(format!(
            "the node rebooted into the recovery system's state reset (autoreset) instead of {wanted}"
        )),
        BootState::Livecd => Verification::Failed(format!(
            "the node rebooted from a live medium instead of {wanted}"
        )),
        BootState::Unknown => Verification::Pending,
        BootState::Active => match (target_version, version) {
            (_, None) => Verification::Pending,
            (None, Some(_)) => Verification::Succeeded,
            (Some(_), Some(_)) if versions_equal(version, target_version) => {
                Verification::Succeeded
            }
            (Some(target), Some(v)) => Verification::Failed(format!(
                "the node rebooted into the active system running {v} instead of {target}"
            )),
        },
    }
}

/// How a boot state reads in a verification message.
fn boot_state_phrase(state: BootState) -> &'static str {
    match state {
        BootState::Active => "the active system",
        BootState::Passive => "the passive (fallback) system",
        BootState::Recovery => "the recovery system",
        BootState::Autoreset => "the state reset (autoreset)",
        BootState::Livecd => "a live medium",
        BootState::Unknown => "an unknown system",
    }
}

/// What a succeeded upgrade Job reported through its termination message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// The node was upgraded: reboot it and verify.
    Upgraded,
    /// The node already ran the image's version (the active system was not touched): do **not**
    /// reboot; the node is done (Completed, with `detail` as its message).
    UpToDate {
        /// Human-readable detail, e.g. `host already runs v3.6.0+k3sv1.33.1+k3s1`.
        detail: String,
    },
}

/// Reads the termination message of the upgrade Job's container (the container running the
/// NodeOp's `command`). The marker is the first line and its detail the second; anything after
/// (the boot ID the engine's wrapper appends) is ignored. Only meaningful for a Job that
/// succeeded: a failed Job is a failure whatever its message.
pub fn job_outcome(termination_message: Option<&str>) -> JobOutcome {
    let Some(message) = termination_message else {
        return JobOutcome::Upgraded;
    };
    let mut lines = message.lines();
    if lines.next().map(str::trim) != Some(UP_TO_DATE_MARKER) {
        return JobOutcome::Upgraded;
    }
    // Only the second line is the script's: the engine may append the boot ID after it.
    let detail = lines.next().map(str::trim).filter(|l| !l.is_empty());
    JobOutcome::UpToDate {
        detail: detail.unwrap_or("already up to date").to_owned(),
    }
}
