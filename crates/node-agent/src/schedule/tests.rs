//! Tests of when the agent reads the host and sends reports.

use super::*;

const POLL: Duration = Duration::from_secs(30);
const HEARTBEAT: Duration = Duration::from_secs(300);

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn facts(version: &str) -> NodeFacts {
    NodeFacts {
        boot_id: Some(version.to_owned()),
        ..NodeFacts::default()
    }
}

#[test]
fn sends_at_start_then_only_on_heartbeat() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    let f = facts("a");
    assert!(sch.poll_due(s(0)));
    sch.polled(s(0));
    assert!(sch.send_due(&f, s(0)));
    sch.succeeded(f.clone(), s(0), Duration::ZERO);
    assert!(!sch.send_due(&f, s(299)));
    assert_eq!(sch.sleep_for(&f, s(0)), POLL);
    sch.polled(s(270));
    assert_eq!(sch.sleep_for(&f, s(270)), s(30));
    assert!(sch.send_due(&f, s(300)));
}

#[test]
fn a_change_is_sent_at_once() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    sch.succeeded(facts("a"), s(0), Duration::ZERO);
    assert!(!sch.send_due(&facts("a"), s(30)));
    assert!(sch.send_due(&facts("b"), s(30)));
    assert_eq!(sch.sleep_for(&facts("b"), s(30)), Duration::ZERO);
}

#[test]
fn failures_back_off_exponentially_with_a_cap() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    let delays: Vec<Duration> = (0..10).map(|_| sch.failed(s(0), 0.0)).collect();
    assert_eq!(
        delays,
        [
            Duration::from_millis(500),
            s(1),
            s(2),
            s(4),
            s(8),
            s(16),
            s(30),
            s(30),
            s(30),
            s(30)
        ]
    );
    assert_eq!(sch.failed(s(0), 0.999_999).as_secs(), 59);
    // A pending retry holds back even a changed report.
    assert!(!sch.send_due(&facts("b"), s(59)));
    assert!(sch.send_due(&facts("b"), s(60)));
    sch.succeeded(facts("b"), s(60), Duration::ZERO);
    assert_eq!(sch.failed(s(61), 0.0), Duration::from_millis(500));
}

#[test]
fn the_operator_may_change_the_heartbeat_within_bounds() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    sch.succeeded(facts("a"), s(0), s(120));
    assert_eq!(sch.heartbeat(), s(120));
    sch.succeeded(facts("a"), s(0), s(1));
    assert_eq!(sch.heartbeat(), MIN_HEARTBEAT);
    sch.succeeded(facts("a"), s(0), s(100_000));
    assert_eq!(sch.heartbeat(), MAX_HEARTBEAT);
    sch.succeeded(facts("a"), s(0), Duration::ZERO);
    assert_eq!(sch.heartbeat(), MAX_HEARTBEAT);
}

#[test]
fn the_host_is_read_every_poll_interval() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    sch.polled(s(0));
    assert!(!sch.poll_due(s(29)));
    assert!(sch.poll_due(s(30)));
    sch.polled(s(45));
    assert!(!sch.poll_due(s(74)));
    assert!(sch.poll_due(s(75)));
}

#[test]
fn a_failed_first_send_is_retried_after_its_delay_not_a_heartbeat() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    let f = facts("a");
    let delay = sch.failed(s(0), 0.5);
    assert_eq!(delay, Duration::from_millis(750));
    assert!(!sch.send_due(&f, Duration::from_millis(749)));
    assert!(sch.send_due(&f, delay));
}

#[test]
fn jitter_outside_zero_to_one_is_clamped() {
    let mut low = Schedule::new(POLL, HEARTBEAT);
    assert_eq!(low.failed(s(0), -3.0), Duration::from_millis(500));
    let mut high = Schedule::new(POLL, HEARTBEAT);
    assert_eq!(high.failed(s(0), 7.0), s(1));
}

#[test]
fn the_heartbeat_counts_from_the_last_success() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    let f = facts("a");
    sch.succeeded(f.clone(), s(0), Duration::ZERO);
    sch.failed(s(300), 0.0);
    sch.succeeded(f.clone(), s(301), Duration::ZERO);
    assert!(!sch.send_due(&f, s(600)));
    assert!(sch.send_due(&f, s(601)));
}

#[test]
fn facts_back_to_what_was_acknowledged_are_not_sent_again() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    sch.succeeded(facts("a"), s(0), Duration::ZERO);
    assert!(sch.changed(&facts("b")));
    assert!(!sch.changed(&facts("a")));
    assert!(!sch.send_due(&facts("a"), s(10)));
}

#[test]
fn an_overdue_read_means_no_sleep() {
    let mut sch = Schedule::new(POLL, HEARTBEAT);
    let f = facts("a");
    sch.polled(s(0));
    sch.succeeded(f.clone(), s(0), Duration::ZERO);
    assert_eq!(sch.sleep_for(&f, s(45)), Duration::ZERO);
}
