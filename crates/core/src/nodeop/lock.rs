//! Node locks: which operation holds a node, and whether one more node may be taken without
//! breaking the cluster-wide rules (one operation per node, one control-plane node at a time
//! across every operation, at most `--max-disrupted-nodes` nodes disrupted together). A lock is
//! a `coordination.k8s.io` Lease per node in the operator's namespace; the operator acquires it
//! with the API server's optimistic concurrency, so the rules here are checked again on a fresh
//! read at acquisition. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// Longest object name (a DNS subdomain, as Lease names are).
const MAX_NAME: usize = 253;
/// Prefix of a node lock's Lease name.
const PREFIX: &str = "kairos-node-";

/// A held node lock, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeLock {
    /// The holding operation: `<namespace>/<name>@<uid>` of its `NodeOp` (the value of the
    /// `cordoned-by` annotation it writes).
    pub holder: String,
    /// Whether the node was a control-plane node when it was taken.
    pub control_plane: bool,
}

impl NodeLock {
    /// `<namespace>/<name>` of the holder, for messages.
    pub fn holder_name(&self) -> &str {
        holder_name(&self.holder)
    }
}

/// `<namespace>/<name>` of a holder identity `<namespace>/<name>@<uid>`.
pub fn holder_name(holder: &str) -> &str {
    holder.rsplit_once('@').map_or(holder, |(name, _)| name)
}

/// Name of the Lease that locks `node`: `kairos-node-<node>`, or a truncated form with a hash
/// when that would be too long.
pub fn lease_name(node: &str) -> String {
    let name = format!("{PREFIX}{node}");
    if name.len() <= MAX_NAME {
        return name;
    }
    let digest = Sha256::digest(node.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = MAX_NAME - hash.len() - 1;
    let head: String = name.chars().take(keep).collect();
    format!("{}-{hash}", head.trim_end_matches(['-', '.']))
}

/// The cluster-wide limits on taking nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many nodes disrupted at once by all operations together (held by an
    /// operation, or still cordoned by one); `None`: no limit.
    pub max_disrupted_nodes: Option<u32>,
}

/// Why a node cannot be taken now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Wait {
    /// Another operation holds the node.
    #[error("waiting for {holder}, which holds the node")]
    HeldBy {
        /// `<namespace>/<name>` of the holder.
        holder: String,
    },
    /// Another control-plane node is being worked on.
    #[error(
        "waiting: control-plane node {node} is held by {holder} (one control-plane node at a time across all operations)"
    )]
    ControlPlaneBusy {
        /// The control-plane node held.
        node: String,
        /// `<namespace>/<name>` of its holder.
        holder: String,
    },
    /// The cluster-wide disruption budget is used up.
    #[error(
        "waiting: {disrupted} node(s) are disrupted by operations (--max-disrupted-nodes {limit})"
    )]
    Budget {
        /// Nodes disrupted now.
        disrupted: usize,
        /// The limit.
        limit: u32,
    },
}

/// Whether `holder` may take `node` now.
///
/// `locks` are every node lock of the cluster; `cordoned` the nodes carrying some operation's
/// cordon annotation (a failed node keeps it, and still counts as disrupted). A node already
/// held by `holder` is admitted whatever the rest says.
///
/// # Errors
/// [`Wait`] says what the node waits for.
pub fn admit(
    locks: &BTreeMap<String, NodeLock>,
    cordoned: &BTreeSet<String>,
    node: &str,
    control_plane: bool,
    holder: &str,
    limits: Limits,
) -> Result<(), Wait> {
    if let Some(l) = locks.get(node) {
        if l.holder == holder {
            return Ok(());
        }
        return Err(Wait::HeldBy {
            holder: l.holder_name().to_owned(),
        });
    }
    if control_plane && let Some((n, l)) = locks.iter().find(|(_, l)| l.control_plane) {
        return Err(Wait::ControlPlaneBusy {
            node: n.clone(),
            holder: l.holder_name().to_owned(),
        });
    }
    if let Some(limit) = limits.max_disrupted_nodes {
        let disrupted = locks
            .keys()
            .chain(cordoned.iter())
            .collect::<BTreeSet<_>>()
            .len();
        if disrupted >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return Err(Wait::Budget { disrupted, limit });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
