use kairos_api::v1alpha1::{AlertGate as AlertGateSpec, MaintenanceWindow};

use super::*;

fn spec() -> Gates {
    Gates::default()
}

fn t(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn alerts(list: &[(&str, bool)]) -> GateInputs {
    GateInputs {
        alerts: Some(Ok(list
            .iter()
            .map(|(n, f)| Alert {
                name: (*n).to_owned(),
                firing: *f,
            })
            .collect())),
        ..GateInputs::default()
    }
}

#[test]
fn no_gates_hold_nothing() {
    assert_eq!(
        held(
            &spec(),
            &GateInputs::default(),
            None,
            t("2026-12-07T12:00:00Z")
        ),
        None
    );
}

#[test]
fn a_closed_window_holds_until_it_opens_and_an_open_one_lets_through() {
    let mut s = spec();
    s.window = Some(MaintenanceWindow {
        days: vec![],
        start_time: "01:00".into(),
        end_time: "04:00".into(),
        time_zone: None,
    });
    let h = held(&s, &GateInputs::default(), None, t("2026-12-07T12:00:00Z")).expect("held");
    assert_eq!(h.reason, HeldReason::Window);
    assert_eq!(h.until, Some(t("2026-12-08T01:00:00Z")));
    assert!(h.message.contains("2026-12-08T01:00:00Z"), "{}", h.message);
    assert_eq!(
        held(&s, &GateInputs::default(), None, t("2026-12-08T02:00:00Z")),
        None
    );
}

#[test]
fn an_unknown_zone_holds_and_says_so() {
    let mut s = spec();
    s.window = Some(MaintenanceWindow {
        days: vec![],
        start_time: "01:00".into(),
        end_time: "04:00".into(),
        time_zone: Some("Europe/Atlantis".into()),
    });
    let h = held(&s, &GateInputs::default(), None, t("2026-12-08T02:00:00Z")).expect("held");
    assert_eq!(h.reason, HeldReason::InvalidGate);
    assert!(h.message.contains("Europe/Atlantis"));
}

#[test]
fn the_delay_runs_from_the_latest_finished_node() {
    let mut s = spec();
    s.post_complete_delay = Some("5m".into());
    let inputs = GateInputs::default();
    assert_eq!(
        held(&s, &inputs, None, t("2026-12-07T12:00:00Z")),
        None,
        "nothing finished"
    );
    let finished = Some(t("2026-12-07T12:00:00Z"));
    let h = held(&s, &inputs, finished, t("2026-12-07T12:04:59Z")).expect("held");
    assert_eq!(h.reason, HeldReason::PostCompleteDelay);
    assert_eq!(h.until, Some(t("2026-12-07T12:05:00Z")));
    assert_eq!(held(&s, &inputs, finished, t("2026-12-07T12:05:00Z")), None);
}

#[test]
fn matching_alerts_hold_and_unreadable_alerts_hold_with_the_reason() {
    let mut s = spec();
    s.alert_gate = Some(AlertGateSpec {
        alert_names: "Node.*".into(),
        firing_only: None,
    });
    let now = t("2026-12-07T12:00:00Z");
    let h = held(
        &s,
        &alerts(&[("NodeDown", true), ("Other", true)]),
        None,
        now,
    )
    .expect("held");
    assert_eq!(h.reason, HeldReason::Alert);
    assert!(h.message.contains("NodeDown") && !h.message.contains("Other"));
    assert_eq!(
        held(&s, &alerts(&[("NodeDown", false)]), None, now),
        None,
        "pending only"
    );
    assert_eq!(held(&s, &alerts(&[]), None, now), None);
    let h = held(&s, &GateInputs::default(), None, now).expect("held");
    assert_eq!(h.reason, HeldReason::AlertsUnknown);
    assert!(h.message.contains("--prometheus-url"));
    let unreachable = GateInputs {
        alerts: Some(Err("Prometheus at x cannot be read: refused".into())),
        ..GateInputs::default()
    };
    let h = held(&s, &unreachable, None, now).expect("held");
    assert_eq!(h.reason, HeldReason::AlertsUnknown);
    assert!(h.message.contains("refused"));
}

#[test]
fn the_window_is_judged_before_the_delay_and_the_alerts() {
    let mut s = spec();
    s.window = Some(MaintenanceWindow {
        days: vec!["mon".into()],
        start_time: "01:00".into(),
        end_time: "02:00".into(),
        time_zone: Some("UTC".into()),
    });
    s.post_complete_delay = Some("1h".into());
    s.alert_gate = Some(AlertGateSpec {
        alert_names: ".*".into(),
        firing_only: None,
    });
    let now = t("2026-12-08T12:00:00Z");
    let h = held(&s, &alerts(&[("X", true)]), Some(now), now).expect("held");
    assert_eq!(h.reason, HeldReason::Window);
}

#[test]
fn a_blocking_pod_selector_kubernetes_would_refuse_holds_and_says_why() {
    let mut s = spec();
    s.blocking_pod_selector = Some(
        serde_json::from_value(serde_json::json!({
            "matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]
        }))
        .expect("a selector"),
    );
    let h = held(&s, &GateInputs::default(), None, t("2026-12-07T12:00:00Z")).expect("held");
    assert_eq!(h.reason, HeldReason::InvalidGate);
    assert!(
        h.message.contains("blockingPodSelector") && h.message.contains("app"),
        "{}",
        h.message
    );
    s.blocking_pod_selector = Some(
        serde_json::from_value(serde_json::json!({"matchLabels": {"app": "backup"}}))
            .expect("a selector"),
    );
    assert_eq!(
        held(&s, &GateInputs::default(), None, t("2026-12-07T12:00:00Z")),
        None
    );
}

#[test]
fn a_delay_that_is_no_duration_holds_as_an_invalid_gate_quoting_it() {
    let gates = Gates {
        post_complete_delay: Some("5 minutes".into()),
        ..spec()
    };
    let got = held(
        &gates,
        &GateInputs::default(),
        None,
        t("2026-12-07T12:00:00Z"),
    )
    .expect("held");
    assert_eq!(got.reason, HeldReason::InvalidGate);
    assert_eq!(
        got.message,
        "postCompleteDelay: \"5 minutes\" is not a duration such as 90s, 5m or 1h30m"
    );
    assert_eq!(got.until, None);
}

#[test]
fn a_zero_delay_or_a_delay_already_passed_holds_nothing() {
    let now = t("2026-12-07T12:00:00Z");
    let finished = Some(t("2026-12-07T11:50:00Z"));
    for delay in ["0", "0s", "10m", "5m"] {
        let gates = Gates {
            post_complete_delay: Some(delay.into()),
            ..spec()
        };
        assert_eq!(
            held(&gates, &GateInputs::default(), finished, now),
            None,
            "{delay}"
        );
    }
}

#[test]
fn an_alert_pattern_that_is_no_regular_expression_holds_as_an_invalid_gate() {
    let gates = Gates {
        alert_gate: Some(AlertGateSpec {
            alert_names: "Node[".into(),
            firing_only: None,
        }),
        ..spec()
    };
    let got = held(&gates, &alerts(&[]), None, t("2026-12-07T12:00:00Z")).expect("held");
    assert_eq!(got.reason, HeldReason::InvalidGate);
    assert!(
        got.message.starts_with("alertGate.alertNames: \"Node[\""),
        "{}",
        got.message
    );
}

#[test]
fn pending_alerts_hold_unless_only_firing_ones_are_asked_for() {
    let gate = |firing_only: Option<bool>| Gates {
        alert_gate: Some(AlertGateSpec {
            alert_names: "DiskFilling".into(),
            firing_only,
        }),
        ..spec()
    };
    let now = t("2026-12-07T12:00:00Z");
    let pending = alerts(&[("DiskFilling", false)]);
    assert_eq!(
        held(&gate(None), &pending, None, now),
        None,
        "firing only by default"
    );
    let got = held(&gate(Some(false)), &pending, None, now).expect("held");
    assert_eq!(got.reason, HeldReason::Alert);
    assert_eq!(got.message, "alert(s) active: DiskFilling");
}
