//! The `NodeOp` engine (DESIGN.md section 5): pure planning of privileged operations across
//! nodes. No I/O: the operator observes, calls [`plan()`], applies the actions and writes the
//! status.

pub mod drain;
pub mod job;
pub mod order;
pub mod plan;
pub mod status;
mod step;
pub mod verify;

pub use plan::{
    Action, Config, EnginePod, EngineRole, Event, JobCondition, JobInfo, NodeInfo, NodePod,
    Observed, OpRef, Plan, PlanError, PodPhase, plan, plan_with,
};
pub use verify::{RebootOnly, Verdict, Verifier};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_parts;
#[cfg(test)]
mod tests_verify;
