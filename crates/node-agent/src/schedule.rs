//! When to read the host and when to send a report: at start, on change, on a slow heartbeat,
//! and after a failure with exponential backoff and jitter. Pure: times are [`Duration`]s since
//! the agent started and randomness is an argument, so every decision is testable without
//! a clock.

use std::time::Duration;

use kairos_core::report::NodeFacts;

/// The first retry delay after a failed send.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The shortest heartbeat the operator may ask for.
pub const MIN_HEARTBEAT: Duration = Duration::from_secs(10);
/// The longest heartbeat the operator may ask for.
pub const MAX_HEARTBEAT: Duration = Duration::from_secs(3600);

/// The agent's timing state.
#[derive(Clone, Debug)]
pub struct Schedule {
    poll_interval: Duration,
    heartbeat: Duration,
    next_poll: Duration,
    last_sent: Option<NodeFacts>,
    last_success: Option<Duration>,
    retry_at: Option<Duration>,
    failures: u32,
}

impl Schedule {
    /// A schedule that reads the host at once and every `poll_interval`, and sends a report at
    /// least every `heartbeat`.
    pub fn new(poll_interval: Duration, heartbeat: Duration) -> Self {
        Self {
            poll_interval,
            heartbeat,
            next_poll: Duration::ZERO,
            last_sent: None,
            last_success: None,
            retry_at: None,
            failures: 0,
        }
    }

    /// The current heartbeat.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// Whether the host should be read at `now`.
    pub fn poll_due(&self, now: Duration) -> bool {
        now >= self.next_poll
    }

    /// Records that the host was read at `now`.
    pub fn polled(&mut self, now: Duration) {
        self.next_poll = now + self.poll_interval;
    }

    /// Whether `current` differs from what the operator last acknowledged.
    pub fn changed(&self, current: &NodeFacts) -> bool {
        self.last_sent.as_ref() != Some(current)
    }

    /// When a report of `current` is due: at once when it changed, else a heartbeat after the
    /// last success; never before a pending retry time.
    fn send_due_at(&self, current: &NodeFacts) -> Duration {
        let due = match self.last_success {
            Some(t) if !self.changed(current) => t + self.heartbeat,
            _ => Duration::ZERO,
        };
        self.retry_at.map_or(due, |r| due.max(r))
    }

    /// Whether a report of `current` should be sent at `now`.
    pub fn send_due(&self, current: &NodeFacts, now: Duration) -> bool {
        now >= self.send_due_at(current)
    }

    /// Records a successful send of `sent` at `now`. A non-zero `suggested_heartbeat` from the
    /// operator replaces the heartbeat, clamped to [`MIN_HEARTBEAT`]..=[`MAX_HEARTBEAT`].
    pub fn succeeded(&mut self, sent: NodeFacts, now: Duration, suggested_heartbeat: Duration) {
        self.last_sent = Some(sent);
        self.last_success = Some(now);
        self.retry_at = None;
        self.failures = 0;
        if !suggested_heartbeat.is_zero() {
            self.heartbeat = suggested_heartbeat.clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
        }
    }

    /// Records a failed send at `now` and returns the delay before the next attempt:
    /// exponential from [`BACKOFF_BASE`], capped at [`BACKOFF_CAP`], with "equal jitter"
    /// (half fixed, half `jitter` in `0.0..1.0` of it) so agents restarted together spread out.
    pub fn failed(&mut self, now: Duration, jitter: f64) -> Duration {
        let exp = BACKOFF_BASE.saturating_mul(1u32 << self.failures.min(16));
        let ceiling = exp.min(BACKOFF_CAP);
        self.failures = self.failures.saturating_add(1);
        let delay = ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        self.retry_at = Some(now + delay);
        delay
    }

    /// How long to sleep from `now` until something is due (a host read or a send of
    /// `current`).
    pub fn sleep_for(&self, current: &NodeFacts, now: Duration) -> Duration {
        self.next_poll
            .min(self.send_due_at(current))
            .saturating_sub(now)
    }
}

#[cfg(test)]
mod tests;
