//! The `NodeOp` engine (DESIGN.md section 5): pure planning of privileged operations across
//! nodes. No I/O: the operator observes ([`Observed`]), calls [`plan()`] (or [`plan_with`] for
//! upgrades), applies the returned [`Action`]s, writes the returned status and records the
//! [`Event`]s. Kubernetes holds all state, so every plan re-derives everything from the
//! `NodeOp` (spec + status) and the observed objects; an operator killed at any instant
//! resumes without duplicate Jobs or lost nodes.
//!
//! # Per-node state machine
//! `Pending -> [Preflight] -> [Cordoning] -> [Draining] -> Running -> [Rebooting -> Verifying]
//! -> Uncordoning -> Completed`, or `Failed` / `RolledBack` / `Skipped` / `Stopped`. Phases the
//! spec does not ask for are skipped. One plan moves a node as far as the observations allow;
//! every transition stamps `lastTransitionTime` with `now` and emits one event; nothing else
//! uses `now` except timeouts, so the same inputs give the same status.
//!
//! # Decisions
//! - **Targets** are fixed by the first plan (the one that finds `status.phase` unset): one
//!   target record (`NodeOpTarget`, [`TargetWrite::Create`]) per node, with `order` and
//!   `controlPlane`; later plans never add nodes. The records hold where each node stands
//!   ([`Observed::targets`]); a plan writes only the records that changed, before the status.
//!   While fewer records are observed than `status.total` (a cache catching up), nothing is
//!   decided. The `NodeOp` status keeps counts and lists at most
//!   [`status::MAX_LISTED_NODES`] nodes (every node of a small operation; else the nodes in
//!   flight, then the failed ones), so no object grows with the fleet.
//! - **Node locks** ([`lock`]): a node starts only with its lock ([`Acquire`], taken before
//!   anything else of the plan is written), so a node is worked by one operation at a time; a
//!   node held by another operation waits and says for whom. Across operations one
//!   control-plane node at a time, and at most `Config::limits` nodes disrupted together. A
//!   node's lock is released when it finishes ([`Action::Release`]) or the operation is
//!   deleted; a lock whose holder no longer exists is broken ([`Action::BreakLock`]). A `targetNodes` entry that is no Node, or a target Node that disappears, fails with
//!   "node X not found" / "node X no longer exists". No match completes at once with
//!   [`order::NO_MATCH_MESSAGE`]; an invalid selector fails the operation.
//! - **Order**: control-plane nodes (role label `control-plane` or `master`) first, by name,
//!   one at a time whatever `concurrency` says; no worker starts before every control-plane
//!   node is terminal. A failed control-plane node stops the workers only with
//!   `stopOnFailure`; without it the workers proceed once the control plane is terminal.
//!   Workers go by name, at most `concurrency` in flight (0 = all). The operator's own node
//!   goes last in its group. A Pending node that already shows our Job or our cordon (its
//!   status write was lost) is resumed before any other starts.
//! - **stopOnFailure**: after a failure the Pending nodes become `Stopped` at once; nodes in
//!   flight finish. The operation ends `Stopped` when some node was stopped, `Failed` when
//!   every node ran and one failed (or rolled back), `Completed` otherwise (Skipped counts as
//!   done). `paused` only holds new starts.
//! - **Cordon** writes `spec.unschedulable` and the annotation `cordoned-by=<ns>/<name>@<uid>`
//!   in one patch. A node found unschedulable without our annotation was cordoned by someone
//!   else: we neither cordon nor ever uncordon it. Uncordon is planned only for nodes carrying
//!   our annotation, and the apply must re-check it (JSON patch `test`). Failed / rolled back
//!   nodes keep the cordon unless `uncordonOnFailure`; deleting the `NodeOp` uncordons every
//!   node it still holds, failed ones included (the operation and its record are gone).
//! - **Drain** follows `kubectl drain` through the Eviction API (so PodDisruptionBudgets hold;
//!   a 429 is simply retried by the next plan): finished pods, mirror pods and the engine's own
//!   pods (label `operator.kairos.io/role`) are ignored, DaemonSet pods skipped when
//!   `ignoreDaemonSets` (else refused); unmanaged pods need `force`, `emptyDir` pods need
//!   `deleteEmptyDirData`. Refusals fail the node at once, before anything is evicted, naming
//!   the pods and the option that would allow them. `force` evicts unmanaged pods through the
//!   Eviction API too (as kubectl does), so there is no plain delete. The timeout
//!   (`timeoutSeconds`, default 300) runs from entering Draining and fails the node naming
//!   every pod still there (`ns/name`).
//! - **Jobs**: one per node, named deterministically ([`build::object_name`]: readable prefix +
//!   8 hex of SHA-256 over namespace, name, UID, node and role, so a re-created `NodeOp` of the
//!   same name never adopts an old Job), pinned with `nodeName` (bypasses the scheduler and its
//!   taint checks) plus a toleration of every taint, privileged, host `/` at `hostMountPath`,
//!   `backoffLimit` from the spec (default 6), no TTL (the result must stay readable), no API
//!   token. They run in the `NodeOp`'s namespace with a controller owner reference by default,
//!   or in [`Config::job_namespace`] (the operator's, DESIGN.md section 6) without one, since
//!   Kubernetes forbids cross-namespace owners; `observe` selects them by the label
//!   [`build::LABEL_NODEOP_UID`]. `CreateJob` may be planned again while the Job is not yet
//!   observed (the API answers AlreadyExists), but once a Job was seen (`attempts` recorded) it
//!   is never created again: a vanished Job fails the node (`JobLost`).
//! - **Reboot** (`rebootOnSuccess`): never in the Job. The Job's container then runs a small
//!   `/bin/sh` wrapper as its `command`, with the NodeOp's command as its `args`; on success
//!   the wrapper appends the boot ID as the last line of the termination message (read from the
//!   container's own `/proc`, which shows the host kernel's boot ID, before the command runs;
//!   the image needs `/bin/sh`, as busybox and alpine have).
//!   `bootIdBefore` is recorded when the node enters Running (the Node's `nodeInfo.bootID`,
//!   which the kubelet posts at each start, else the agent's report, which is older than the
//!   running boot when the agent was down across a reboot) and replaced by the Job's boot ID
//!   when present. A separate privileged `hostPID` reboot pod compares that ID with the current
//!   one and reboots through `nsenter` only when they are equal. Rebooting ends when the agent
//!   reports another boot ID that the kubelet's `nodeInfo.bootID` confirms when the Node shows
//!   one (so an agent report from an older boot never passes for the new one), or, for a node
//!   without an agent report, when the kubelet does; a timeout that finds the kubelet on a new
//!   boot but not the agent says so. Verifying ends when the Node is Ready and the
//!   [`Verifier`] agrees. Each has
//!   [`Config::reboot_timeout`] (15 min by default). Without any boot ID the node fails rather
//!   than reboot blindly.
//! - **Preflight** (upstream contract): a read-only, unprivileged pod before anything
//!   disruptive; a non-empty termination message skips the node (`Skipped`), a clean exit
//!   continues, a failure without message fails it. It counts against `concurrency`.
//! - **Deletion**: every unfinished node becomes `Stopped`, every Job and engine pod of the
//!   operation is deleted, every node it holds is uncordoned, and `RemoveFinalizer` comes once
//!   none of them is observed any more.
//! - **Status**: counts, phase and message from the node statuses only; conditions
//!   `Progressing`, `Complete`, `Failed` merged with [`crate::conditions::merge`] so their
//!   transition times survive; `observedGeneration` from the object.
//!
//! # Events
//! Reasons: `NodeStarted`, `PreflightPassed`, `NodeCordoned`, `AlreadyCordoned`,
//! `DrainStarted`, `DrainCompleted`, `JobCreated`, `JobSucceeded`, `RebootSkipped`,
//! `Rebooting`, `Rebooted`, `RebootConfirmed`, `NodeCompleted`, `NodeSkipped`, `NodeStopped`,
//! `OperationPending`, `OperationStarted`, `OperationCompleted`; warnings: `JobFailed`,
//! `JobLost`, `DrainBlocked`, `DrainRefused`, `PreflightFailed`, `RebootFailed`,
//! `RebootTimedOut`, `VerifyFailed`, `VerifyTimedOut`, `RolledBack`, `NodeGone`,
//! `OperationFailed`, `OperationStopped`.
//!
//! # What `observe` must provide
//! See [`Observed`]: all Nodes; this operation's target records; every node lock and the
//! identity of every existing `NodeOp`; the Jobs and engine pods labelled with this operation's UID
//! (a Job's node from `spec.template.spec.nodeName`, its termination message from its latest
//! finished pod, its condition only from `Complete`/`Failed` = True); an entry in `node_pods`
//! (possibly empty) for every node in Cordoning or Draining, since a node without an entry
//! waits ("listing the node's pods") instead of counting as drained; agent boot IDs from the
//! `KairosNode` statuses; the operator pod's node. [`convert`] turns the Kubernetes objects
//! into these views (`NodeInfo::from_node`, `JobInfo::from_job`, `EnginePod::from_pod`,
//! `NodePod::from_pod`).

mod actions;
pub mod build;
mod context;
pub mod convert;
pub mod drain;
pub mod lock;
mod model;
pub mod order;
pub mod plan;
pub mod reason;
mod rollout;
pub mod status;
mod step;
pub mod verify;

pub use actions::{Acquire, Action, Event, Plan, TargetWrite, stages};
pub use lock::{Limits, NodeLock};
pub use model::{
    Config, EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, Observed, OpRef,
    PodPhase, Target,
};
pub use plan::{plan, plan_with};
pub use reason::Reason;
pub use verify::{RebootOnly, Verdict, Verifier};

#[cfg(test)]
mod tests;
