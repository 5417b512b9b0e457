//! The fleet cloud-config planner (`NodeOpConfig` -> owned multi-node `NodeOp`s). Pure: no I/O.
//!
//! A `NodeOpConfig` declares one configuration (the fields of a KairosNode's `spec.config`)
//! for the nodes its `nodeSelector` picks. The nodes that do not report the document yet
//! become the targets of one NodeOp of the engine, so control plane first, `concurrency`,
//! `stopOnFailure` and one operation per node hold as for a `NodeOpUpgrade`.
//!
//! # Rules
//! - **Where**: only in the operator's namespace (its Secret or ConfigMap and its NodeOps live
//!   there, and the engine mounts a source only for a NodeOp whose Job runs in the NodeOp's
//!   own namespace). Elsewhere nothing is created: `SpecApplied=False`, reason
//!   `WrongNamespace`.
//! - **The document** is checked as a KairosNode's ([`validate::check`](super::validate::check)):
//!   refused (`InvalidConfig`) or missing (`SourceMissing`), no NodeOp is created.
//! - **Nodes**: those `nodeSelector` matches (absent: every node with a KairosNode). Skipped,
//!   with the reason in `status.nodeStatuses`: a node without a KairosNode or without a report;
//!   a node whose KairosNode declares the same path in `spec.config` (the per-node declaration
//!   wins); a node an older NodeOpConfig (by creation time, then name) writes the same path to.
//!   A node reporting the managed file with the desired hash is applied and never re-run.
//! - **Rollout**: one NodeOp at a time, whose name carries a hash of what it writes (the
//!   document, path, reboot, stage) and of its targets; its targets are the nodes that differ
//!   and no NodeOp of the same document covers. Editing the Secret, ConfigMap or `spec.config`
//!   makes another document: once no NodeOp is in flight, the finished NodeOps of earlier
//!   documents are deleted and a new one writes the nodes that differ. A node that matches
//!   later gets a NodeOp of its own once none is in flight. `concurrency` and `stopOnFailure`
//!   are those of the NodeOps created after an edit.
//! - **Verification and drift**: a node whose write completed is in progress until it reports
//!   the desired hash, for the verify timeout after it finished; after that it counts as
//!   `drifted` (the file was changed on the node, or the write never showed): shown, not
//!   fought; delete the NodeOp named in its message to write it again. A failed write stays
//!   failed until its NodeOp is deleted.
//! - **Removal**: a NodeOpConfig carries the finalizer `operator.kairos.io/config-removal`.
//!   Deleted, it waits for its NodeOp in flight, then one NodeOp (no cordon, no reboot)
//!   removes the managed file from the nodes it wrote it to that still report it (not from a
//!   node whose KairosNode or an older NodeOpConfig declares that path); when it completed on
//!   every node the finalizer goes. A failed removal keeps the finalizer and says which nodes
//!   failed and how to let go.

mod model;
mod removal;
mod status;

#[cfg(test)]
mod tests;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::names::{LABEL_NODEOP_CONFIG, NODEOPCONFIG_FINALIZER};
use kairos_api::v1alpha1::{NodeOp, NodeOpConfig, NodePhase, NodeStatus, OperationPhase};

pub use model::{ConfigEvent, Finalizer, FleetConfigObserved, FleetConfigPlan};
use status::{Headline, NodeState, Tally};

use super::script::{WriteScript, render_write};
use super::source::ConfigSource;
use super::{ConfigOp, Owner, SourceRead, config_nodeop, content_tag, qualified, validate};
use crate::hash::short_hash;
use crate::k8s_names;
use crate::meta::{MissingField, Required};
use crate::report::sha256_hex;
use crate::upgrade::fleet::ObservedNode;
use crate::upgrade::node::NodeConfig;

/// Name of the NodeOp of NodeOpConfig `name` writing the document of SHA-256 `sha256` as
/// `spec` says to `targets` (sorted).
pub fn write_nodeop_name(
    name: &str,
    spec: &kairos_api::v1alpha1::NodeConfigSpec,
    sha256: &str,
    targets: &[String],
) -> String {
    let tag = format!(
        "{}-{}",
        content_tag(spec, sha256),
        short_hash(&[&targets.join(",")], 4)
    );
    k8s_names::object_name(&["nocfg", name], &tag)
}

/// Name of the NodeOp of NodeOpConfig `name` removing `path` after its deletion.
pub fn remove_nodeop_name(name: &str, path: &str) -> String {
    k8s_names::object_name(&["nocfg", name], &super::remove_tag(path))
}

/// Plans one reconcile of a NodeOpConfig (see the module docs).
///
/// # Errors
/// [`MissingField`] when it has no name, namespace or uid.
pub fn plan_fleet_config(
    cfg: &NodeOpConfig,
    observed: &FleetConfigObserved,
    now: Timestamp,
    settings: &NodeConfig,
) -> Result<FleetConfigPlan, MissingField> {
    let required = Required::new(&cfg.metadata, "the NodeOpConfig");
    let p = Planner {
        cfg,
        name: required.name()?,
        ns: required.namespace()?,
        uid: required.uid()?,
        observed,
        now,
        settings,
    };
    Ok(p.plan())
}

struct Planner<'a> {
    cfg: &'a NodeOpConfig,
    name: &'a str,
    ns: &'a str,
    uid: &'a str,
    observed: &'a FleetConfigObserved,
    now: Timestamp,
    settings: &'a NodeConfig,
}

/// Whether `op` has not finished (or is being deleted).
fn in_flight(op: &NodeOp) -> bool {
    let terminal = matches!(
        op.status.as_ref().and_then(|s| s.phase),
        Some(OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped)
    );
    !terminal || op.metadata.deletion_timestamp.is_some()
}

fn has_finalizer(cfg: &NodeOpConfig) -> bool {
    cfg.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == NODEOPCONFIG_FINALIZER)
}

/// `(creation time, name)`: the older one wins a path on a node.
fn age_key(cfg: &NodeOpConfig) -> (Option<Timestamp>, String) {
    (
        cfg.metadata.creation_timestamp.as_ref().map(|t| t.0),
        cfg.metadata.name.clone().unwrap_or_default(),
    )
}

/// Whether `cfg`'s selector picks `node` (absent: every node with a KairosNode).
fn selects(cfg: &NodeOpConfig, node: &ObservedNode) -> Result<bool, String> {
    match &cfg.spec.node_selector {
        None => Ok(node.kairos_node.is_some()),
        Some(sel) => {
            k8s_names::matches(sel, &node.labels).map_err(|e| format!("invalid nodeSelector: {e}"))
        }
    }
}

/// The record of `node` in `op` (its NodeOpTarget, else the NodeOp's listed status).
fn record<'o>(
    observed: &'o FleetConfigObserved,
    op: &'o NodeOp,
    node: &str,
) -> Option<&'o NodeStatus> {
    let name = op.metadata.name.as_deref().unwrap_or_default();
    observed
        .targets
        .get(name)
        .and_then(|t| t.get(node))
        .or_else(|| op.status.as_ref()?.node_statuses.get(node))
}

fn targets_of(op: &NodeOp) -> &[String] {
    op.spec.target_nodes.as_deref().unwrap_or_default()
}

impl Planner<'_> {
    fn old(&self) -> kairos_api::v1alpha1::NodeOpConfigStatus {
        self.cfg.status.clone().unwrap_or_default()
    }

    fn path(&self) -> &str {
        &self.cfg.spec.config.path
    }

    /// The NodeOps this object owns, oldest first.
    fn owned(&self) -> Vec<&NodeOp> {
        let mut ops: Vec<&NodeOp> = self
            .observed
            .nodeops
            .iter()
            .filter(|op| {
                op.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.uid == self.uid)
            })
            .collect();
        ops.sort_by_key(|op| {
            (
                op.metadata.creation_timestamp.as_ref().map(|t| t.0),
                op.metadata.name.clone(),
            )
        });
        ops
    }

    /// Why `node` is not this object's to write, if it is not.
    fn not_ours(&self, node: &ObservedNode) -> Option<String> {
        let path = self.path();
        let Some(kn) = &node.kairos_node else {
            return Some("no KairosNode (not a Kairos node, or its agent never reported)".into());
        };
        if kn.spec.config.as_ref().is_some_and(|c| c.path == path) {
            return Some(format!(
                "its KairosNode declares {path} in spec.config: the per-node declaration wins"
            ));
        }
        let mine = age_key(self.cfg);
        let older = self.observed.others.iter().find(|o| {
            o.metadata.uid.as_deref() != Some(self.uid)
                && o.metadata.namespace.as_deref() == Some(self.ns)
                && o.spec.config.path == path
                && age_key(o) < mine
                && selects(o, node).unwrap_or(false)
        });
        if let Some(o) = older {
            return Some(format!(
                "NodeOpConfig {} (older) writes {path} on this node",
                o.metadata.name.as_deref().unwrap_or_default()
            ));
        }
        None
    }

    /// A plan that counts no node: `reason` and `msg`, the NodeOp `node_op` followed.
    fn only(
        &self,
        reason: &'static str,
        msg: impl Into<String>,
        node_op: Option<String>,
        finalizer: Finalizer,
    ) -> FleetConfigPlan {
        let headline = Headline::new(reason, msg);
        self.finish(Tally::default(), headline, None, node_op, finalizer)
    }

    /// [`Self::only`] of a refused spec whose document hashes to `desired`.
    fn only_with_hash(
        &self,
        reason: &'static str,
        msg: impl Into<String>,
        desired: String,
        finalizer: Finalizer,
    ) -> FleetConfigPlan {
        let mut plan = self.only(reason, msg, None, finalizer);
        plan.status.desired_hash = Some(desired);
        plan
    }

    fn finish(
        &self,
        tally: Tally,
        headline: Headline,
        desired_hash: Option<String>,
        node_op: Option<String>,
        finalizer: Finalizer,
    ) -> FleetConfigPlan {
        let old = self.old();
        let events = status::event(&old, &headline).into_iter().collect();
        let status = status::assemble(
            &old,
            self.cfg.metadata.generation,
            tally,
            &headline,
            desired_hash,
            node_op,
            self.now,
        );
        FleetConfigPlan {
            status,
            finalizer,
            events,
            ..FleetConfigPlan::default()
        }
    }

    fn plan(&self) -> FleetConfigPlan {
        let has = has_finalizer(self.cfg);
        if self.ns != self.settings.namespace {
            let msg = format!(
                "a NodeOpConfig must be in the operator's namespace {} (its Secret or ConfigMap \
                 and its NodeOps live there), not {}: nothing is written",
                self.settings.namespace, self.ns
            );
            let fin = if has {
                Finalizer::Remove
            } else {
                Finalizer::Keep
            };
            return self.only("WrongNamespace", msg, None, fin);
        }
        if self.cfg.metadata.deletion_timestamp.is_some() {
            return self.removal(has);
        }
        let fin = if has { Finalizer::Keep } else { Finalizer::Add };
        let spec = &self.cfg.spec.config;
        let source = ConfigSource::of(spec);
        let content = match (&self.observed.source, &source) {
            (Some(SourceRead::Content(bytes)), Some(_)) => bytes,
            (Some(SourceRead::Missing(msg)), _) => {
                let msg = format!("{msg}: nothing is written");
                return self.only("SourceMissing", msg, None, fin);
            }
            _ => {
                let msg = "spec.config names no Secret or ConfigMap: nothing is written";
                return self.only("SourceMissing", msg, None, fin);
            }
        };
        let desired = sha256_hex(content);
        if let (Err(why), Some(s)) = (validate::check(content), &source) {
            let msg = format!(
                "{} {} key {} is not a cloud-config document ({why}): nothing is written",
                s.kind.kind(),
                s.name,
                s.key
            );
            return self.only_with_hash("InvalidConfig", msg, desired, fin);
        }
        self.rollout(&desired, source.as_ref(), fin)
    }

    fn rollout(
        &self,
        desired: &str,
        source: Option<&ConfigSource>,
        fin: Finalizer,
    ) -> FleetConfigPlan {
        let spec = &self.cfg.spec.config;
        let path = self.path();
        let tag = content_tag(spec, desired);
        let owned = self.owned();
        let prefix = k8s_names::object_name(&["nocfg", self.name], &format!("{tag}-0000"));
        let prefix = prefix.trim_end_matches("0000");
        let (current, stale): (Vec<&NodeOp>, Vec<&NodeOp>) = owned
            .iter()
            .filter(|op| op.metadata.name.as_deref() != Some(&remove_nodeop_name(self.name, path)))
            .partition(|op| {
                op.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(prefix))
            });
        let mut tally = Tally::default();
        for node in &self.observed.nodes {
            match selects(self.cfg, node) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(msg) => {
                    let msg = format!("{msg}: nothing is written");
                    return self.only_with_hash("InvalidSelector", msg, desired.to_owned(), fin);
                }
            }
            if let Some(why) = self.not_ours(node) {
                tally.add(node, NodeState::Skipped(why), None);
                continue;
            }
            let reported = node.kairos_node.as_ref().and_then(|kn| kn.status.as_ref());
            let Some(reported) = reported else {
                tally.add(
                    node,
                    NodeState::Skipped("no agent reports for this node yet".into()),
                    None,
                );
                continue;
            };
            let observed_hash = reported.cloud_config_files.get(path);
            if observed_hash.map(String::as_str) == Some(desired) {
                tally.add(node, NodeState::Applied, None);
                continue;
            }
            let reports = match observed_hash {
                Some(h) => format!("reports {path} with sha256 {h}"),
                None => format!("reports no {path}"),
            };
            let covering = current
                .iter()
                .rev()
                .find(|op| targets_of(op).contains(&node.name));
            match covering {
                None => tally.add(
                    node,
                    NodeState::ToWrite(format!("{reports}: to be written")),
                    None,
                ),
                Some(op) => {
                    let rec = record(self.observed, op, &node.name);
                    let state = self.node_state(op, rec, &reports);
                    tally.add(node, state, rec);
                }
            }
        }
        let mut plan_delete = Vec::new();
        let busy_op = owned.iter().find(|op| in_flight(op));
        let mut node_op = current.last().map(|op| (*op).clone());
        let mut created = None;
        let headline = if let Some(op) = busy_op {
            if stale.iter().any(|s| s.metadata.name == op.metadata.name) {
                Headline::new(
                    "Waiting",
                    format!(
                        "waiting for NodeOp {} (an earlier document) to end; {}",
                        qualified(op),
                        tally.summary()
                    ),
                )
            } else {
                Headline::new(
                    "Applying",
                    format!(
                        "NodeOp {} writes {path}: {}",
                        qualified(op),
                        tally.summary()
                    ),
                )
            }
        } else {
            plan_delete = stale
                .iter()
                .filter_map(|op| op.metadata.name.clone())
                .collect();
            if tally.to_write.is_empty() {
                self.settled(&tally)
            } else {
                let mut targets = tally.to_write.clone();
                targets.sort();
                let op = self.write_nodeop(desired, source, targets);
                let headline = Headline::new(
                    "Applying",
                    format!(
                        "NodeOp {} writes {path} on {} node(s): {}",
                        qualified(&op),
                        tally.to_write.len(),
                        tally.summary()
                    ),
                );
                node_op = Some(op.clone());
                created = Some(op);
                headline
            }
        };
        let name = node_op.and_then(|op| op.metadata.name);
        let mut plan = self.finish(tally, headline, Some(desired.to_owned()), name, fin);
        plan.nodeop_to_apply = created;
        plan.delete_nodeops = plan_delete;
        plan
    }

    /// The headline once nothing is in flight and nothing is left to write.
    fn settled(&self, tally: &Tally) -> Headline {
        let path = self.path();
        let summary = tally.summary();
        if tally.busy > 0 {
            Headline::new(
                "Applying",
                format!(
                    "waiting for {} node(s) to report the desired {path}: {summary}",
                    tally.busy
                ),
            )
        } else if tally.failed > 0 {
            Headline::new(
                "ApplyFailed",
                format!(
                    "writing {path} failed on {} node(s): {summary}",
                    tally.failed
                ),
            )
        } else if tally.stopped > 0 {
            Headline::new(
                "Stopped",
                format!("stopped after a failure (stopOnFailure): {summary}"),
            )
        } else if tally.drifted > 0 {
            Headline::new(
                "Drifted",
                format!(
                    "{} node(s) no longer report the desired {path}: {summary}",
                    tally.drifted
                ),
            )
        } else if tally.applied == 0 {
            Headline::new("NoNodes", format!("no node to write {path} to: {summary}"))
        } else {
            Headline::new(
                "Applied",
                format!("every selected node reports the desired {path}: {summary}"),
            )
        }
    }

    /// Where a node stands whose write `op` covers and that does not report the document.
    fn node_state(&self, op: &NodeOp, rec: Option<&NodeStatus>, reports: &str) -> NodeState {
        let opname = qualified(op);
        let phase = rec.map(|r| r.phase);
        let engine_msg = rec.and_then(|r| r.message.clone()).unwrap_or_default();
        match phase {
            Some(NodePhase::Completed) => {
                let finished = rec.and_then(|r| r.finished_at.as_ref()).map(|t| t.0);
                let limit = SignedDuration::try_from(self.settings.verify_timeout)
                    .unwrap_or(SignedDuration::MAX);
                let waiting = finished.is_none_or(|t| self.now.duration_since(t) <= limit);
                if waiting {
                    NodeState::InFlight(format!(
                        "NodeOp {opname} wrote it; waiting for the agent to report it ({reports})"
                    ))
                } else {
                    NodeState::Drifted(format!(
                        "NodeOp {opname} wrote it, but it {reports}: changed on the node; delete \
                         the NodeOp to write it again"
                    ))
                }
            }
            Some(p) if p.is_failure() || p == NodePhase::Skipped => NodeState::Failed(format!(
                "NodeOp {opname} failed on it: {engine_msg}; delete the NodeOp to retry"
            )),
            Some(NodePhase::Stopped) => NodeState::Stopped(format!(
                "NodeOp {opname} stopped before it (stopOnFailure); delete the NodeOp to retry"
            )),
            _ if !in_flight(op) => NodeState::Stopped(format!(
                "NodeOp {opname} ended without starting it; delete the NodeOp to retry"
            )),
            _ => NodeState::InFlight(format!("NodeOp {opname}: {engine_msg}")),
        }
    }

    fn write_nodeop(
        &self,
        desired: &str,
        source: Option<&ConfigSource>,
        targets: Vec<String>,
    ) -> NodeOp {
        let spec = &self.cfg.spec.config;
        let script = render_write(&WriteScript {
            path: &spec.path,
            sha256: desired,
            previous_path: None,
            run_stage: spec.run_stage.as_deref(),
        });
        let name = write_nodeop_name(self.name, spec, desired, &targets);
        self.nodeop(&name, script, spec.reboots(), source, targets)
    }

    fn nodeop(
        &self,
        name: &str,
        script: String,
        reboots: bool,
        source: Option<&ConfigSource>,
        targets: Vec<String>,
    ) -> NodeOp {
        let spec = ConfigOp {
            targets,
            script,
            reboots,
            concurrency: self.cfg.spec.concurrency,
            stop_on_failure: self.cfg.spec.stop_on_failure,
            gates: &self.settings.gates,
        }
        .spec();
        let owner = Owner {
            label: LABEL_NODEOP_CONFIG,
            kind: "NodeOpConfig",
            name: self.name,
            uid: self.uid,
        };
        config_nodeop(name, self.ns, &owner, source, spec)
    }
}
