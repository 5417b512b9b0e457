//! Tests of the watch backoff: doubling, cap, jitter and the reset after a quiet period. Sync:
//! each error's instant is given, no clock is read.

use kube::runtime::utils::Backoff;

use super::*;

fn within_jitter(delay: Duration, base: Duration) -> bool {
    delay >= base && delay <= base + base / 2
}

#[test]
fn delays_double_up_to_the_cap_and_start_over_after_a_quiet_period() {
    let mut backoff = WatchBackoff::default();
    let mut now = Instant::now();
    let mut base = MIN_DELAY;
    for _ in 0..8 {
        let delay = backoff.after_error_at(now);
        assert!(within_jitter(delay, base), "{delay:?} for {base:?}");
        backoff.reset(); // an `Ok` item between two errors changes nothing
        now += delay;
        base = (base * 2).min(MAX_DELAY);
    }
    assert_eq!(base, MAX_DELAY);
    now += RESET_AFTER + Duration::from_secs(1);
    let delay = backoff.after_error_at(now);
    assert!(within_jitter(delay, MIN_DELAY), "{delay:?}");
}

#[test]
fn errors_closer_than_the_quiet_period_keep_the_delay_growing() {
    let mut backoff = WatchBackoff::default();
    let start = Instant::now();
    backoff.after_error_at(start);
    let second = backoff.after_error_at(start + RESET_AFTER);
    assert!(
        within_jitter(second, MIN_DELAY * 2),
        "exactly the quiet period is not more than it: {second:?}"
    );
}

#[test]
fn the_delay_never_exceeds_the_cap_plus_jitter() {
    let mut backoff = WatchBackoff::default();
    let start = Instant::now();
    for i in 0..50 {
        let delay = backoff.after_error_at(start + Duration::from_secs(i));
        assert!(delay <= MAX_DELAY + MAX_DELAY / 2, "{delay:?}");
    }
}

#[test]
fn jitter_adds_at_most_half_the_delay() {
    for _ in 0..1000 {
        assert!(within_jitter(with_jitter(MIN_DELAY), MIN_DELAY));
    }
}
