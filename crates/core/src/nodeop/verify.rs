//! How the engine judges a node's result beyond "the Job succeeded": whether a succeeded Job
//! needs its reboot, and whether the node came back right after the reboot. A plain `NodeOp`
//! uses [`RebootOnly`]; upgrades plug in their own [`Verifier`]. Pure: no I/O.

/// The verdict on a node after its reboot (the node is Ready with a new boot ID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No conclusion yet: keep Verifying (the reboot timeout fails the node eventually).
    Pending,
    /// The node is fine: uncordon it.
    Succeeded,
    /// The node booted its fallback: the change did not stick (phase RolledBack).
    RolledBack(String),
    /// The node came back wrong (phase Failed).
    Failed(String),
}

/// Judges nodes for one plan. Implementations read their own observations (for upgrades: the
/// `KairosNode` statuses and the target version) and must be pure.
pub trait Verifier {
    /// Called when the Job succeeded on a `rebootOnSuccess` operation, with the termination
    /// message of the Job's container. `Some(detail)` means nothing changed on the node, so it
    /// is not rebooted and completes with `detail` as its message. Default: always reboot.
    fn skip_reboot(&self, node: &str, termination_message: Option<&str>) -> Option<String> {
        let _ = (node, termination_message);
        None
    }

    /// Called while Verifying, once the node has a new boot ID and is Ready, with the boot ID
    /// recorded before the reboot. Default: [`Verdict::Succeeded`].
    fn verify(&self, node: &str, boot_id_before: Option<&str>) -> Verdict {
        let _ = (node, boot_id_before);
        Verdict::Succeeded
    }
}

/// The plain `NodeOp` verifier: a new boot ID and Ready are enough.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebootOnly;

impl Verifier for RebootOnly {}
