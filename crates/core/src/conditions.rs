//! Merging of status conditions: keeps `lastTransitionTime` when a condition's status did not
//! change, so a status written twice is byte-for-byte the same. Pure: no I/O.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// A condition as a planner wants it, without timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Condition type, one of [`kairos_api::names::conditions`].
    pub type_: &'static str,
    /// Whether the condition holds.
    pub status: bool,
    /// CamelCase cause (a constant, or one carried over from another object's condition).
    pub reason: Cow<'static, str>,
    /// Human-readable explanation.
    pub message: String,
}

impl Desired {
    /// A condition of type `type_` with the given status, reason and message.
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Builds the new conditions list from `desired`, keeping `lastTransitionTime` from `old` where
/// the status is unchanged and stamping `now` where it changed or is new. Conditions of `old`
/// whose type is not in `desired` are dropped. The result is sorted by type.
pub fn merge(
    old: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = desired
        .iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_owned();
            let previous = old.iter().find(|c| c.type_ == d.type_);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => Time(now),
            };
            Condition {
                type_: d.type_.to_owned(),
                status,
                reason: d.reason.to_string(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect();
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Whether two condition lists hold the same conditions, in any order. Conditions are a list
/// map keyed by `type`: the API server keeps the order in which server-side apply merged them,
/// which is not the order a planner builds, so comparing lists as they are would see a change
/// on every reconcile and write for nothing.
pub fn same(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.iter().any(|d| d == c))
}

/// The condition of type `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests;
