//! Tests of condition merging and comparison.

use super::*;

#[test]
fn same_ignores_order_but_not_content() {
    let a = merge(
        &[],
        &[
            Desired::new("A", true, "R", "m"),
            Desired::new("B", false, "R", "m"),
        ],
        Some(1),
        t(10),
    );
    let mut reversed = a.clone();
    reversed.reverse();
    assert!(same(&a, &reversed));
    let mut other = a.clone();
    other[0].message = "changed".into();
    assert!(!same(&a, &other));
    assert!(!same(&a, &a[..1]));
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

#[test]
fn keeps_transition_time_when_status_is_unchanged() {
    let d = [Desired::new("Ready", true, "Fine", "ok")];
    let first = merge(&[], &d, Some(1), t(10));
    let second = merge(
        &first,
        &[Desired::new("Ready", true, "StillFine", "ok")],
        Some(2),
        t(20),
    );
    assert_eq!(second[0].last_transition_time, Time(t(10)));
    assert_eq!(second[0].reason, "StillFine");
    assert_eq!(second[0].observed_generation, Some(2));
}

#[test]
fn stamps_now_when_status_flips() {
    let first = merge(&[], &[Desired::new("Ready", true, "Fine", "")], None, t(10));
    let second = merge(
        &first,
        &[Desired::new("Ready", false, "Broken", "")],
        None,
        t(20),
    );
    assert_eq!(second[0].last_transition_time, Time(t(20)));
    assert_eq!(second[0].status, "False");
}

#[test]
fn conditions_no_longer_desired_are_dropped_and_the_rest_sorted_by_type() {
    let old = merge(
        &[],
        &[
            Desired::new("Stale", true, "R", ""),
            Desired::new("Ready", true, "R", ""),
        ],
        None,
        t(10),
    );
    let got = merge(
        &old,
        &[
            Desired::new("Upgrading", false, "Idle", ""),
            Desired::new("Ready", true, "R", ""),
        ],
        None,
        t(20),
    );
    let types: Vec<&str> = got.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Ready", "Upgrading"]);
    assert_eq!(got[0].last_transition_time, Time(t(10)));
    assert_eq!(got[1].last_transition_time, Time(t(20)), "new: stamped now");
}

#[test]
fn a_status_written_twice_is_identical() {
    let d = [
        Desired::new("Ready", true, "Fine", "ok"),
        Desired::new("Degraded", false, "Fine", ""),
    ];
    let first = merge(&[], &d, Some(3), t(10));
    assert_eq!(merge(&first, &d, Some(3), t(99)), first);
}

#[test]
fn a_carried_over_reason_is_kept_as_given() {
    let reason: std::borrow::Cow<'static, str> = std::borrow::Cow::Owned("WindowClosed".into());
    let got = merge(&[], &[Desired::new("Held", true, reason, "")], None, t(1));
    assert_eq!(got[0].reason, "WindowClosed");
    assert_eq!(got[0].status, "True");
}
