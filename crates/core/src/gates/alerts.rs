//! The alert gate: while a Prometheus alert whose name matches the operation's pattern fires,
//! no node starts (kured's `--prometheus-url` gate, per operation). Reads Prometheus'
//! `/api/v1/alerts` answer and judges it. Pure: the operator fetches the answer.

use regex::Regex;
use serde::Deserialize;

/// One alert as Prometheus lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Its `alertname` label.
    pub name: String,
    /// True when firing, false when pending.
    pub firing: bool,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    alerts: Vec<RawAlert>,
}

#[derive(Deserialize)]
struct RawAlert {
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    state: String,
}

/// Parses the body of Prometheus' `GET /api/v1/alerts`.
///
/// # Errors
/// What is wrong with the answer (not JSON, `status` not `success`), fit for a condition.
pub fn parse_alerts(body: &[u8]) -> Result<Vec<Alert>, String> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("Prometheus answered something that is not its alerts list: {e}"))?;
    if answer.status != "success" {
        return Err(format!(
            "Prometheus answered {}: {}",
            answer.status,
            answer.error.unwrap_or_default()
        ));
    }
    Ok(answer
        .data
        .map(|d| d.alerts)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| {
            Some(Alert {
                name: a.labels.get("alertname")?.clone(),
                firing: a.state == "firing",
            })
        })
        .collect())
}

/// The operation's alert gate, compiled.
#[derive(Clone, Debug)]
pub struct AlertGate {
    names: Regex,
    firing_only: bool,
}

impl AlertGate {
    /// A gate on alerts whose whole name matches `pattern`; pending alerts count too unless
    /// `firing_only`.
    ///
    /// # Errors
    /// When `pattern` is not a regular expression.
    pub fn new(pattern: &str, firing_only: bool) -> Result<Self, String> {
        let names = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            format!("alertGate.alertNames: {pattern:?} is not a regular expression: {e}")
        })?;
        Ok(Self { names, firing_only })
    }

    /// The names of the alerts that hold the operation, sorted and deduplicated; empty when
    /// none does.
    pub fn holding(&self, alerts: &[Alert]) -> Vec<String> {
        let mut names: Vec<String> = alerts
            .iter()
            .filter(|a| a.firing || !self.firing_only)
            .filter(|a| self.names.is_match(&a.name))
            .map(|a| a.name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{"status":"success","data":{"alerts":[
        {"labels":{"alertname":"NodeDown","instance":"a"},"state":"firing","activeAt":"2026-12-06T10:00:00Z","value":"1"},
        {"labels":{"alertname":"NodeDown","instance":"b"},"state":"firing"},
        {"labels":{"alertname":"DiskFilling"},"state":"pending"},
        {"labels":{"alertname":"Watchdog"},"state":"firing"},
        {"labels":{"severity":"none"},"state":"firing"}
    ]}}"#;

    #[test]
    fn prometheus_alerts_parse_and_an_error_answer_is_said() {
        let alerts = parse_alerts(ANSWER.as_bytes()).expect("parses");
        assert_eq!(alerts.len(), 4, "an alert without a name is left out");
        assert_eq!(
            alerts[2],
            Alert {
                name: "DiskFilling".into(),
                firing: false
            }
        );
        let e = parse_alerts(br#"{"status":"error","errorType":"bad_data","error":"nope"}"#)
            .expect_err("an error answer");
        assert!(e.contains("error") && e.contains("nope"), "{e}");
        assert!(parse_alerts(b"<html>").is_err());
    }

    #[test]
    fn every_alternative_of_a_pattern_must_match_a_whole_name() {
        let alerts = parse_alerts(ANSWER.as_bytes()).expect("parses");
        let gate = AlertGate::new("NodeDown|Watch", true).expect("valid");
        assert_eq!(gate.holding(&alerts), ["NodeDown"], "Watch is not Watchdog");
    }

    #[test]
    fn a_success_without_data_holds_nothing() {
        assert_eq!(parse_alerts(br#"{"status":"success"}"#), Ok(vec![]));
        assert_eq!(
            parse_alerts(br#"{"status":"success","data":{}}"#),
            Ok(vec![])
        );
    }

    #[test]
    fn an_alert_in_an_unknown_state_is_not_firing() {
        let alerts = parse_alerts(
            br#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"A"},"state":"inactive"}]}}"#,
        )
        .expect("parses");
        assert_eq!(
            alerts,
            [Alert {
                name: "A".into(),
                firing: false
            }]
        );
        let gate = AlertGate::new("A", true).expect("valid");
        assert!(gate.holding(&alerts).is_empty());
    }

    #[test]
    fn an_invalid_pattern_is_refused_naming_the_field() {
        let e = AlertGate::new("Node[", false).expect_err("invalid");
        assert!(
            e.starts_with("alertGate.alertNames: \"Node[\" is not a regular expression: "),
            "{e}"
        );
    }

    #[test]
    fn an_error_answer_is_quoted_whole() {
        assert_eq!(
            parse_alerts(br#"{"status":"error","error":"query timed out"}"#),
            Err("Prometheus answered error: query timed out".to_owned())
        );
    }

    #[test]
    fn only_matching_alerts_hold_and_pending_ones_only_when_asked() {
        let alerts = parse_alerts(ANSWER.as_bytes()).expect("parses");
        let gate = AlertGate::new("Node.*|Disk.*", true).expect("valid");
        assert_eq!(gate.holding(&alerts), ["NodeDown"]);
        let gate = AlertGate::new("Node.*|Disk.*", false).expect("valid");
        assert_eq!(gate.holding(&alerts), ["DiskFilling", "NodeDown"]);
        // The whole name must match: "Down" alone matches nothing.
        assert!(
            AlertGate::new("Down", true)
                .expect("valid")
                .holding(&alerts)
                .is_empty()
        );
        assert!(AlertGate::new("(", true).is_err());
    }
}
