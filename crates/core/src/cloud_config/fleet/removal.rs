//! The deletion of a `NodeOpConfig`: one NodeOp removing the managed file from the nodes its
//! writes completed on (and no one else declares it for), then the finalizer let go; a failed
//! removal keeps it and says how to let go. Pure: no I/O.

use std::collections::BTreeMap;

use kairos_api::names::NODEOPCONFIG_FINALIZER;
use kairos_api::v1alpha1::{NodeOp, NodePhase};

use super::{
    Finalizer, FleetConfigPlan, Planner, in_flight, record, remove_nodeop_name, targets_of,
};
use crate::cloud_config::qualified;
use crate::cloud_config::script::render_remove;

impl Planner<'_> {
    /// The deletion: remove the managed file from the nodes this object wrote it to.
    pub(super) fn removal(&self, has: bool) -> FleetConfigPlan {
        let path = self.path();
        let keep = Finalizer::Keep;
        if !has {
            let msg = format!("deleted; {path} is left to no one");
            return self.only("Removed", msg, None, keep);
        }
        let owned = self.owned();
        let rm_name = remove_nodeop_name(self.name, path);
        let (rm, writes): (Vec<&NodeOp>, Vec<&NodeOp>) = owned
            .iter()
            .partition(|op| op.metadata.name.as_deref() == Some(rm_name.as_str()));
        if let Some(op) = writes.iter().find(|op| in_flight(op)) {
            let msg = format!(
                "deleted: waiting for NodeOp {} to end before removing {path}",
                qualified(op)
            );
            return self.only("Removing", msg, op.metadata.name.clone(), keep);
        }
        if let Some(op) = rm.first() {
            return self.removal_progress(op);
        }
        let targets = self.removal_targets(&writes);
        if targets.is_empty() {
            let msg = format!(
                "deleted: no node carries {path} from this NodeOpConfig, nothing to remove"
            );
            return self.only("Removed", msg, None, Finalizer::Remove);
        }
        let count = targets.len();
        let op = self.nodeop(&rm_name, render_remove(path), false, None, targets);
        let msg = format!(
            "deleted: NodeOp {} removes {path} from {count} node(s) (it takes effect at their next boot)",
            qualified(&op)
        );
        let mut plan = self.only("Removing", msg, Some(rm_name), keep);
        plan.nodeop_to_apply = Some(op);
        plan
    }

    /// The nodes to remove the file from: those a write of this object completed on that still
    /// report the path (or report nothing), and that no one else declares it for.
    fn removal_targets(&self, writes: &[&NodeOp]) -> Vec<String> {
        let path = self.path();
        let mut out: Vec<String> = self
            .observed
            .nodes
            .iter()
            .filter(|node| {
                writes.iter().any(|op| {
                    record(self.observed, op, &node.name)
                        .is_some_and(|r| r.phase == NodePhase::Completed)
                })
            })
            .filter(|node| self.not_ours(node).is_none())
            .filter(|node| {
                let files = node
                    .kairos_node
                    .as_ref()
                    .and_then(|kn| kn.status.as_ref())
                    .map(|s| &s.cloud_config_files);
                files.is_none_or(|f| f.contains_key(path))
            })
            .map(|n| n.name.clone())
            .collect();
        out.sort();
        out
    }

    fn removal_progress(&self, op: &NodeOp) -> FleetConfigPlan {
        let path = self.path();
        let opname = qualified(op);
        let name = op.metadata.name.clone();
        if in_flight(op) {
            let msg = format!("deleted: NodeOp {opname} removes {path}");
            return self.only("Removing", msg, name, Finalizer::Keep);
        }
        let failed: BTreeMap<&str, String> = targets_of(op)
            .iter()
            .filter_map(|n| {
                let rec = record(self.observed, op, n);
                let done = rec.is_some_and(|r| r.phase == NodePhase::Completed);
                (!done).then(|| {
                    let why = rec
                        .and_then(|r| r.message.clone())
                        .unwrap_or_else(|| "not started".into());
                    (n.as_str(), why)
                })
            })
            .collect();
        if failed.is_empty() {
            let msg = format!(
                "deleted: NodeOp {opname} removed {path} from {} node(s)",
                targets_of(op).len()
            );
            return self.only("Removed", msg, name, Finalizer::Remove);
        }
        let listed: Vec<String> = failed
            .iter()
            .take(5)
            .map(|(n, why)| format!("{n} ({why})"))
            .collect();
        let msg = format!(
            "deleted: NodeOp {opname} failed to remove {path} from {} node(s): {}; delete the \
             NodeOp to retry, or remove the finalizer {NODEOPCONFIG_FINALIZER} to let go and \
             leave the file",
            failed.len(),
            listed.join("; ")
        );
        self.only("RemovalFailed", msg, name, Finalizer::Keep)
    }
}
