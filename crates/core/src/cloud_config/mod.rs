//! The per-node cloud-config planner (`KairosNode.spec.config`). Pure: no I/O.
//!
//! The desired document (a key of a Secret or ConfigMap the operator read) is compared, by
//! SHA-256, with the hash the node's agent reports for the managed file; a difference becomes
//! a single-node `NodeOp` of the engine that writes the file (or removes it), and
//! `status.config` plus the `ConfigApplied` condition say where it stands.
//!
//! # Rules
//! - A document that is not a `#cloud-config` YAML mapping ([`validate::check`]) is refused:
//!   no NodeOp, `ConfigApplied=False` reason `InvalidConfig`. A missing Secret, ConfigMap or
//!   key: reason `SourceMissing`. A KairosNode no agent reports for: `NoAgentReport`.
//! - `ConfigApplied` is True (reason `Applied`) when the node reports the managed file with the
//!   desired hash, whatever operation is in flight; `appliedHash` records it.
//! - One cloud-config NodeOp per node at a time: one in flight is followed; a finished one for
//!   another document (the Secret was edited, the path changed) is deleted first, and the new
//!   one created on a later reconcile. Its name carries a hash of what it writes, so a finished
//!   NodeOp for the very same document is never started again by itself: when it Completed and
//!   the node reported the document before (`appliedHash`) but now reports another hash (or
//!   none), the file was changed on the node: `Drifted`, and deleting the NodeOp writes it
//!   again; when it Completed and the node never reported it, the planner waits for the report
//!   (`Verifying`) until `verify_timeout` after the node finished, then says `Failed`
//!   (`VerifyFailed`); when it failed: `ApplyFailed`, delete the NodeOp to retry. A removal is
//!   verified the same way.
//! - Removing `spec.config` removes the file `status.config.path` names, through a NodeOp
//!   that only deletes that file (no cordon, no reboot: the node keeps what the file did until
//!   its next boot); once the node reports no such file, the state is `Removed` and the
//!   condition says the file was deleted. A KairosNode that never declared a configuration gets
//!   neither `status.config` nor the condition.
//! - The NodeOp's Job runs in the operator's default image with the source mounted read-only
//!   (see [`source`]) and the scripts of [`script`]; it cordons, drains and reboots only when
//!   the spec asks for a reboot (`reboot`, default true). The engine's rules hold as for any
//!   NodeOp: one operation per node, control plane first, `--max-disrupted-nodes`.

pub mod fleet;
mod model;
pub mod script;
pub mod source;
pub mod validate;

#[cfg(test)]
pub(crate) mod tests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::names::conditions::CONFIG_APPLIED;
use kairos_api::names::{ANNOTATION_CONFIG_SOURCE, LABEL_KAIROSNODE_CONFIG};
use kairos_api::v1alpha1::{
    ConfigState, ConfigStatus, KairosNode, NodeConfigSpec, NodeOp, NodeOpSpec, NodePhase,
    OperationPhase,
};

pub use model::{ConfigObserved, ConfigPlan, SourceRead};
use script::{WriteScript, render_remove, render_write};
use source::ConfigSource;

use crate::conditions::{Desired, merge};
use crate::hash::short_hash;
use crate::k8s_names;
use crate::meta::{MissingField, Required};
use crate::report::sha256_hex;
use crate::upgrade::node::NodeConfig;

/// Retries of the config Job's pod: writing one file either works or fails the same way.
pub const CONFIG_BACKOFF_LIMIT: i32 = 1;
/// `jobTimeoutSeconds` of a config NodeOp.
pub const CONFIG_JOB_TIMEOUT_SECONDS: i64 = 10 * 60;

/// A short hash of what writing `spec` does: the document (SHA-256 `sha256`), the path, the
/// reboot and the stage. The names of the NodeOps that write a configuration carry it.
pub(crate) fn content_tag(spec: &NodeConfigSpec, sha256: &str) -> String {
    let reboot = if spec.reboots() {
        "reboot"
    } else {
        "no-reboot"
    };
    let stage = spec.run_stage.as_deref().unwrap_or_default();
    short_hash(&[sha256, &spec.path, reboot, stage], 8)
}

/// Name of the NodeOp writing the document of SHA-256 `sha256` to `spec.path` on `node`.
pub fn write_nodeop_name(node: &str, spec: &NodeConfigSpec, sha256: &str) -> String {
    k8s_names::object_name(&["kncfg", node], &content_tag(spec, sha256))
}

/// What a cloud-config NodeOp runs, on which nodes, at which pace.
pub(crate) struct ConfigOp<'a> {
    /// The target nodes.
    pub(crate) targets: Vec<String>,
    /// The write or remove script.
    pub(crate) script: String,
    /// Cordon, drain and reboot around the script.
    pub(crate) reboots: bool,
    /// At most this many nodes at once (0: all).
    pub(crate) concurrency: i32,
    /// Start no new node after a failure.
    pub(crate) stop_on_failure: bool,
    /// The gates of the operation.
    pub(crate) gates: &'a kairos_api::v1alpha1::Gates,
}

impl ConfigOp<'_> {
    /// The NodeOp spec: the operator's default image, the host root at [`script::HOST_DIR`],
    /// cordon and drain only with a reboot, a failed node uncordoned (writing one file leaves
    /// it as it was).
    pub(crate) fn spec(self) -> NodeOpSpec {
        let reboots = self.reboots;
        NodeOpSpec {
            node_selector: None,
            target_nodes: Some(self.targets),
            image: String::new(),
            image_pull_secrets: None,
            command: vec!["/bin/sh".to_owned(), "-c".to_owned(), self.script],
            host_mount_path: script::HOST_DIR.to_owned(),
            cordon: Some(reboots),
            drain_options: reboots.then(crate::upgrade::drain_before_reboot),
            reboot_on_success: Some(reboots),
            backoff_limit: Some(CONFIG_BACKOFF_LIMIT),
            job_timeout_seconds: Some(CONFIG_JOB_TIMEOUT_SECONDS),
            concurrency: self.concurrency,
            stop_on_failure: Some(self.stop_on_failure),
            uncordon_on_failure: Some(true),
            paused: None,
            preflight: None,
            gates: self.gates.clone(),
            resources: None,
            preflight_resources: None,
            reboot_resources: None,
            host_pid: None,
        }
    }
}

/// Who a config NodeOp belongs to: the label naming it and its controller.
pub(crate) struct Owner<'a> {
    /// The label (`kairosnode-config` or `nodeopconfig`) whose value is `name`.
    pub(crate) label: &'static str,
    /// The controller's kind.
    pub(crate) kind: &'static str,
    /// The controller's name.
    pub(crate) name: &'a str,
    /// The controller's uid.
    pub(crate) uid: &'a str,
}

/// The config NodeOp `namespace/name` of `owner` running `spec`, naming `source` (none for a
/// removal) in its annotation.
pub(crate) fn config_nodeop(
    name: &str,
    namespace: &str,
    owner: &Owner<'_>,
    source: Option<&ConfigSource>,
    spec: NodeOpSpec,
) -> NodeOp {
    let annotations = source.map(|s| {
        std::collections::BTreeMap::from([(ANNOTATION_CONFIG_SOURCE.to_owned(), s.annotation())])
    });
    NodeOp {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(crate::upgrade::labels(owner.label, owner.name)),
            annotations,
            owner_references: Some(vec![crate::upgrade::controller_ref(
                owner.kind, owner.name, owner.uid,
            )]),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    }
}

/// The tag of the names of the NodeOps removing the managed file `path`.
pub(crate) fn remove_tag(path: &str) -> String {
    format!("rm-{}", short_hash(&[path, "remove"], 8))
}

/// Name of the NodeOp removing the managed file `path` from `node`.
pub fn remove_nodeop_name(node: &str, path: &str) -> String {
    k8s_names::object_name(&["kncfg", node], &remove_tag(path))
}

/// Plans one reconcile of a KairosNode's declared cloud-config (see the module docs).
///
/// # Errors
/// [`MissingField`] when the KairosNode has no name or uid.
pub fn plan_config(
    kn: &KairosNode,
    observed: &ConfigObserved,
    now: Timestamp,
    settings: &NodeConfig,
) -> Result<ConfigPlan, MissingField> {
    let required = Required::new(&kn.metadata, "the node configuration");
    let node = required.name()?;
    let uid = required.uid()?;
    let status = kn.status.clone().unwrap_or_default();
    let prev = status.config.clone();
    let own = observed.own_nodeop.as_ref();
    let ctx = Ctx {
        node,
        uid,
        now,
        settings,
    };
    let outcome = match &kn.spec.config {
        Some(spec) => {
            let base = ConfigStatus {
                path: Some(spec.path.clone()),
                observed_hash: status.cloud_config_files.get(&spec.path).cloned(),
                applied_hash: prev
                    .as_ref()
                    .filter(|p| p.path.as_deref() == Some(spec.path.as_str()))
                    .and_then(|p| p.applied_hash.clone()),
                ..ConfigStatus::default()
            };
            let previous_path = prev
                .as_ref()
                .and_then(|p| p.path.as_deref())
                .filter(|p| *p != spec.path && status.cloud_config_files.contains_key(*p));
            ctx.desired(spec, base, observed, own, previous_path)
        }
        None => match prev.as_ref().and_then(|p| p.path.clone()) {
            None => return Ok(ConfigPlan::default()),
            Some(path) => {
                let base = ConfigStatus {
                    observed_hash: status.cloud_config_files.get(&path).cloned(),
                    path: Some(path.clone()),
                    ..ConfigStatus::default()
                };
                ctx.removal(&path, base, observed, own)
            }
        },
    };
    let Outcome {
        mut config,
        apply,
        delete,
        condition,
    } = outcome;
    if let Some(op) = &apply {
        config.node_op = Some(qualified(op));
    } else if config.node_op.is_none() {
        config.node_op = own.map(qualified);
    }
    let merged = merge(
        &status.conditions,
        &[condition],
        kn.metadata.generation,
        now,
    );
    Ok(ConfigPlan {
        nodeop_to_apply: apply,
        delete_nodeop: delete,
        config: Some(config),
        condition: merged.into_iter().next(),
    })
}

struct Ctx<'a> {
    node: &'a str,
    uid: &'a str,
    now: Timestamp,
    settings: &'a NodeConfig,
}

struct Outcome {
    config: ConfigStatus,
    apply: Option<NodeOp>,
    delete: Option<String>,
    condition: Desired,
}

/// Where the node's own cloud-config NodeOp stands.
enum OwnOp<'a> {
    /// None exists.
    Absent,
    /// One is in flight (named `name`).
    InFlight(&'a NodeOp),
    /// The one named as wanted finished: completed (with the time the node finished) or not.
    Finished {
        op: &'a NodeOp,
        completed: bool,
        finished_at: Option<Timestamp>,
    },
    /// One for something else finished: delete it first.
    Other(&'a NodeOp),
}

fn own_op<'a>(own: Option<&'a NodeOp>, node: &str, want: &str) -> OwnOp<'a> {
    let Some(op) = own else {
        return OwnOp::Absent;
    };
    let entry = op.status.as_ref().and_then(|s| s.node_statuses.get(node));
    let op_phase = op.status.as_ref().and_then(|s| s.phase);
    let finished = match entry {
        Some(e) => e.phase.is_terminal(),
        None => matches!(
            op_phase,
            Some(OperationPhase::Completed | OperationPhase::Failed | OperationPhase::Stopped)
        ),
    };
    if !finished && op.metadata.deletion_timestamp.is_none() {
        return OwnOp::InFlight(op);
    }
    if op.metadata.name.as_deref() != Some(want) || op.metadata.deletion_timestamp.is_some() {
        return OwnOp::Other(op);
    }
    let completed = entry.is_some_and(|e| matches!(e.phase, NodePhase::Completed));
    OwnOp::Finished {
        op,
        completed,
        finished_at: entry.and_then(|e| e.finished_at.as_ref()).map(|t| t.0),
    }
}

impl Ctx<'_> {
    fn desired(
        &self,
        spec: &NodeConfigSpec,
        mut config: ConfigStatus,
        observed: &ConfigObserved,
        own: Option<&NodeOp>,
        previous_path: Option<&str>,
    ) -> Outcome {
        let path = spec.path.as_str();
        let pending = |config: ConfigStatus, reason: &'static str, msg: String| Outcome {
            config: ConfigStatus {
                state: ConfigState::Pending,
                message: Some(msg.clone()),
                ..config
            },
            apply: None,
            delete: None,
            condition: Desired::new(CONFIG_APPLIED, false, reason, msg),
        };
        let (content, source) = match (&observed.source, ConfigSource::of(spec)) {
            (Some(SourceRead::Content(bytes)), Some(source)) => (bytes, source),
            (Some(SourceRead::Missing(msg)), _) => {
                return pending(
                    config,
                    "SourceMissing",
                    format!("{msg}: nothing is written"),
                );
            }
            _ => {
                let msg = "spec.config names no Secret or ConfigMap: nothing is written".to_owned();
                return pending(config, "SourceMissing", msg);
            }
        };
        let desired = sha256_hex(content);
        config.desired_hash = Some(desired.clone());
        if let Err(why) = validate::check(content) {
            let msg = format!(
                "{} {} key {} is not a cloud-config document ({why}): nothing is written",
                source.kind.kind(),
                source.name,
                source.key
            );
            return pending(config, "InvalidConfig", msg);
        }
        if config.observed_hash.as_deref() == Some(desired.as_str()) {
            config.applied_hash = Some(desired.clone());
            let in_flight = matches!(own_op(own, self.node, ""), OwnOp::InFlight(_));
            let msg =
                format!("the node reports {path} with the desired content (sha256 {desired})");
            return Outcome {
                config: ConfigStatus {
                    state: if in_flight {
                        ConfigState::Applying
                    } else {
                        ConfigState::Applied
                    },
                    message: Some(msg.clone()),
                    ..config
                },
                apply: None,
                delete: None,
                condition: Desired::new(CONFIG_APPLIED, true, "Applied", msg),
            };
        }
        let want = write_nodeop_name(self.node, spec, &desired);
        let reports = match config.observed_hash.as_deref() {
            Some(h) => format!("the node reports {path} with sha256 {h}"),
            None => format!("the node reports no {path}"),
        };
        match own_op(own, self.node, &want) {
            OwnOp::InFlight(op) => self.following(op, &want, config, ConfigState::Applying),
            OwnOp::Finished {
                op,
                completed: true,
                finished_at,
            } => {
                if config.applied_hash.as_deref() == Some(desired.as_str()) {
                    let msg = format!(
                        "{reports}, not the desired {desired}: the file was changed on the node; \
                         delete NodeOp {} to write it again",
                        qualified(op)
                    );
                    return state(config, ConfigState::Drifted, "Drifted", msg);
                }
                if self.verify_expired(finished_at) {
                    let msg = format!(
                        "NodeOp {} wrote {path}, but {reports} {}s later; delete the NodeOp to \
                         retry",
                        qualified(op),
                        self.settings.verify_timeout.as_secs()
                    );
                    return state(config, ConfigState::Failed, "VerifyFailed", msg);
                }
                let msg = format!(
                    "NodeOp {} wrote {path}; waiting for the node's agent to report it ({reports})",
                    qualified(op)
                );
                state(config, ConfigState::Applying, "Verifying", msg)
            }
            OwnOp::Finished { op, .. } => {
                let msg = format!(
                    "NodeOp {} failed to write {path}: {}; delete it to retry",
                    qualified(op),
                    node_message(op, self.node)
                );
                state(config, ConfigState::Failed, "ApplyFailed", msg)
            }
            _ if observed.no_agent_report => pending(
                config,
                "NoAgentReport",
                "no agent reports for this node (the KairosNode was not created by the report \
                 service): nothing is written"
                    .to_owned(),
            ),
            OwnOp::Other(op) => self.remove_first(op, config),
            OwnOp::Absent => {
                let script = render_write(&WriteScript {
                    path,
                    sha256: &desired,
                    previous_path,
                    run_stage: spec.run_stage.as_deref(),
                });
                let op = self.nodeop(&want, script, spec.reboots(), Some(&source));
                let how = if spec.reboots() {
                    "cordon, drain, write, reboot"
                } else {
                    "write, no reboot"
                };
                let msg = format!(
                    "{reports}: NodeOp {} writes the desired content ({how})",
                    qualified(&op)
                );
                let mut out = state(config, ConfigState::Applying, "Applying", msg);
                out.apply = Some(op);
                out
            }
        }
    }

    fn removal(
        &self,
        path: &str,
        config: ConfigStatus,
        observed: &ConfigObserved,
        own: Option<&NodeOp>,
    ) -> Outcome {
        let want = remove_nodeop_name(self.node, path);
        if config.observed_hash.is_none() {
            let msg = format!(
                "spec.config was removed: the managed file {path} was deleted from the node"
            );
            let mut out = state(config, ConfigState::Removed, "Removed", msg);
            out.condition.status = true;
            return out;
        }
        match own_op(own, self.node, &want) {
            OwnOp::InFlight(op) => self.following(op, &want, config, ConfigState::Removing),
            OwnOp::Finished {
                op,
                completed: true,
                finished_at,
            } => {
                if self.verify_expired(finished_at) {
                    let msg = format!(
                        "NodeOp {} deleted {path}, but the node still reports it {}s later; \
                         delete the NodeOp to retry",
                        qualified(op),
                        self.settings.verify_timeout.as_secs()
                    );
                    return state(config, ConfigState::Failed, "VerifyFailed", msg);
                }
                let msg = format!(
                    "NodeOp {} deleted {path}; waiting for the node's agent to report it gone",
                    qualified(op)
                );
                state(config, ConfigState::Removing, "Removing", msg)
            }
            OwnOp::Finished { op, .. } => {
                let msg = format!(
                    "NodeOp {} failed to delete {path}: {}; delete it to retry",
                    qualified(op),
                    node_message(op, self.node)
                );
                state(config, ConfigState::Failed, "RemoveFailed", msg)
            }
            _ if observed.no_agent_report => {
                let msg = "no agent reports for this node: nothing is removed".to_owned();
                state(config, ConfigState::Pending, "NoAgentReport", msg)
            }
            OwnOp::Other(op) => self.remove_first(op, config),
            OwnOp::Absent => {
                let op = self.nodeop(&want, render_remove(path), false, None);
                let msg = format!(
                    "spec.config was removed: NodeOp {} deletes the managed file {path} (it \
                     takes effect at the next boot)",
                    qualified(&op)
                );
                let mut out = state(config, ConfigState::Removing, "Removing", msg);
                out.apply = Some(op);
                out
            }
        }
    }

    /// Whether the node's agent had `verify_timeout` since the node finished to report.
    fn verify_expired(&self, finished_at: Option<Timestamp>) -> bool {
        let limit =
            SignedDuration::try_from(self.settings.verify_timeout).unwrap_or(SignedDuration::MAX);
        finished_at.is_some_and(|t| self.now.duration_since(t) > limit)
    }

    /// Follows the node's cloud-config NodeOp in flight.
    fn following(
        &self,
        op: &NodeOp,
        want: &str,
        config: ConfigStatus,
        doing: ConfigState,
    ) -> Outcome {
        if op.metadata.name.as_deref() == Some(want) {
            let msg = format!(
                "NodeOp {} is in flight: {}",
                qualified(op),
                node_message(op, self.node)
            );
            let reason = if doing == ConfigState::Removing {
                "Removing"
            } else {
                "Applying"
            };
            state(config, doing, reason, msg)
        } else {
            let msg = format!(
                "waiting for NodeOp {} (an earlier configuration) to end on this node",
                qualified(op)
            );
            state(config, ConfigState::Pending, "Waiting", msg)
        }
    }

    /// Deletes the finished NodeOp `op` before the next one is created.
    fn remove_first(&self, op: &NodeOp, config: ConfigStatus) -> Outcome {
        let msg = format!(
            "removing the finished NodeOp {} of an earlier configuration first",
            qualified(op)
        );
        let mut out = state(config, ConfigState::Pending, "Waiting", msg);
        out.delete = op.metadata.name.clone();
        out.config.node_op = None;
        out
    }

    /// The single-node NodeOp `name` running `script`, with `source` mounted.
    fn nodeop(
        &self,
        name: &str,
        script: String,
        reboots: bool,
        source: Option<&ConfigSource>,
    ) -> NodeOp {
        let spec = ConfigOp {
            targets: vec![self.node.to_owned()],
            script,
            reboots,
            concurrency: 1,
            stop_on_failure: false,
            gates: &self.settings.gates,
        }
        .spec();
        let owner = Owner {
            label: LABEL_KAIROSNODE_CONFIG,
            kind: "KairosNode",
            name: self.node,
            uid: self.uid,
        };
        config_nodeop(name, &self.settings.namespace, &owner, source, spec)
    }
}

/// `ConfigApplied=False` with `reason` and `msg`, and `config` in state `s`.
fn state(config: ConfigStatus, s: ConfigState, reason: &'static str, msg: String) -> Outcome {
    Outcome {
        config: ConfigStatus {
            state: s,
            message: Some(msg.clone()),
            ..config
        },
        apply: None,
        delete: None,
        condition: Desired::new(CONFIG_APPLIED, false, reason, msg),
    }
}

/// The engine's message for `node` in `op`, or the operation's.
fn node_message(op: &NodeOp, node: &str) -> String {
    let status = op.status.as_ref();
    status
        .and_then(|s| s.node_statuses.get(node))
        .and_then(|e| e.message.clone())
        .or_else(|| status.and_then(|s| s.message.clone()))
        .unwrap_or_else(|| "not started yet".to_owned())
}

pub(crate) fn qualified(op: &NodeOp) -> String {
    format!(
        "{}/{}",
        op.metadata.namespace.as_deref().unwrap_or_default(),
        op.metadata.name.as_deref().unwrap_or_default()
    )
}
