//! Table tests of the KairosNode status computation. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::names::conditions::{UP_TO_DATE, UPGRADING};
use kairos_api::v1alpha1::{BootState, UpgradeState, UpgradeStatus};

use super::*;
use crate::report::{HostSnapshot, facts};

const MIN: SignedDuration = SignedDuration::from_mins(1);
const INTERVAL: SignedDuration = SignedDuration::from_mins(5);

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn report(version: &str, boot_id: &str, kairos_release_extra: &str) -> AgentReport {
    AgentReport {
        node_name: "n1".into(),
        agent_version: "0.1.0".into(),
        facts: facts(&HostSnapshot {
            kairos_release: Some(format!(
                "KAIROS_VERSION=\"{version}\"\nKAIROS_FLAVOR=ubuntu\n{kairos_release_extra}"
            )),
            os_release: Some("ID=ubuntu\nPRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\n".into()),
            cmdline: Some("BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_ACTIVE cos-img/filename=/cOS/active.img panic=5\n".into()),
            boot_id: Some(format!("{boot_id}\n")),
            ..HostSnapshot::default()
        }),
    }
}

fn cond<'a>(s: &'a KairosNodeStatus, type_: &str) -> &'a Condition {
    conditions::find(&s.conditions, type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

#[test]
fn first_report_fills_everything() {
    let (s, changed) =
        status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    assert!(changed);
    assert_eq!(
        s.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.6.0")
    );
    assert_eq!(s.kairos.as_ref().unwrap().flavor.as_deref(), Some("ubuntu"));
    assert_eq!(
        s.os.as_ref().unwrap().pretty_name.as_deref(),
        Some("Ubuntu 24.04.2 LTS")
    );
    assert_eq!(s.boot_state, Some(BootState::Active));
    assert_eq!(s.boot_id.as_deref(), Some("b1"));
    assert_eq!(s.agent_version.as_deref(), Some("0.1.0"));
    assert_eq!(s.cloud_config_hash.as_ref().map(String::len), Some(64));
    assert_eq!(s.last_seen, Some(Time(t(0))));
    assert_eq!(cond(&s, REPORTING).status, "True");
    assert_eq!(cond(&s, REPORTING).reason, REASON_AGENT_REPORTING);
    assert_eq!(cond(&s, DEGRADED).status, "False");
    assert_eq!(cond(&s, DEGRADED).observed_generation, Some(1));
    assert!(s.upgrade.is_none());
}

#[test]
fn last_seen_is_coarse_and_changed_follows_it() {
    let r = report("v3.6.0", "b1", "");
    let (s0, _) = status_from_report(&r, None, Some(1), t(0), INTERVAL);
    // (when, expected lastSeen, expected changed)
    let cases = [
        (t(1), t(0), false),
        (t(0) + INTERVAL - MIN, t(0), false),
        (t(0) + INTERVAL, t(0) + INTERVAL, true),
        (t(0) + INTERVAL * 3, t(0) + INTERVAL * 3, true),
    ];
    for (now, seen, want_changed) in cases {
        let (s, changed) = status_from_report(&r, Some(&s0), Some(1), now, INTERVAL);
        assert_eq!(s.last_seen, Some(Time(seen)), "at {now}");
        assert_eq!(changed, want_changed, "at {now}");
    }
}

#[test]
fn sub_second_clock_does_not_make_a_change() {
    let r = report("v3.6.0", "b1", "");
    let now = t(0) + SignedDuration::from_millis(700);
    let (s0, _) = status_from_report(&r, None, Some(1), now, INTERVAL);
    // What the API server gives back has whole seconds.
    let stored: KairosNodeStatus =
        serde_json::from_value(serde_json::to_value(&s0).unwrap()).unwrap();
    let (_, changed) = status_from_report(&r, Some(&stored), Some(1), now + MIN, INTERVAL);
    assert!(!changed);
}

#[test]
fn conditions_in_the_servers_order_are_not_a_change() {
    // The upgrade controller applied its conditions first, so the server lists them first.
    let r = report("v3.6.0", "b1", "");
    let (mut stored, _) = status_from_report(&r, None, Some(1), t(0), INTERVAL);
    stored.conditions.push(cond(&stored, DEGRADED).clone());
    stored.conditions[2].type_ = UP_TO_DATE.into();
    stored.conditions.sort_by(|a, b| b.type_.cmp(&a.type_));
    let (_, changed) = status_from_report(&r, Some(&stored), Some(1), t(1), INTERVAL);
    assert!(!changed, "{:?}", stored.conditions);
}

#[test]
fn a_reboot_into_a_new_version_is_a_change() {
    let (s0, _) = status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    let (s1, changed) = status_from_report(
        &report("v3.7.0", "b2", ""),
        Some(&s0),
        Some(1),
        t(60),
        INTERVAL,
    );
    assert!(changed);
    assert_eq!(s1.boot_id.as_deref(), Some("b2"));
    assert_eq!(s1.kairos.unwrap().version.as_deref(), Some("v3.7.0"));
    // Only the facts moved: lastSeen and the transition times stay.
    assert_eq!(s1.last_seen, Some(Time(t(0))));
    assert_eq!(s1.conditions, s0.conditions);
}

#[test]
fn malformed_release_degrades_then_recovers() {
    let bad = report("v3.6.0", "b1", "KAIROS_MODEL \"broken\n");
    let (s0, _) = status_from_report(&bad, None, Some(1), t(0), INTERVAL);
    let d = cond(&s0, DEGRADED);
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("True", REASON_MALFORMED_RELEASE)
    );
    assert!(
        d.message.contains("/etc/kairos-release: line 3"),
        "{}",
        d.message
    );
    assert_eq!(s0.report_errors.len(), 1);
    // The well-formed keys are still reported, the broken one is not guessed.
    assert_eq!(
        s0.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.6.0")
    );
    assert_eq!(s0.kairos.as_ref().unwrap().model, None);

    let (s1, changed) = status_from_report(
        &report("v3.6.0", "b1", ""),
        Some(&s0),
        Some(1),
        t(60),
        INTERVAL,
    );
    assert!(changed);
    let d = cond(&s1, DEGRADED);
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("False", REASON_REPORT_CLEAN)
    );
    assert_eq!(d.last_transition_time, Time(t(60)));
    assert!(s1.report_errors.is_empty());
}

#[test]
fn the_upgrade_controllers_fields_are_kept_untouched() {
    let (mut s0, _) =
        status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    s0.upgrade = Some(UpgradeStatus {
        state: UpgradeState::Rebooting,
        target_version: Some("v3.7.0".into()),
        attempts: 1,
        ..UpgradeStatus::default()
    });
    s0.observed_generation = Some(7);
    let theirs = conditions::merge(
        &[],
        &[
            Desired::new(UP_TO_DATE, false, "UpgradePending", "wants v3.7.0"),
            Desired::new(UPGRADING, true, "Rebooting", "rebooting"),
        ],
        Some(7),
        t(-100),
    );
    s0.conditions.extend(theirs.clone());
    let (s1, changed) = status_from_report(
        &report("v3.7.0", "b2", ""),
        Some(&s0),
        Some(8),
        t(60),
        INTERVAL,
    );
    assert!(changed);
    assert_eq!(s1.upgrade, s0.upgrade);
    assert_eq!(s1.observed_generation, Some(7));
    assert_eq!(cond(&s1, UP_TO_DATE), &theirs[0]);
    assert_eq!(cond(&s1, UPGRADING), &theirs[1]);
    assert_eq!(cond(&s1, REPORTING).observed_generation, Some(8));
    let types: Vec<&str> = s1.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Degraded", "Reporting", "UpToDate", "Upgrading"]);

    // What the report service applies leaves all of that out.
    let owned = report_owned(&s1);
    assert_eq!(owned.upgrade, None);
    assert_eq!(owned.observed_generation, None);
    let types: Vec<&str> = owned.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Degraded", "Reporting"]);
    assert_eq!(owned.kairos, s1.kairos);
}

#[test]
fn stale_reporting_table() {
    let (fresh, _) = status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    let threshold = INTERVAL + MIN * 3;
    let silent = with_condition(
        &fresh,
        &Desired::new(REPORTING, false, REASON_AGENT_SILENT, "x"),
        Some(1),
        t(1000),
    );
    let never = KairosNodeStatus::default();
    let cases: Vec<(&str, &KairosNodeStatus, Timestamp, bool)> = vec![
        ("just reported", &fresh, t(1), false),
        ("at the threshold", &fresh, t(0) + threshold, false),
        ("past the threshold", &fresh, t(1) + threshold, true),
        (
            "already marked silent",
            &silent,
            t(0) + threshold * 10,
            false,
        ),
        ("never reported", &never, t(0) + threshold * 10, false),
    ];
    for (name, status, now, want) in cases {
        let got = stale_reporting(status, now, threshold);
        assert_eq!(got.is_some(), want, "{name}");
        if let Some(d) = got {
            assert_eq!(
                (d.status, d.reason.as_ref()),
                (false, REASON_AGENT_SILENT),
                "{name}"
            );
            assert!(d.message.contains("no report"), "{name}");
        }
    }
}

#[test]
fn marking_silent_keeps_everything_else_and_a_new_report_revives() {
    let (s0, _) = status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    let d = stale_reporting(&s0, t(3600), INTERVAL * 2).unwrap();
    let silent = with_condition(&s0, &d, Some(1), t(3600));
    assert_eq!(cond(&silent, REPORTING).status, "False");
    assert_eq!(cond(&silent, REPORTING).last_transition_time, Time(t(3600)));
    assert_eq!(cond(&silent, DEGRADED), cond(&s0, DEGRADED));
    assert_eq!(silent.last_seen, s0.last_seen);
    assert_eq!(silent.kairos, s0.kairos);

    let (back, changed) = status_from_report(
        &report("v3.6.0", "b1", ""),
        Some(&silent),
        Some(1),
        t(3700),
        INTERVAL,
    );
    assert!(changed);
    assert_eq!(cond(&back, REPORTING).status, "True");
    assert_eq!(cond(&back, REPORTING).last_transition_time, Time(t(3700)));
    assert_eq!(back.last_seen, Some(Time(t(3700))));
}

#[test]
fn long_error_lists_are_cut_in_the_message_but_kept_in_the_status() {
    let mut r = report("v3.6.0", "b1", "");
    r.facts.errors = (0..200)
        .map(|i| format!("/etc/kairos-release: line {i}: é bad"))
        .collect();
    let (s, _) = status_from_report(&r, None, None, t(0), INTERVAL);
    assert!(cond(&s, DEGRADED).message.len() <= MAX_MESSAGE_LEN + 4);
    assert_eq!(s.report_errors.len(), 200);
}

fn uki_report(sentinels: &[&str], kairos_release_extra: &str) -> AgentReport {
    AgentReport {
        node_name: "n1".into(),
        agent_version: "0.1.0".into(),
        facts: facts(&HostSnapshot {
            kairos_release: Some(format!(
                "KAIROS_VERSION=\"v3.6.0\"\nKAIROS_FLAVOR=ubuntu\n{kairos_release_extra}"
            )),
            cmdline: Some(
                "console=tty1 rd.immucore.oemlabel=COS_OEM rd.immucore.uki panic=5\n".into(),
            ),
            cos_sentinels: sentinels.iter().map(|s| (*s).to_owned()).collect(),
            boot_id: Some("b1\n".into()),
            ..HostSnapshot::default()
        }),
    }
}

#[test]
fn a_uki_node_reports_its_sentinel_state_and_trusted_boot() {
    let (s, _) = status_from_report(
        &uki_report(&["active_mode", "uki_boot_mode"], ""),
        None,
        Some(1),
        t(0),
        INTERVAL,
    );
    assert_eq!(s.boot_state, Some(BootState::Active));
    assert_eq!(s.trusted_boot, Some(true));
    assert_eq!(s.in_ram, Some(false));
    assert_eq!(s.upgrade_failure, Some(false));
    assert_eq!(s.boot_state_message, None);
}

#[test]
fn trusted_boot_also_comes_from_the_release() {
    let mut r = report("v3.6.0", "b1", "KAIROS_TRUSTED_BOOT=\"true\"\n");
    assert!(!r.facts.uki_boot);
    let (s, _) = status_from_report(&r, None, Some(1), t(0), INTERVAL);
    assert_eq!(s.trusted_boot, Some(true));
    r = report("v3.6.0", "b1", "KAIROS_TRUSTED_BOOT=\"false\"\n");
    let (s, _) = status_from_report(&r, None, Some(1), t(0), INTERVAL);
    assert_eq!(s.trusted_boot, Some(false));
}

#[test]
fn in_ram_fallback_and_contradictions_reach_the_status_and_count_as_changes() {
    let (first, _) = status_from_report(&report("v3.6.0", "b1", ""), None, Some(1), t(0), INTERVAL);
    let mut r = report("v3.6.0", "b1", "");
    r.facts = facts(&HostSnapshot {
        cmdline: Some("root=LABEL=COS_ACTIVE\n".into()),
        cos_sentinels: vec![
            "passive_mode".into(),
            "in_ram_mode".into(),
            "upgrade_failure".into(),
        ],
        kairos_release: Some("KAIROS_VERSION=\"v3.6.0\"\nKAIROS_FLAVOR=ubuntu\n".into()),
        os_release: Some("ID=ubuntu\nPRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\n".into()),
        boot_id: Some("b1\n".into()),
        ..HostSnapshot::default()
    });
    let (s, changed) = status_from_report(&r, Some(&first), Some(1), t(10), INTERVAL);
    assert!(changed);
    assert_eq!(s.boot_state, Some(BootState::Passive));
    assert_eq!(s.in_ram, Some(true));
    assert_eq!(s.upgrade_failure, Some(true));
    assert!(
        s.boot_state_message
            .as_deref()
            .is_some_and(|m| m.contains("passive_mode")),
        "{:?}",
        s.boot_state_message
    );
    assert_eq!(report_owned(&s).upgrade_failure, Some(true));
}

#[test]
fn trusted_boot_in_the_release_is_read_as_a_boolean_word_only() {
    let with = |value: &str| {
        let f = NodeFacts {
            kairos: Some(crate::release::KairosRelease {
                trusted_boot: Some(value.to_owned()),
                ..Default::default()
            }),
            ..NodeFacts::default()
        };
        trusted_boot(&f)
    };
    assert!(with("TRUE"));
    assert!(with(" true "));
    assert!(!with("yes"));
    assert!(!with("1"));
    assert!(!with("false"));
    assert!(!trusted_boot(&NodeFacts::default()));
}

#[test]
fn the_report_service_applies_only_its_own_fields_and_conditions() {
    let status = KairosNodeStatus {
        boot_id: Some("b".into()),
        upgrade: Some(UpgradeStatus {
            state: UpgradeState::InProgress,
            ..UpgradeStatus::default()
        }),
        observed_generation: Some(3),
        conditions: [REPORTING, "Degraded", UP_TO_DATE, UPGRADING]
            .iter()
            .map(|type_| Condition {
                type_: (*type_).to_owned(),
                status: "True".into(),
                reason: "R".into(),
                message: String::new(),
                observed_generation: None,
                last_transition_time: Time(t(0)),
            })
            .collect(),
        ..KairosNodeStatus::default()
    };
    let owned = report_owned(&status);
    assert_eq!(owned.boot_id.as_deref(), Some("b"));
    assert_eq!(owned.upgrade, None);
    assert_eq!(owned.observed_generation, None);
    let types: Vec<&str> = owned.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, [REPORTING, "Degraded"]);
}
