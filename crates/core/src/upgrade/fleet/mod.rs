//! The fleet upgrade planner (`NodeOpUpgrade` -> one owned `NodeOp`). Pure: no I/O.
//!
//! A `NodeOpUpgrade` becomes one owned `NodeOp` running the upgrade script, minus the nodes
//! that need no upgrade or belong to someone else, and its status mirrors that NodeOp's.
//!
//! # Rules
//! - **Candidates**: `targetNodes` if non-empty, else the nodes matching `nodeSelector`, else
//!   every *Kairos* node (with a KairosNode or the `kairos.io/managed=true` label; other nodes
//!   are reported as skipped, since `kairos-agent` does not exist on them).
//! - **Skipped** (reported with phase `Skipped` and a message, never given to the NodeOp): a node
//!   whose KairosNode `spec.version` is set ("pinned to v by KairosNode spec.version": a fleet
//!   upgrade never overrides, let alone downgrades, the admin's per-node choice, and never runs
//!   next to that node's own upgrade); unless `force`, a node already running the target
//!   version booted active ("already runs v": the image tag's Kairos version and Kubernetes
//!   distribution both match the report, see [`image_matches_release`]; only for active-only
//!   upgrades: the host's version says nothing about its recovery system); a node with another
//!   upgrade in flight; a node running from a live medium.
//! - **Fixed at start**: the NodeOp's `targetNodes` is computed once, when the NodeOp is
//!   created; afterwards the existing list is kept (the engine fixes it too). Nodes matching
//!   later are reported as skipped ("matched after the upgrade started"), not added silently.
//! - **Spec edits after the start**: the NodeOp is re-rendered from the current spec on every
//!   reconcile, so `image`, `concurrency`, `stopOnFailure`, `uncordonOnFailure`,
//!   `imagePullSecrets`, `debug` and the script reach it (nodes that have not started yet use
//!   them; a node in flight keeps its Job). Edits of the fields that choose the targets
//!   (`targetNodes`, `nodeSelector`, `force`, `upgradeActive`, `upgradeRecovery`) cannot
//!   change the fixed list: condition [`SPEC_APPLIED`] turns False with reason `TargetsFixed`
//!   saying so (create a new NodeOpUpgrade to change targets).
//! - A NodeOpUpgrade whose targets were all skipped creates no NodeOp and completes at once.
//! - **The target version must be known**: an `image` whose tag names no Kairos version
//!   (`quay.io/kairos/ubuntu`, `nginx:1.27`, `...:latest`) creates no NodeOp (nothing is
//!   cordoned); the upgrade is `Failed` with condition [`SPEC_APPLIED`] False, reason
//!   `VersionUnknown`, saying so. Fixing `image` starts it. An upgrade whose NodeOp exists
//!   already is followed as before.
//! - **The image must fit the targets**: when its reference names another flavor, variant,
//!   architecture or Kubernetes distribution than a target node reports
//!   ([`fit`](crate::upgrade::fit)), no NodeOp is created and the upgrade is `Failed`, reason
//!   `ImageMismatch`, naming the nodes and both sides, unless `allowSystemChange` is set.
//! - **Trusted boot must match**: a `trustedBoot` upgrade (a UKI container image) of a target
//!   that reports it does not boot trusted, or an upgrade without it of a target that boots
//!   trusted, creates no NodeOp (nothing is cordoned); the upgrade is `Failed`, reason
//!   `TrustedBootMismatch`, naming each such node and the image, whatever `allowSystemChange`
//!   says ([`boot_misfit`]). A trusted-boot upgrade runs the node's own `kairos-agent`
//!   ([`trusted_boot`](crate::upgrade::trusted_boot)).

mod model;
mod status;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{LABEL_MANAGED, LABEL_NODEOP_UPGRADE};
use kairos_api::v1alpha1::{
    BootState, NodeOp, NodeOpSpec, NodeOpUpgrade, NodePhase, OperationPhase, UpgradeState,
};

pub use kairos_api::names::conditions::SPEC_APPLIED;
pub use model::{FleetObserved, FleetPlan, ObservedNode};
use status::{Counts, Progress};

use crate::k8s_names;
use crate::meta::{MissingField, Required};
use crate::upgrade::fit::{boot_misfit, misfits};
use crate::upgrade::version::{image_matches_release, target_version_from_image};
use crate::upgrade::{
    ANNOTATION_TARGET_VERSION, ANNOTATION_TARGETS_HASH, ScriptOptions, SpecInput,
};

/// Name of the NodeOp a NodeOpUpgrade owns (in its namespace): the upgrade's own name, as
/// upstream does.
pub fn nodeop_name(upgrade_name: &str) -> String {
    upgrade_name.to_owned()
}

/// The script options of a NodeOpUpgrade.
pub fn script_options(upgrade: &NodeOpUpgrade) -> ScriptOptions {
    let s = &upgrade.spec;
    ScriptOptions {
        upgrade_active: s.upgrade_active,
        upgrade_recovery: s.upgrade_recovery,
        force: s.force,
        debug: s.debug,
    }
}

/// The spec of the NodeOp running `upgrade` on exactly `targets` (see the module docs).
pub fn nodeop_for_upgrade(upgrade: &NodeOpUpgrade, targets: &[String]) -> NodeOpSpec {
    let s = &upgrade.spec;
    crate::upgrade::nodeop_spec(SpecInput {
        image: &s.image,
        image_pull_secrets: s.image_pull_secrets.clone(),
        opts: script_options(upgrade),
        recovery_image: None,
        trusted_boot: s.trusted_boot,
        targets: targets.to_vec(),
        concurrency: s.concurrency,
        stop_on_failure: s.stop_on_failure,
        uncordon_on_failure: s.uncordon_on_failure,
        gates: crate::upgrade::UpgradeGates {
            gates: s.gates.clone(),
            resources: s.resources.clone(),
        },
    })
}

/// Why `node` is left out of the upgrade, or `None` when it is upgraded (see the module docs).
/// `implicit` is true when neither `targetNodes` nor `nodeSelector` chose the candidates;
/// `own_nodeop` is `<namespace>/<name>` of this upgrade's NodeOp (an upgrade of the node
/// recorded under that name is this one, not another in flight).
pub fn skip_reason(
    upgrade: &NodeOpUpgrade,
    node: &ObservedNode,
    implicit: bool,
    own_nodeop: &str,
) -> Option<String> {
    let kn = node.kairos_node.as_ref();
    let managed = node.labels.get(LABEL_MANAGED).is_some_and(|v| v == "true");
    if implicit && kn.is_none() && !managed {
        return Some(format!(
            "not a Kairos node (no KairosNode, no {LABEL_MANAGED} label)"
        ));
    }
    let kn = kn?;
    if let Some(pin) = kn.spec.version.as_deref().filter(|v| !v.trim().is_empty()) {
        return Some(format!("pinned to {pin} by KairosNode spec.version"));
    }
    let status = kn.status.as_ref()?;
    let kairos = status.kairos.clone().unwrap_or_default();
    let active = status.boot_state == Some(BootState::Active);
    if script_options(upgrade).skips_when_up_to_date()
        && active
        && image_matches_release(&upgrade.spec.image, &kairos)
    {
        return Some(format!(
            "already runs {}",
            kairos.version.unwrap_or_default()
        ));
    }
    if let Some(up) = &status.upgrade {
        let in_flight = matches!(
            up.state,
            UpgradeState::Pending | UpgradeState::InProgress | UpgradeState::Rebooting
        );
        let other = up.node_op.as_deref().filter(|op| *op != own_nodeop);
        if let (true, Some(op)) = (in_flight, other) {
            return Some(format!("another upgrade of this node is in flight ({op})"));
        }
    }
    (status.boot_state == Some(BootState::Livecd))
        .then(|| "runs from a live medium (not installed)".to_owned())
}

/// Plans one reconcile of a NodeOpUpgrade (see the module docs for the rules).
///
/// # Errors
/// [`MissingField`] when the upgrade has no name, namespace or uid.
pub fn plan_fleet(
    upgrade: &NodeOpUpgrade,
    observed: &FleetObserved,
    now: Timestamp,
) -> Result<FleetPlan, MissingField> {
    let meta = &upgrade.metadata;
    let required = Required::new(meta, "the upgrade");
    let name = required.name()?;
    let ns = required.namespace()?;
    let uid = required.uid()?;
    let op_name = nodeop_name(name);
    let own_ref = format!("{ns}/{op_name}");
    let hash = targets_hash(upgrade);
    let old = upgrade.status.clone().unwrap_or_default();
    let mut p = Progress::new(upgrade);

    let (candidates, implicit, missing) = match candidates(upgrade, &observed.nodes) {
        Ok(c) => c,
        Err(msg) => {
            p.spec_applied = (false, "InvalidSelector", msg.clone());
            p.phase = OperationPhase::Failed;
            p.message = Some(msg);
            return Ok(p.finish(&old, None, now));
        }
    };
    let evaluate = |node: &ObservedNode| skip_reason(upgrade, node, implicit, &own_ref);
    let report_missing = |p: &mut Progress, fixed: &BTreeSet<&str>| {
        for name in missing.iter().filter(|n| !fixed.contains(n.as_str())) {
            let node = ObservedNode {
                name: name.clone(),
                ..ObservedNode::default()
            };
            p.skip(&node, format!("no Node named {name} exists"));
        }
    };

    if let Some(op) = &observed.nodeop {
        let owned = op
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|r| r.uid == uid);
        if !owned {
            let msg = format!(
                "NodeOp {own_ref} exists and is not owned by this upgrade; delete or rename it"
            );
            p.spec_applied = (false, "NodeOpConflict", msg.clone());
            p.message = Some(msg);
            return Ok(p.finish(&old, None, now));
        }
        let targets = op.spec.target_nodes.clone().unwrap_or_default();
        let fixed: BTreeSet<&str> = targets.iter().map(String::as_str).collect();
        for (node_name, st) in &old.node_statuses {
            if st.phase == NodePhase::Skipped && !fixed.contains(node_name.as_str()) {
                p.skipped.insert(node_name.clone(), st.clone());
            }
        }
        for node in candidates
            .iter()
            .filter(|n| !fixed.contains(n.name.as_str()))
        {
            if !p.skipped.contains_key(&node.name) {
                let msg = evaluate(node).unwrap_or_else(|| {
                    "matched after the upgrade started; the target list is fixed at start".into()
                });
                p.skip(node, msg);
            }
        }
        report_missing(&mut p, &fixed);
        let started_hash = k8s_names::annotation(&op.metadata, ANNOTATION_TARGETS_HASH)
            .unwrap_or(&hash)
            .to_owned();
        if started_hash != hash {
            p.spec_applied = (false, "TargetsFixed", "targetNodes, nodeSelector, force, upgradeActive or upgradeRecovery changed after the upgrade started: the target list stays as it was fixed at start (create a new NodeOpUpgrade to change it); the other fields were applied".to_owned());
        }
        let status = op.status.clone().unwrap_or_default();
        p.phase = status.phase.unwrap_or_default();
        p.pending_targets = targets.len();
        if status.phase.is_some() {
            p.counts = Some(Counts {
                total: status.total,
                completed: status.completed,
                failed: status.failed,
                skipped: status.skipped,
                in_progress: status.in_progress,
            });
        }
        p.held = status.held.clone().map(|reason| {
            let message = status
                .conditions
                .iter()
                .find(|c| c.type_ == kairos_api::names::conditions::HELD)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            (reason, message)
        });
        p.running = status.node_statuses;
        p.node_op_name = Some(op_name.clone());
        if op.metadata.deletion_timestamp.is_some() {
            // Never fight a deletion; once it is gone the NodeOp is created again (as upstream
            // does): delete the NodeOpUpgrade, not its NodeOp, to stop an upgrade.
            p.message = Some(format!("NodeOp {own_ref} is being deleted"));
            return Ok(p.finish(&old, None, now));
        }
        let apply = build_nodeop(upgrade, &op_name, ns, uid, &targets, &started_hash);
        return Ok(p.finish(&old, Some(apply), now));
    }

    // No NodeOp: an upgrade that already finished without one stays finished.
    let finished = matches!(old.phase, Some(OperationPhase::Completed))
        && old.node_op_name.is_none()
        && old.observed_generation == meta.generation;
    if finished {
        p.skipped = old.node_statuses.clone();
        p.phase = OperationPhase::Completed;
        return Ok(p.finish(&old, None, now));
    }
    if target_version_from_image(&upgrade.spec.image).is_none() {
        let msg = format!(
            "image {:?} names no Kairos version in its tag (such as \
             24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1 or v3.6.0): nothing could verify \
             that a node booted it, so the upgrade does not start; set an image whose tag carries \
             the version",
            upgrade.spec.image
        );
        p.spec_applied = (false, "VersionUnknown", msg.clone());
        p.phase = OperationPhase::Failed;
        p.message = Some(msg);
        return Ok(p.finish(&old, None, now));
    }
    report_missing(&mut p, &BTreeSet::new());
    let mut targets = Vec::new();
    for node in &candidates {
        match evaluate(node) {
            Some(msg) => p.skip(node, msg),
            None => targets.push(node.name.clone()),
        }
    }
    targets.sort();
    if targets.is_empty() {
        p.phase = OperationPhase::Completed;
        return Ok(p.finish(&old, None, now));
    }
    if let Some(msg) = boot_misfit_message(upgrade, &candidates, &targets) {
        p.spec_applied = (false, "TrustedBootMismatch", msg.clone());
        p.phase = OperationPhase::Failed;
        p.message = Some(msg);
        return Ok(p.finish(&old, None, now));
    }
    if let Some(msg) = misfit_message(upgrade, &candidates, &targets) {
        p.spec_applied = (false, "ImageMismatch", msg.clone());
        p.phase = OperationPhase::Failed;
        p.message = Some(msg);
        return Ok(p.finish(&old, None, now));
    }
    p.phase = OperationPhase::Pending;
    p.pending_targets = targets.len();
    p.node_op_name = Some(op_name.clone());
    let apply = build_nodeop(upgrade, &op_name, ns, uid, &targets, &hash);
    Ok(p.finish(&old, Some(apply), now))
}

/// The reports of those `candidates` that are `targets`.
fn target_reports<'a>(
    candidates: &'a [&'a ObservedNode],
    targets: &'a [String],
) -> impl Iterator<Item = (&'a str, &'a kairos_api::v1alpha1::KairosNodeStatus)> {
    candidates
        .iter()
        .filter(|n| targets.binary_search(&n.name).is_ok())
        .filter_map(|n| Some((n.name.as_str(), n.kairos_node.as_ref()?.status.as_ref()?)))
}

/// At most [`MAX_MISFITS_LISTED`] of `misfits`, `; `-separated, then how many more there are.
fn listed(misfits: &[String]) -> String {
    let shown: Vec<&str> = misfits
        .iter()
        .take(MAX_MISFITS_LISTED)
        .map(String::as_str)
        .collect();
    let more = misfits.len().saturating_sub(MAX_MISFITS_LISTED);
    if more > 0 {
        format!("{} and {more} more", shown.join("; "))
    } else {
        shown.join("; ")
    }
}

/// Why the image's boot kind (trusted boot or not, as `trustedBoot` declares) does not fit some
/// of `targets` as their agents report them, naming each node and the image; `allowSystemChange`
/// does not lift it (see [`boot_misfit`]).
fn boot_misfit_message(
    upgrade: &NodeOpUpgrade,
    candidates: &[&ObservedNode],
    targets: &[String],
) -> Option<String> {
    let s = &upgrade.spec;
    let misfits: Vec<String> = target_reports(candidates, targets)
        .filter_map(|(name, st)| boot_misfit(name, &s.image, s.trusted_boot, st.trusted_boot))
        .collect();
    (!misfits.is_empty()).then(|| {
        format!(
            "{} target node(s) cannot be upgraded from this image: {}; nothing was started",
            misfits.len(),
            listed(&misfits)
        )
    })
}

/// Why the image does not fit some of `targets` as their agents report them (at most
/// [`MAX_MISFITS_LISTED`] named), or `None` when it fits them all or `allowSystemChange` is set.
fn misfit_message(
    upgrade: &NodeOpUpgrade,
    candidates: &[&ObservedNode],
    targets: &[String],
) -> Option<String> {
    if upgrade.spec.allow_system_change {
        return None;
    }
    let image = &upgrade.spec.image;
    let misfits: Vec<String> = target_reports(candidates, targets)
        .filter_map(|(name, st)| {
            let m = misfits(image, st.kairos.as_ref()?);
            (!m.is_empty()).then(|| format!("{name} ({})", m.join(", ")))
        })
        .collect();
    if misfits.is_empty() {
        return None;
    }
    Some(format!(
        "image {image} does not fit {} target node(s): {}; nothing was started (set \
         allowSystemChange: true to change the system on purpose, or select other nodes)",
        misfits.len(),
        listed(&misfits)
    ))
}

/// At most this many misfit nodes are named in a message.
const MAX_MISFITS_LISTED: usize = 5;

/// The candidate nodes, whether they were chosen implicitly (all nodes), and the names in
/// `targetNodes` that match no Node.
fn candidates<'a>(
    upgrade: &NodeOpUpgrade,
    nodes: &'a [ObservedNode],
) -> Result<(Vec<&'a ObservedNode>, bool, Vec<String>), String> {
    if let Some(names) = upgrade.spec.target_nodes.as_ref().filter(|t| !t.is_empty()) {
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let found: Vec<&ObservedNode> = nodes
            .iter()
            .filter(|n| wanted.contains(n.name.as_str()))
            .collect();
        let missing = wanted
            .iter()
            .filter(|w| !found.iter().any(|n| n.name == **w))
            .map(|w| (*w).to_owned())
            .collect();
        return Ok((found, false, missing));
    }
    if let Some(sel) = &upgrade.spec.node_selector {
        let mut out = Vec::new();
        for n in nodes {
            let matched = k8s_names::matches(sel, &n.labels)
                .map_err(|e| format!("invalid nodeSelector: {e}"))?;
            if matched {
                out.push(n);
            }
        }
        return Ok((out, false, Vec::new()));
    }
    Ok((nodes.iter().collect(), true, Vec::new()))
}

fn targets_hash(upgrade: &NodeOpUpgrade) -> String {
    let s = &upgrade.spec;
    let targets = serde_json::to_string(&s.target_nodes).unwrap_or_default();
    let selector = serde_json::to_string(&s.node_selector).unwrap_or_default();
    let flags = format!("{}/{}/{}", s.force, s.upgrade_active, s.upgrade_recovery);
    crate::hash::short_hash(&[&targets, &selector, &flags], 16)
}

fn build_nodeop(
    upgrade: &NodeOpUpgrade,
    name: &str,
    ns: &str,
    uid: &str,
    targets: &[String],
    hash: &str,
) -> NodeOp {
    let mut annotations = BTreeMap::from([(ANNOTATION_TARGETS_HASH.to_owned(), hash.to_owned())]);
    if let Some(v) = target_version_from_image(&upgrade.spec.image) {
        annotations.insert(ANNOTATION_TARGET_VERSION.to_owned(), v);
    }
    let owner = upgrade.metadata.name.as_deref().unwrap_or(name);
    NodeOp {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: Some(crate::upgrade::labels(LABEL_NODEOP_UPGRADE, owner)),
            annotations: Some(crate::upgrade::with_installed_image(
                annotations,
                &upgrade.spec.image,
                upgrade.spec.trusted_boot,
            )),
            owner_references: Some(vec![crate::upgrade::controller_ref(
                "NodeOpUpgrade",
                owner,
                uid,
            )]),
            ..ObjectMeta::default()
        },
        spec: nodeop_for_upgrade(upgrade, targets),
        status: None,
    }
}
