//! The per-node upgrade planner (`KairosNode.spec.version`). Pure: no I/O.
//!
//! `spec.version` (with `spec.image`, or an image derived from the node's report) becomes a
//! single-node upgrade `NodeOp`, and `status.upgrade` plus the `UpToDate` and `Upgrading`
//! conditions follow that NodeOp, or the fleet upgrade running on the node.
//!
//! # Rules
//! - An operation already in flight on the node (its own NodeOp, else a fleet NodeOp) is
//!   followed and never disturbed; a new one starts only when nothing is in flight.
//! - A new NodeOp starts when `spec.version` is set, differs from the reported version (or
//!   `force`), the node is not `paused`, is installed (not a live medium), an image is known,
//!   and no NodeOp for this very target exists already. A NodeOp for the same target that
//!   ended (Completed, Failed, RolledBack) is not restarted by itself, so a failure never turns
//!   into a reboot loop: delete that NodeOp to retry (the message says so; `attempts` counts).
//! - Nothing is started for a KairosNode no agent reports for (made by hand: not created by
//!   the report service): `Upgrading` and `UpToDate` say so with reason `NoAgentReport`. Nor for
//!   a `spec.version` that is not a Kairos version (reason `InvalidVersion`; the CRD refuses
//!   one, this guards objects stored before). A KairosNode whose Node does not exist is
//!   deleted (`delete_kairos_node`; its NodeOps go with it through their owner reference).
//! - `spec.paused` is carried to the node's own NodeOp (`spec.paused`, re-applied on every
//!   reconcile), so pausing after the NodeOp was created still holds the node while the engine
//!   has not started it; the engine decides what a paused NodeOp does with a node already
//!   started.
//! - A finished NodeOp for an older target is deleted first (its finalizer uncordons what it
//!   cordoned), and the new one is created on a later reconcile.
//! - `status.upgrade.state` maps the engine's node phase: Pending/Preflight -> Pending;
//!   Cordoning/Draining/Running -> InProgress; Rebooting/Verifying/Uncordoning -> Rebooting;
//!   Completed/Skipped -> Completed; Failed/Stopped -> Failed; RolledBack -> RolledBack.
//! - For an upgrade that reboots, the node's own report has the last word (an upgrade counts
//!   as done only when the agent reports the target booted active): from the engine's
//!   Rebooting on, [`verify_upgrade`](crate::upgrade::verify_upgrade) on the KairosNode status
//!   turns a passive boot into RolledBack and a wrong boot into Failed at once; from Verifying on,
//!   until the report shows the target booted active the state stays Rebooting (even when the
//!   engine already says Completed), and becomes Failed once `verify_timeout` has passed since
//!   the engine's phase began. The engine's own reboot timeout governs its Rebooting phase.

mod model;
mod status;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{LABEL_KAIROSNODE, conditions};
use kairos_api::v1alpha1::{
    BootState, KairosNode, KairosNodeStatus, NodeOp, UpgradeState, UpgradeStatus,
};

pub use model::{NodeConfig, NodeObserved, NodePlan};
use status::{
    MapCtx, entry, idle, in_flight, newest, note, pending, qualified, starting, state_reason,
};

use crate::conditions::{Desired, merge};
use crate::hash::short_hash;
use crate::k8s_names;
use crate::meta::{MissingField, Required};
use crate::upgrade::fit::{boot_misfit, misfits};
use crate::upgrade::image::derive_image;
use crate::upgrade::version::{is_kairos_version, versions_equal};
use crate::upgrade::{ANNOTATION_TARGET_VERSION, ScriptOptions, SpecInput};

/// Whether `kn` was written by the report service, i.e. an agent reports for it: its managed
/// fields name [`REPORT_FIELD_MANAGER`](crate::kairos_node::REPORT_FIELD_MANAGER). Needs the
/// object as read from the API server (caches may drop managed fields).
pub fn reported_by_agent(kn: &KairosNode) -> bool {
    kn.metadata
        .managed_fields
        .iter()
        .flatten()
        .any(|m| m.manager.as_deref() == Some(crate::kairos_node::REPORT_FIELD_MANAGER))
}

/// The version `kn` asks for: `spec.version` trimmed, `None` when absent or blank.
pub fn requested_version(kn: &KairosNode) -> Option<&str> {
    kn.spec
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether the upgrade side has nothing to say about `kn` yet: no version is asked, no upgrade
/// is recorded, and no report has arrived. The report service creates a KairosNode and then
/// writes its first report; answering in between would cost every new node a status write
/// that the report makes stale at once.
pub fn awaits_first_report(kn: &KairosNode) -> bool {
    let asks = requested_version(kn).is_some();
    let status = kn.status.as_ref();
    let recorded = status.is_some_and(|s| s.upgrade.is_some());
    let reported =
        status.is_some_and(|s| s.last_seen.is_some() || s.boot_id.is_some() || s.kairos.is_some());
    !asks && !recorded && !reported
}

/// Name of the NodeOp upgrading `node` to `version`: `kn-<node>-<version>` when that is a valid
/// name (a DNS-1123 subdomain) of at most 63 characters, so names derived from it stay short;
/// otherwise a name made by [`k8s_names::object_name`] from that text and a hash of `node` and
/// `version`, so distinct inputs keep distinct names.
pub fn nodeop_name(node: &str, version: &str) -> String {
    let parts = ["kn", node, version.trim()];
    let readable = parts.join("-");
    if readable.len() <= k8s_names::MAX_DNS_LABEL_LEN && k8s_names::is_dns_subdomain(&readable) {
        return readable;
    }
    k8s_names::object_name(&[&readable], &short_hash(&parts, 8))
}

/// Plans one reconcile of a KairosNode's upgrade (see the module docs for the rules).
///
/// # Errors
/// [`MissingField`] when the KairosNode has no name or uid.
pub fn plan_node(
    kn: &KairosNode,
    observed: &NodeObserved,
    now: Timestamp,
    config: &NodeConfig,
) -> Result<NodePlan, MissingField> {
    let required = Required::new(&kn.metadata, "the node upgrade");
    let node = required.name()?;
    let uid = required.uid()?;
    let status = kn.status.clone().unwrap_or_default();
    let prev = status.upgrade.clone();
    let desired = requested_version(kn);
    let current = status.kairos.as_ref().and_then(|k| k.version.as_deref());
    let force = kn.spec.force.unwrap_or(false);
    let ctx = MapCtx {
        status: &status,
        prev: prev.as_ref(),
        now,
        config,
    };

    let own = observed.own_nodeop.as_ref().map(|op| (op, entry(op, node)));
    let fleet = observed
        .fleet_nodeop
        .as_ref()
        .map(|op| (op, entry(op, node)));
    let mut plan = Outcome::default();

    if observed.node_missing {
        plan.upgrade = prev.clone().unwrap_or_else(|| idle(current));
        let msg = format!("no Node named {node} exists: this KairosNode is removed");
        note(&mut plan.upgrade, &msg);
        plan.blocked = Some(("NodeMissing", msg));
        plan.delete_kairos_node = true;
        return Ok(plan.finish(kn, desired, now));
    }

    if let Some((op, e)) = in_flight(own) {
        plan.upgrade = ctx.map(op, e);
        if let Some(want) = desired.map(|v| nodeop_name(node, v)) {
            let terminating = op.metadata.deletion_timestamp.is_some();
            if op.metadata.name.as_deref() == Some(want.as_str()) && !terminating {
                plan.apply = build(kn, uid, &want, desired, config, &status).ok();
                if kn.spec.paused.unwrap_or(false) {
                    note(
                        &mut plan.upgrade,
                        "paused: the node is held unless it is already past its start",
                    );
                }
            } else if let Some(v) = desired {
                note(
                    &mut plan.upgrade,
                    &format!("spec.version now asks for {v}: it starts when this upgrade ends"),
                );
            }
        }
    } else if let Some((op, e)) = in_flight(fleet) {
        plan.upgrade = ctx.map(op, e);
        if desired.is_some() {
            note(
                &mut plan.upgrade,
                "this node's own upgrade waits for the fleet upgrade to finish on it",
            );
        }
    } else {
        let record = newest(own, fleet)
            .map(|(op, e)| ctx.map(op, e))
            .or(prev.clone());
        let Some(want_version) = desired else {
            plan.upgrade = record.unwrap_or_else(|| idle(current));
            return Ok(plan.finish(kn, None, now));
        };
        let want = nodeop_name(node, want_version);
        let own_same = own.filter(|(op, _)| op.metadata.name.as_deref() == Some(want.as_str()));
        let at_version = versions_equal(current, Some(want_version))
            && status.boot_state == Some(BootState::Active);
        let record_for_want =
            record.filter(|r| versions_equal(r.target_version.as_deref(), Some(want_version)));
        if let Some((op, e)) = own_same {
            plan.upgrade = ctx.map(op, e);
            if matches!(
                plan.upgrade.state,
                UpgradeState::Failed | UpgradeState::RolledBack
            ) {
                note(
                    &mut plan.upgrade,
                    &format!("delete NodeOp {} to retry", qualified(op)),
                );
            }
        } else if observed.no_agent_report {
            let msg = format!(
                "no agent reports for this node (the KairosNode was not created by the report \
                 service): spec.version {want_version} is not acted on"
            );
            plan.upgrade = pending(&ctx, want_version, None, msg.clone());
            plan.blocked = Some(("NoAgentReport", msg));
        } else if !is_kairos_version(want_version) {
            let msg = format!(
                "spec.version {want_version:?} is not a Kairos version (such as v3.6.0, v3.6.0-rc1 \
                 or v3.6.0-beta.2): nothing is done"
            );
            plan.upgrade = pending(&ctx, want_version, None, msg.clone());
            plan.blocked = Some(("InvalidVersion", msg));
        } else if at_version
            && (!force
                || record_for_want
                    .as_ref()
                    .is_some_and(|r| r.state == UpgradeState::Completed))
        {
            plan.upgrade = record_for_want.unwrap_or_else(|| idle(current));
        } else if kn.spec.paused.unwrap_or(false) {
            plan.upgrade = pending(
                &ctx,
                want_version,
                None,
                format!("paused: spec.paused holds the upgrade to {want_version}"),
            );
            plan.blocked = Some(("Paused", plan.upgrade.message.clone().unwrap_or_default()));
        } else if status.boot_state == Some(BootState::Livecd) {
            let msg = "the node runs from a live medium (not installed): it cannot be upgraded"
                .to_owned();
            plan.upgrade = pending(&ctx, want_version, None, msg.clone());
            plan.blocked = Some(("NotInstalled", msg));
        } else {
            match build(kn, uid, &want, desired, config, &status) {
                Err((reason, msg)) => {
                    plan.upgrade = pending(&ctx, want_version, None, msg.clone());
                    plan.blocked = Some((reason, msg));
                }
                Ok(op) => {
                    let image = crate::upgrade::installed_image(&op);
                    if let Some((old, _)) = own {
                        plan.delete = old.metadata.name.clone();
                        let msg = format!(
                            "removing the previous upgrade NodeOp {} first",
                            qualified(old)
                        );
                        plan.upgrade = pending(&ctx, want_version, Some(image), msg);
                    } else {
                        let msg = format!(
                            "upgrade to {want_version} requested: NodeOp {}/{want} created",
                            config.namespace
                        );
                        plan.upgrade = starting(
                            &ctx,
                            want_version,
                            image,
                            format!("{}/{want}", config.namespace),
                            msg,
                        );
                        plan.apply = Some(op);
                    }
                }
            }
        }
    }
    Ok(plan.finish(kn, desired, now))
}

#[derive(Default)]
struct Outcome {
    apply: Option<NodeOp>,
    delete: Option<String>,
    delete_kairos_node: bool,
    upgrade: UpgradeStatus,
    blocked: Option<(&'static str, String)>,
}

impl Outcome {
    fn finish(self, kn: &KairosNode, desired: Option<&str>, now: Timestamp) -> NodePlan {
        let status = kn.status.clone().unwrap_or_default();
        let current = status.kairos.as_ref().and_then(|k| k.version.as_deref());
        let state = self.upgrade.state;
        let state_msg = self.upgrade.message.clone().unwrap_or_default();
        let up_to_date = match desired {
            None => Desired::new(
                conditions::UP_TO_DATE,
                true,
                "NoVersionRequested",
                "spec.version is empty: no version requested",
            ),
            Some(v)
                if versions_equal(current, Some(v))
                    && status.boot_state == Some(BootState::Active) =>
            {
                Desired::new(
                    conditions::UP_TO_DATE,
                    true,
                    "AtVersion",
                    format!("the node runs {v}"),
                )
            }
            Some(v) => {
                let reason = self.blocked.as_ref().map(|b| b.0).unwrap_or(match state {
                    UpgradeState::Pending => "UpgradePending",
                    UpgradeState::InProgress | UpgradeState::Rebooting => "Upgrading",
                    UpgradeState::Failed => "UpgradeFailed",
                    UpgradeState::RolledBack => "RolledBack",
                    UpgradeState::Idle | UpgradeState::Completed => "VersionMismatch",
                });
                let runs = current.unwrap_or("an unknown version");
                Desired::new(
                    conditions::UP_TO_DATE,
                    false,
                    reason,
                    format!("the node runs {runs}, spec.version asks for {v}: {state_msg}"),
                )
            }
        };
        let upgrading = match (&self.blocked, state) {
            (None, UpgradeState::Pending | UpgradeState::InProgress | UpgradeState::Rebooting) => {
                Desired::new(conditions::UPGRADING, true, state_reason(state), state_msg)
            }
            (Some((reason, msg)), _) => {
                Desired::new(conditions::UPGRADING, false, *reason, msg.clone())
            }
            (None, _) => Desired::new(conditions::UPGRADING, false, state_reason(state), state_msg),
        };
        NodePlan {
            nodeop_to_apply: self.apply,
            delete_nodeop: self.delete,
            delete_kairos_node: self.delete_kairos_node,
            upgrade: self.upgrade,
            conditions: merge(
                &status.conditions,
                &[up_to_date, upgrading],
                kn.metadata.generation,
                now,
            ),
        }
    }
}

/// The single-node upgrade NodeOp named `name`, or why not (a condition reason and message):
/// its image is unknown, or does not fit the node.
fn build(
    kn: &KairosNode,
    uid: &str,
    name: &str,
    desired: Option<&str>,
    config: &NodeConfig,
    status: &KairosNodeStatus,
) -> Result<NodeOp, (&'static str, String)> {
    let node = kn.metadata.name.as_deref().unwrap_or_default();
    let version = desired.unwrap_or_default();
    let trusted_boot = kn.spec.trusted_boot.unwrap_or(false);
    let image = match kn
        .spec
        .image
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
    {
        Some(image) => {
            check_fits(kn, status, "spec.image", image)?;
            image.to_owned()
        }
        None if trusted_boot => {
            let msg = "spec.trustedBoot needs spec.image: the image a node's report derives is \
                       its base image, not a UKI container image signed with its keys; nothing is \
                       done";
            return Err(("ImageUnknown", msg.to_owned()));
        }
        None => derive_image(&status.kairos.clone().unwrap_or_default(), version)
            .map_err(|e| ("ImageUnknown", e.to_string()))?,
    };
    let recovery_image = kn
        .spec
        .recovery_image
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty() && kn.spec.upgrade_recovery.unwrap_or(false));
    if let Some(recovery) = recovery_image {
        check_fits(kn, status, "spec.recoveryImage", recovery)?;
    }
    if let Some(msg) = boot_misfit(node, &image, trusted_boot, status.trusted_boot) {
        return Err(("TrustedBootMismatch", format!("{msg}; nothing is done")));
    }
    let opts = ScriptOptions {
        upgrade_active: true,
        upgrade_recovery: kn.spec.upgrade_recovery.unwrap_or(false),
        force: kn.spec.force.unwrap_or(false),
        debug: false,
    };
    let mut spec = crate::upgrade::nodeop_spec(SpecInput {
        image: &image,
        image_pull_secrets: None,
        opts,
        recovery_image,
        trusted_boot,
        targets: vec![node.to_owned()],
        concurrency: 1,
        stop_on_failure: false,
        uncordon_on_failure: false,
        gates: crate::upgrade::UpgradeGates {
            gates: config.gates.clone(),
            resources: None,
        },
    });
    spec.paused = kn.spec.paused.filter(|paused| *paused);
    Ok(NodeOp {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(config.namespace.clone()),
            labels: Some(crate::upgrade::labels(LABEL_KAIROSNODE, node)),
            annotations: Some(crate::upgrade::with_installed_image(
                [(ANNOTATION_TARGET_VERSION.to_owned(), version.to_owned())].into(),
                &image,
                trusted_boot,
            )),
            owner_references: Some(vec![crate::upgrade::controller_ref(
                "KairosNode",
                node,
                uid,
            )]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// Refuses `image` (named `field` in the message) when it does not fit the node's report,
/// unless the KairosNode allows a system change.
fn check_fits(
    kn: &KairosNode,
    status: &KairosNodeStatus,
    field: &str,
    image: &str,
) -> Result<(), (&'static str, String)> {
    let misfits = misfits(image, &status.kairos.clone().unwrap_or_default());
    if misfits.is_empty() || kn.spec.allow_system_change.unwrap_or(false) {
        return Ok(());
    }
    let msg = format!(
        "{field} {image} does not fit this node ({}): nothing is done; set \
         spec.allowSystemChange: true to change the system on purpose",
        misfits.join("; ")
    );
    Err(("ImageMismatch", msg))
}
