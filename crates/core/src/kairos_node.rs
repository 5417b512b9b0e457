//! The `KairosNode` status as computed from an agent's report, and the judgement of a node whose
//! agent went silent. Pure: no I/O, no clock (`now` is an argument).
//!
//! # Who writes what
//!
//! Three writers share the status, each with its own server-side-apply field manager, so none
//! removes or reverts another's fields:
//! - the report service ([`REPORT_FIELD_MANAGER`]) owns `kairos`, `os`, `bootState`,
//!   `bootStateMessage`, `trustedBoot`, `inRam`, `upgradeFailure`, `bootID`,
//!   `cloudConfigHash`, `cloudConfigFiles`, `agentVersion`, `reportErrors`, `lastSeen` and the
//!   conditions `Reporting` and `Degraded` ([`REPORT_CONDITIONS`]); it applies exactly
//!   [`report_owned`] of the computed status;
//! - the `KairosNode` controller owns `upgrade`, `observedGeneration` and the conditions
//!   `UpToDate` and `Upgrading`;
//! - the `KairosNode` config controller owns `config` and the condition `ConfigApplied`.
//!
//! [`status_from_report`] still returns the whole status (the other writer's fields copied from
//! `previous`), so callers can compare and cache one value.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::names::conditions::{DEGRADED, REPORTING};
use kairos_api::v1alpha1::KairosNodeStatus;

use crate::conditions::{self, Desired};
use crate::report::{AgentReport, NodeFacts};

pub use kairos_api::names::REPORT_FIELD_MANAGER;
/// The conditions the report service owns.
pub const REPORT_CONDITIONS: [&str; 2] = [DEGRADED, REPORTING];

/// `Reporting=True`: the agent reported recently.
pub const REASON_AGENT_REPORTING: &str = "AgentReporting";
/// `Reporting=False`: no report for longer than the silence threshold.
pub const REASON_AGENT_SILENT: &str = "AgentSilent";
/// `Degraded=True`: the report carries errors (malformed or unreadable release files).
pub const REASON_MALFORMED_RELEASE: &str = "MalformedRelease";
/// `Degraded=False`: the report carries no errors.
pub const REASON_REPORT_CLEAN: &str = "ReportClean";

/// The longest `Degraded` message; longer error lists are cut (the full list is in
/// `status.reportErrors`).
const MAX_MESSAGE_LEN: usize = 1024;

/// Computes the status after `report`, from the `previous` status (`None` for a new
/// KairosNode), the object's `generation`, `now` and the `lastSeen` granularity.
///
/// Returns the new status and whether it differs from `previous` (whether to write it).
///
/// # Guarantees
/// - `upgrade`, `observedGeneration` and the conditions other than [`REPORT_CONDITIONS`] are
///   copied from `previous` untouched;
/// - `lastSeen` moves only when it is older than `lastseen_interval` (or absent), so repeated
///   identical reports within the interval return `changed == false`;
/// - `lastTransitionTime` of a condition moves only when its status flips.
pub fn status_from_report(
    report: &AgentReport,
    previous: Option<&KairosNodeStatus>,
    generation: Option<i64>,
    now: Timestamp,
    lastseen_interval: SignedDuration,
) -> (KairosNodeStatus, bool) {
    // The API stores seconds; computing with seconds keeps the comparison exact.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let facts = &report.facts;
    let last_seen = match previous.and_then(|p| p.last_seen.as_ref()) {
        Some(Time(seen)) if now.duration_since(*seen) < lastseen_interval => Time(*seen),
        _ => Time(now),
    };
    let degraded = if facts.errors.is_empty() {
        Desired::new(
            DEGRADED,
            false,
            REASON_REPORT_CLEAN,
            "the agent reported no errors",
        )
    } else {
        Desired::new(
            DEGRADED,
            true,
            REASON_MALFORMED_RELEASE,
            error_message(&facts.errors),
        )
    };
    let reporting = Desired::new(
        REPORTING,
        true,
        REASON_AGENT_REPORTING,
        "the node agent reports",
    );
    let status = KairosNodeStatus {
        kairos: facts.kairos.as_ref().map(|k| k.to_info()),
        os: facts.os.as_ref().map(|o| o.to_info()),
        boot_state: Some(facts.boot_state),
        boot_state_message: facts.boot_state_message.clone(),
        trusted_boot: Some(trusted_boot(facts)),
        in_ram: Some(facts.in_ram),
        upgrade_failure: Some(facts.upgrade_failure),
        boot_id: facts.boot_id.clone(),
        cloud_config_hash: Some(facts.cloud_config_hash.clone()).filter(|h| !h.is_empty()),
        cloud_config_files: facts.cloud_config_files.clone(),
        agent_version: Some(report.agent_version.clone()).filter(|v| !v.is_empty()),
        report_errors: facts.errors.clone(),
        last_seen: Some(last_seen),
        upgrade: previous.and_then(|p| p.upgrade.clone()),
        config: previous.and_then(|p| p.config.clone()),
        conditions: with_conditions(previous, &[degraded, reporting], generation, now),
        observed_generation: previous.and_then(|p| p.observed_generation),
    };
    let changed = previous.is_none_or(|p| !same_status(p, &status));
    (status, changed)
}

/// Whether the node booted a trusted-boot (UKI) image: the agent saw a UKI boot (sentinel or
/// command line), or the Kairos release says `KAIROS_TRUSTED_BOOT="true"`.
pub fn trusted_boot(facts: &NodeFacts) -> bool {
    facts.uki_boot
        || facts
            .kairos
            .as_ref()
            .and_then(|k| k.trusted_boot.as_deref())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// `Reporting=False` (reason [`REASON_AGENT_SILENT`]) when the node's `lastSeen` is older than
/// `threshold` and `Reporting` is not already false; `None` otherwise (nothing to write).
///
/// The threshold must exceed the `lastSeen` granularity plus a heartbeat or two, since
/// `lastSeen` is coarse on purpose.
pub fn stale_reporting(
    status: &KairosNodeStatus,
    now: Timestamp,
    threshold: SignedDuration,
) -> Option<Desired> {
    let Time(seen) = status.last_seen.as_ref()?;
    let silent_for = now.duration_since(*seen);
    if silent_for <= threshold {
        return None;
    }
    if conditions::find(&status.conditions, REPORTING).is_some_and(|c| c.status == "False") {
        return None;
    }
    let message = format!(
        "no report from the node agent for {}s (since {seen})",
        silent_for.as_secs()
    );
    Some(Desired::new(REPORTING, false, REASON_AGENT_SILENT, message))
}

/// `status` with `desired` merged into its conditions (transition times kept where the status
/// did not flip) and every other condition untouched.
pub fn with_condition(
    status: &KairosNodeStatus,
    desired: &Desired,
    generation: Option<i64>,
    now: Timestamp,
) -> KairosNodeStatus {
    KairosNodeStatus {
        conditions: with_conditions(Some(status), std::slice::from_ref(desired), generation, now),
        ..status.clone()
    }
}

/// The part of `status` the report service applies: everything but `upgrade`, `config`,
/// `observedGeneration` and the conditions it does not own.
pub fn report_owned(status: &KairosNodeStatus) -> KairosNodeStatus {
    KairosNodeStatus {
        upgrade: None,
        config: None,
        observed_generation: None,
        conditions: status
            .conditions
            .iter()
            .filter(|c| REPORT_CONDITIONS.contains(&c.type_.as_str()))
            .cloned()
            .collect(),
        ..status.clone()
    }
}

/// Whether two statuses are equal, conditions compared in any order (see [`conditions::same`]).
fn same_status(a: &KairosNodeStatus, b: &KairosNodeStatus) -> bool {
    // Field by field (no clones: this runs for every report); the exhaustive pattern makes a
    // new status field a compile error here until it is compared.
    let KairosNodeStatus {
        kairos,
        os,
        boot_state,
        boot_state_message,
        trusted_boot,
        in_ram,
        upgrade_failure,
        boot_id,
        cloud_config_hash,
        cloud_config_files,
        agent_version,
        report_errors,
        last_seen,
        upgrade,
        config,
        conditions: a_conditions,
        observed_generation,
    } = a;
    *kairos == b.kairos
        && *os == b.os
        && *boot_state == b.boot_state
        && *boot_state_message == b.boot_state_message
        && *trusted_boot == b.trusted_boot
        && *in_ram == b.in_ram
        && *upgrade_failure == b.upgrade_failure
        && *boot_id == b.boot_id
        && *cloud_config_hash == b.cloud_config_hash
        && *cloud_config_files == b.cloud_config_files
        && *agent_version == b.agent_version
        && *report_errors == b.report_errors
        && *last_seen == b.last_seen
        && *upgrade == b.upgrade
        && *config == b.config
        && *observed_generation == b.observed_generation
        && conditions::same(a_conditions, &b.conditions)
}

/// Merges `desired` into `previous`'s conditions, keeping the conditions of other types as they
/// are, sorted by type.
fn with_conditions(
    previous: Option<&KairosNodeStatus>,
    desired: &[Desired],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    let old = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let mut out = conditions::merge(old, desired, generation, now);
    out.extend(
        old.iter()
            .filter(|c| !desired.iter().any(|d| d.type_ == c.type_))
            .cloned(),
    );
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// The errors as one message, cut at a character boundary below [`MAX_MESSAGE_LEN`].
fn error_message(errors: &[String]) -> String {
    let mut message = errors.join("; ");
    if message.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str(" …");
    }
    message
}

#[cfg(test)]
mod tests;
