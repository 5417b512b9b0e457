//! The reasons of the engine's Kubernetes Events, and which of them are warnings. Pure: no I/O.

/// Why the engine records an Event: its `reason`, and whether it is a `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The node left Pending.
    NodeStarted,
    /// A preflight pod said "skip this node".
    NodeSkipped,
    /// Not started: a node failed and `stopOnFailure` is set.
    NodeStopped,
    /// The node's Node object vanished.
    NodeGone,
    /// The node finished its operation.
    NodeCompleted,
    /// The preflight pod passed.
    PreflightPassed,
    /// The preflight pod failed or timed out.
    PreflightFailed,
    /// The preflight pod cannot start (its image cannot be pulled, say).
    PreflightCannotStart,
    /// The node was cordoned by this operation.
    NodeCordoned,
    /// The node was already cordoned by someone else (left to them).
    AlreadyCordoned,
    /// The drain began.
    DrainStarted,
    /// Every pod that had to go is gone.
    DrainCompleted,
    /// The drain timed out on pods that would not go.
    DrainBlocked,
    /// A pod may not be evicted (unmanaged, or local data without permission).
    DrainRefused,
    /// The Job was created.
    JobCreated,
    /// The Job succeeded.
    JobSucceeded,
    /// The Job failed.
    JobFailed,
    /// The Job's pod cannot start (its image cannot be pulled, say).
    JobCannotStart,
    /// The Job vanished before its result was read.
    JobLost,
    /// The reboot began.
    Rebooting,
    /// A new boot ID shows the node rebooted.
    Rebooted,
    /// The reboot was confirmed (verification passed).
    RebootConfirmed,
    /// No reboot was needed (the node was up to date).
    RebootSkipped,
    /// The reboot could not be done or confirmed.
    RebootFailed,
    /// The node did not come back in time.
    RebootTimedOut,
    /// The node came back without what the operation asked for.
    VerifyFailed,
    /// The node did not report what the operation asked for in time.
    VerifyTimedOut,
    /// The node came back on its fallback system.
    RolledBack,
    /// The operation waits to start.
    OperationPending,
    /// The operation started.
    OperationStarted,
    /// Every node finished.
    OperationCompleted,
    /// The operation failed.
    OperationFailed,
    /// The operation stopped after a failure (`stopOnFailure`).
    OperationStopped,
}

impl Reason {
    /// The Event's `reason` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodeStarted => "NodeStarted",
            Self::NodeSkipped => "NodeSkipped",
            Self::NodeStopped => "NodeStopped",
            Self::NodeGone => "NodeGone",
            Self::NodeCompleted => "NodeCompleted",
            Self::PreflightPassed => "PreflightPassed",
            Self::PreflightFailed => "PreflightFailed",
            Self::PreflightCannotStart => "PreflightCannotStart",
            Self::NodeCordoned => "NodeCordoned",
            Self::AlreadyCordoned => "AlreadyCordoned",
            Self::DrainStarted => "DrainStarted",
            Self::DrainCompleted => "DrainCompleted",
            Self::DrainBlocked => "DrainBlocked",
            Self::DrainRefused => "DrainRefused",
            Self::JobCreated => "JobCreated",
            Self::JobSucceeded => "JobSucceeded",
            Self::JobFailed => "JobFailed",
            Self::JobCannotStart => "JobCannotStart",
            Self::JobLost => "JobLost",
            Self::Rebooting => "Rebooting",
            Self::Rebooted => "Rebooted",
            Self::RebootConfirmed => "RebootConfirmed",
            Self::RebootSkipped => "RebootSkipped",
            Self::RebootFailed => "RebootFailed",
            Self::RebootTimedOut => "RebootTimedOut",
            Self::VerifyFailed => "VerifyFailed",
            Self::VerifyTimedOut => "VerifyTimedOut",
            Self::RolledBack => "RolledBack",
            Self::OperationPending => "OperationPending",
            Self::OperationStarted => "OperationStarted",
            Self::OperationCompleted => "OperationCompleted",
            Self::OperationFailed => "OperationFailed",
            Self::OperationStopped => "OperationStopped",
        }
    }

    /// Whether the Event is a `Warning` (else `Normal`). Exhaustive: a new reason must say.
    pub fn is_warning(self) -> bool {
        match self {
            Self::NodeGone
            | Self::PreflightFailed
            | Self::PreflightCannotStart
            | Self::DrainBlocked
            | Self::DrainRefused
            | Self::JobFailed
            | Self::JobCannotStart
            | Self::JobLost
            | Self::RebootFailed
            | Self::RebootTimedOut
            | Self::VerifyFailed
            | Self::VerifyTimedOut
            | Self::RolledBack
            | Self::OperationFailed
            | Self::OperationStopped => true,
            Self::NodeStarted
            | Self::NodeSkipped
            | Self::NodeStopped
            | Self::NodeCompleted
            | Self::PreflightPassed
            | Self::NodeCordoned
            | Self::AlreadyCordoned
            | Self::DrainStarted
            | Self::DrainCompleted
            | Self::JobCreated
            | Self::JobSucceeded
            | Self::Rebooting
            | Self::Rebooted
            | Self::RebootConfirmed
            | Self::RebootSkipped
            | Self::OperationPending
            | Self::OperationStarted
            | Self::OperationCompleted => false,
        }
    }
}
