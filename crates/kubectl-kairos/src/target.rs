//! `kubectl kairos pause|resume NODE|OPERATION`: which object a name means (a KairosNode, a
//! NodeOpUpgrade or a NodeOp, or `kind/name` to say it), and the patch that pauses or resumes
//! it. Pure: no I/O.

use serde_json::{Value, json};

/// The kinds `pause` and `resume` act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// A node: its KairosNode's `spec.paused` holds its per-node upgrade.
    KairosNode,
    /// A fleet upgrade: its NodeOp's `spec.paused` holds it.
    NodeOpUpgrade,
    /// An operation: `spec.paused`.
    NodeOp,
}

impl Kind {
    /// How kubectl names objects of the kind (`kairosnode.operator.kairos.io`).
    pub(crate) fn resource(self) -> &'static str {
        match self {
            Self::KairosNode => "kairosnode.operator.kairos.io",
            Self::NodeOpUpgrade => "nodeopupgrade.operator.kairos.io",
            Self::NodeOp => "nodeop.operator.kairos.io",
        }
    }
}

/// Why a name does not pick one object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum TargetError {
    /// `kind/` with a kind we do not pause.
    #[error("{0:?} is not a kind to pause or resume (kairosnode, nodeopupgrade, nodeop)")]
    UnknownKind(String),
    /// Nothing of that name.
    #[error("no KairosNode, NodeOpUpgrade or NodeOp named {0} (in namespace {1})")]
    NotFound(String, String),
    /// Several kinds have that name.
    #[error("{name} names a {0} and a {1}: say which, e.g. {2}/{name}", kinds[0].resource(), kinds[1].resource(), short(kinds[0]))]
    Ambiguous { name: String, kinds: Vec<Kind> },
}

fn short(kind: Kind) -> &'static str {
    match kind {
        Kind::KairosNode => "kairosnode",
        Kind::NodeOpUpgrade => "nodeopupgrade",
        Kind::NodeOp => "nodeop",
    }
}

/// Splits `kind/name` (kubectl's kind names, short names and `node`) into the kind and name;
/// a bare name has no kind.
///
/// # Errors
/// [`TargetError::UnknownKind`] for another kind.
pub(crate) fn parse(arg: &str) -> Result<(Option<Kind>, &str), TargetError> {
    let Some((kind, name)) = arg.split_once('/') else {
        return Ok((None, arg));
    };
    let kind = match kind.to_ascii_lowercase().as_str() {
        "node" | "nodes" | "kn" | "kairosnode" | "kairosnodes" => Kind::KairosNode,
        "nou" | "nodeopupgrade" | "nodeopupgrades" => Kind::NodeOpUpgrade,
        "nop" | "nodeop" | "nodeops" => Kind::NodeOp,
        other => return Err(TargetError::UnknownKind(other.to_owned())),
    };
    Ok((Some(kind), name))
}

/// The one kind among `found` (the kinds that have an object named `name`).
///
/// # Errors
/// [`TargetError::NotFound`] when none has, [`TargetError::Ambiguous`] when several have.
pub(crate) fn choose(name: &str, namespace: &str, found: &[Kind]) -> Result<Kind, TargetError> {
    let mut kinds = found.to_vec();
    kinds.sort_unstable();
    kinds.dedup();
    match kinds.as_slice() {
        [] => Err(TargetError::NotFound(name.to_owned(), namespace.to_owned())),
        [one] => Ok(*one),
        _ => Err(TargetError::Ambiguous {
            name: name.to_owned(),
            kinds,
        }),
    }
}

/// The merge patch of `spec.paused`: `true` to pause, removed to resume.
pub(crate) fn paused_patch(pause: bool) -> Value {
    if pause {
        json!({"spec": {"paused": true}})
    } else {
        json!({"spec": {"paused": null}})
    }
}

/// What a pause or resume did, as one line.
pub(crate) fn done_line(kind: Kind, name: &str, via: Option<&str>, pause: bool) -> String {
    let verb = if pause { "paused" } else { "resumed" };
    let effect = match (kind, pause) {
        (Kind::KairosNode, true) => "no upgrade of the node starts; one in flight finishes",
        (_, true) => "no new node starts; nodes in flight finish",
        (_, false) => "new starts may go on",
    };
    match via {
        Some(nodeop) => format!(
            "{}/{name} {verb} (through its NodeOp {nodeop}): {effect}",
            kind.resource()
        ),
        None => format!("{}/{name} {verb}: {effect}", kind.resource()),
    }
}

#[cfg(test)]
mod tests;
