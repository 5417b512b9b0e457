//! Drain decisions for one node, following `kubectl drain`: which pods to evict, which to
//! leave alone, which refuse the drain, and what blocks it. Pure: no I/O.

use kairos_api::names::LABEL_ROLE;
use kairos_api::v1alpha1::DrainOptions;

use super::model::NodePod;

/// Default of `drainOptions.timeoutSeconds`.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 300;

/// Why a pod stops the drain before anything is evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A DaemonSet pod while `ignoreDaemonSets` is false.
    DaemonSet,
    /// A pod with an `emptyDir` volume while `deleteEmptyDirData` is false.
    EmptyDir,
    /// A pod no controller manages while `force` is false.
    Unmanaged,
}

impl Refusal {
    /// The option that would allow the pod.
    pub fn hint(self) -> &'static str {
        match self {
            Self::DaemonSet => "DaemonSet-managed; set drainOptions.ignoreDaemonSets",
            Self::EmptyDir => "uses emptyDir; set drainOptions.deleteEmptyDirData",
            Self::Unmanaged => "not managed by a controller; set drainOptions.force",
        }
    }
}

/// The drain's view of a node's pods.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainView<'a> {
    /// Pods to evict now (not yet terminating).
    pub evict: Vec<&'a NodePod>,
    /// Pods already terminating: the drain waits for them to go.
    pub terminating: Vec<&'a NodePod>,
    /// Pods that refuse the drain, with the reason.
    pub refused: Vec<(&'a NodePod, Refusal)>,
}

impl DrainView<'_> {
    /// True when nothing remains to evict or wait for (and nothing refused).
    pub fn is_done(&self) -> bool {
        self.evict.is_empty() && self.terminating.is_empty() && self.refused.is_empty()
    }

    /// `ns/name` of every pod still on the node that the drain waits for, sorted.
    pub fn blocking(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .evict
            .iter()
            .chain(&self.terminating)
            .map(|p| pod_ref(p))
            .collect();
        out.sort();
        out
    }

    /// `ns/name (why)` of every refusing pod, sorted.
    pub fn refusals(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .refused
            .iter()
            .map(|(p, r)| format!("{} ({})", pod_ref(p), r.hint()))
            .collect();
        out.sort();
        out
    }
}

/// `namespace/name` of a pod.
pub fn pod_ref(p: &NodePod) -> String {
    format!("{}/{}", p.namespace, p.name)
}

/// Sorts the node's pods. Skipped: finished pods, mirror pods, pods of the engine (label
/// `operator.kairos.io/role`), and DaemonSet pods when `ignoreDaemonSets`.
pub fn classify<'a>(pods: &'a [NodePod], opts: Option<&DrainOptions>) -> DrainView<'a> {
    let ignore_ds = opts.is_none_or(|o| o.ignore_daemon_sets);
    let empty_dir_ok = opts.is_some_and(|o| o.delete_empty_dir_data);
    let force = opts.and_then(|o| o.force).unwrap_or(false);
    let mut view = DrainView::default();
    for p in pods {
        let daemon_set = p.controller_kind.as_deref() == Some("DaemonSet");
        if p.phase.is_finished() || p.is_mirror || p.labels.contains_key(LABEL_ROLE) {
            continue;
        }
        if daemon_set && ignore_ds {
            continue;
        }
        let refusal = if daemon_set {
            Some(Refusal::DaemonSet)
        } else if p.controller_kind.is_none() && !force {
            Some(Refusal::Unmanaged)
        } else if p.has_empty_dir && !empty_dir_ok {
            Some(Refusal::EmptyDir)
        } else {
            None
        };
        match refusal {
            Some(r) if !p.deleting => view.refused.push((p, r)),
            _ if p.deleting => view.terminating.push(p),
            _ => view.evict.push(p),
        }
    }
    view
}

/// `drainOptions.gracePeriodSeconds` as eviction delete options: unset or negative keeps the
/// pod's own grace period.
pub fn grace_period(opts: Option<&DrainOptions>) -> Option<i64> {
    opts.and_then(|o| o.grace_period_seconds)
        .filter(|s| *s >= 0)
        .map(i64::from)
}

/// `drainOptions.timeoutSeconds`, or its default of 300.
pub fn timeout_seconds(opts: Option<&DrainOptions>) -> i64 {
    i64::from(
        opts.and_then(|o| o.timeout_seconds)
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    )
}
