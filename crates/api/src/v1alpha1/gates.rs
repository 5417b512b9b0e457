//! What holds an operation's new starts while its nodes in flight finish: a maintenance window
//! and a Prometheus alert gate, shared by `NodeOp` and `NodeOpUpgrade`. Declarations only: no
//! I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use kube::core::{Message, Rule};
use serde::{Deserialize, Serialize};

/// Day names a window accepts: system-upgrade-controller's Plan `window` spellings.
pub const WINDOW_DAYS: [&str; 28] = [
    "0",
    "su",
    "sun",
    "sunday",
    "1",
    "mo",
    "mon",
    "monday",
    "2",
    "tu",
    "tue",
    "tuesday",
    "3",
    "we",
    "wed",
    "wednesday",
    "4",
    "th",
    "thu",
    "thursday",
    "5",
    "fr",
    "fri",
    "friday",
    "6",
    "sa",
    "sat",
    "saturday",
];

/// `HH:MM` on a 24-hour clock.
const TIME_OF_DAY: &str = "^([01]?[0-9]|2[0-3]):[0-5][0-9]$";

fn days_rule() -> Rule {
    let list = WINDOW_DAYS
        .iter()
        .map(|d| format!("'{d}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Rule::new(format!("self.all(d, d in [{list}])")).message(Message::Message(
        "days must be monday ... sunday, or mon, mo, 1 ... sun, su, 0 (lower case)".to_owned(),
    ))
}

fn time_rule(field: &str) -> Rule {
    Rule::new(format!("self.matches('{TIME_OF_DAY}')")).message(Message::Message(format!(
        "{field} must be a time of day HH:MM on a 24-hour clock, such as 01:30 or 22:00"
    )))
}

/// A duration as Kubernetes writes one (`90s`, `5m`, `1h30m`, `1.5h`), for CEL.
const DURATION: &str = "^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|µs|ms|s|m|h))+)$";

/// The CEL rule refusing a `field` that is not a duration.
fn duration_rule(field: &str) -> Rule {
    Rule::new(format!("self.matches('{DURATION}')")).message(Message::Message(format!(
        "{field} must be a duration such as 90s, 5m or 1h30m"
    )))
}

/// What holds an operation's new starts (nodes in flight always finish), the same fields on
/// `NodeOp` and `NodeOpUpgrade` (a NodeOpUpgrade passes them to its NodeOp).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Gates {
    /// Start nodes only while this maintenance window is open (system-upgrade-controller's Plan
    /// `window`); nodes in flight finish. While it is closed the `Held` condition says until
    /// when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<MaintenanceWindow>,

    /// Wait this long after a node finishes before the next one starts (`90s`, `5m`,
    /// `1h30m`): canary pacing, as system-upgrade-controller's `postCompleteDelay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = duration_rule("postCompleteDelay"))]
    pub post_complete_delay: Option<String>,

    /// A node running a pod that matches this selector (any namespace) does not start until
    /// the pod is gone, as kured's blocking pods; other nodes may go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking_pod_selector: Option<LabelSelector>,

    /// Hold new starts while a matching Prometheus alert is active (needs the operator's
    /// `--prometheus-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_gate: Option<AlertGate>,
}

/// A maintenance window, in the shape of system-upgrade-controller's Plan `window`: nodes start
/// only while it is open; nodes already in flight finish. It opens on each listed day at
/// `startTime` and closes at `endTime`, the next day when `endTime` is not after `startTime`
/// (equal times: the whole day).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// Days the window opens on: `monday` ... `sunday`, or `mon`, `mo`, `1` ... `sun`, `su`,
    /// `0`. Empty: every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = days_rule())]
    pub days: Vec<String>,

    /// Local time the window opens, `HH:MM` (24-hour clock).
    #[x_kube(validation = time_rule("startTime"))]
    pub start_time: String,

    /// Local time the window closes, `HH:MM`; at or before `startTime` means the next day.
    #[x_kube(validation = time_rule("endTime"))]
    pub end_time: String,

    /// IANA time zone of both times, such as `Europe/Berlin` (daylight saving included);
    /// default `UTC`. A zone the operator does not know holds the operation and says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// Holds new starts while a matching Prometheus alert is active (the operator's
/// `--prometheus-url` must be set). If Prometheus cannot be reached, the gate holds too.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AlertGate {
    /// Regular expression (RE2 syntax) an alert's whole name must match to hold the operation,
    /// such as `KubeNodeNotReady|etcd.*`.
    #[schemars(length(min = 1))]
    pub alert_names: String,

    /// Count only firing alerts (default); false counts pending ones too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing_only: Option<bool>,
}
