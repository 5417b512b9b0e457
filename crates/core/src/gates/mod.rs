//! Gates that hold new starts of an operation while nodes in flight finish: maintenance
//! windows ([`window`]), pacing between nodes ([`pacing`]), Prometheus alerts ([`alerts`]) and,
//! per node, blocking pods. [`held`] judges the operation-wide ones in that order. Pure: each
//! gate takes what was observed and `now`.

pub mod alerts;
pub mod pacing;
pub mod window;

use std::collections::BTreeMap;

use jiff::Timestamp;
use kairos_api::v1alpha1::Gates;

use self::alerts::{Alert, AlertGate};
use self::window::{Window, WindowState};

/// What the operator observed for an operation's gates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GateInputs {
    /// Prometheus' active alerts: `None` when the operator has no `--prometheus-url`, an error
    /// when it could not read them.
    pub alerts: Option<Result<Vec<Alert>, String>>,
    /// The pods matching `blockingPodSelector`, as `namespace/name`, by node (only nodes that
    /// have some; only when the operation sets the selector).
    pub blocking_pods: BTreeMap<String, Vec<String>>,
}

/// Why an operation's new starts are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldReason {
    /// Outside its maintenance window.
    Window,
    /// Within `postCompleteDelay` of its latest finished node.
    PostCompleteDelay,
    /// A matching Prometheus alert is active.
    Alert,
    /// The alerts cannot be read (no `--prometheus-url`, or Prometheus did not answer).
    AlertsUnknown,
    /// A gate that cannot be evaluated (an unknown time zone, say).
    InvalidGate,
}

impl HeldReason {
    /// The reason as written in conditions and `status.held`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Window => "Window",
            Self::PostCompleteDelay => "PostCompleteDelay",
            Self::Alert => "Alert",
            Self::AlertsUnknown => "AlertsUnknown",
            Self::InvalidGate => "InvalidGate",
        }
    }
}

/// An operation-wide hold: why, in words, and when it ends by itself (if known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Why.
    pub reason: HeldReason,
    /// What a person reads.
    pub message: String,
    /// When the hold ends unless something else changes (a window opening, a delay passing).
    pub until: Option<Timestamp>,
}

impl Held {
    fn new(reason: HeldReason, message: String, until: Option<Timestamp>) -> Self {
        Self {
            reason,
            message,
            until,
        }
    }
}

fn at(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether `gates` hold new starts at `now`, given what was observed and when the
/// operation's latest node finished. A `blockingPodSelector` Kubernetes would refuse holds
/// first (it could never be listed); then the window is judged, then the pacing, then the
/// alerts.
pub fn held(
    spec: &Gates,
    inputs: &GateInputs,
    last_finished: Option<Timestamp>,
    now: Timestamp,
) -> Option<Held> {
    if let Some(selector) = &spec.blocking_pod_selector
        && let Err(e) = crate::k8s_names::matches(selector, &BTreeMap::new())
    {
        let msg = format!("blockingPodSelector: {e}");
        return Some(Held::new(HeldReason::InvalidGate, msg, None));
    }
    if let Some(w) = &spec.window {
        let window = Window::parse(&w.days, &w.start_time, &w.end_time, w.time_zone.as_deref());
        match window.map(|w| w.state(now)) {
            Err(e) => return Some(Held::new(HeldReason::InvalidGate, e.0, None)),
            Ok(WindowState::Closed { opens_at }) => {
                let msg = format!(
                    "outside the maintenance window: it opens at {}",
                    at(opens_at)
                );
                return Some(Held::new(HeldReason::Window, msg, Some(opens_at)));
            }
            Ok(WindowState::Open { .. }) => {}
        }
    }
    if let Some(text) = &spec.post_complete_delay {
        match pacing::parse_duration(text) {
            Err(e) => return Some(Held::new(HeldReason::InvalidGate, e.to_string(), None)),
            Ok(delay) => {
                if let Some(next) = pacing::next_start(delay, last_finished).filter(|n| *n > now) {
                    let msg = format!(
                        "postCompleteDelay {text}: the next node starts at {}",
                        at(next)
                    );
                    return Some(Held::new(HeldReason::PostCompleteDelay, msg, Some(next)));
                }
            }
        }
    }
    if let Some(g) = &spec.alert_gate {
        let gate = match AlertGate::new(&g.alert_names, g.firing_only.unwrap_or(true)) {
            Ok(gate) => gate,
            Err(e) => return Some(Held::new(HeldReason::InvalidGate, e, None)),
        };
        match &inputs.alerts {
            None => {
                let msg = "alertGate is set but the operator has no --prometheus-url".to_owned();
                return Some(Held::new(HeldReason::AlertsUnknown, msg, None));
            }
            Some(Err(e)) => {
                let msg = format!("alertGate holds while the alerts cannot be read: {e}");
                return Some(Held::new(HeldReason::AlertsUnknown, msg, None));
            }
            Some(Ok(alerts)) => {
                let holding = gate.holding(alerts);
                if !holding.is_empty() {
                    let msg = format!("alert(s) active: {}", holding.join(", "));
                    return Some(Held::new(HeldReason::Alert, msg, None));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
