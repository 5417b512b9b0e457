//! The backoff of every watch of the operator (caches, the leader's Lease, the controllers'
//! triggers): exponential from 0.8 s to 30 s with jitter, as client-go's reflector. Pure apart
//! from reading tokio's clock; no I/O.
//!
//! Decision: a successful item does not reset it. kube-runtime's `default_backoff()` resets on
//! every `Ok` item, and a watcher yields the `Init` marker before each attempt to list, so a list
//! that is refused every time (a 403 Forbidden, say) was retried about once a second forever.
//! Here the delay starts over only after [`RESET_AFTER`] without an error.

use std::time::Duration;

use kube::runtime::utils::Backoff;
use tokio::time::Instant;

/// The first delay after an error.
pub(crate) const MIN_DELAY: Duration = Duration::from_millis(800);
/// The longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);
/// How long without an error before the delay starts over from [`MIN_DELAY`].
pub(crate) const RESET_AFTER: Duration = Duration::from_secs(120);

/// Exponential backoff that only time without errors resets (see the module's docs).
#[derive(Debug)]
pub(crate) struct WatchBackoff {
    next: Duration,
    last_error: Option<Instant>,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self {
            next: MIN_DELAY,
            last_error: None,
        }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    /// The delay after an error that happens now.
    fn next(&mut self) -> Option<Duration> {
        Some(self.after_error_at(Instant::now()))
    }
}

impl WatchBackoff {
    /// The delay after an error that happens at `now`.
    fn after_error_at(&mut self, now: Instant) -> Duration {
        if self
            .last_error
            .is_some_and(|last| now.duration_since(last) > RESET_AFTER)
        {
            self.next = MIN_DELAY;
        }
        self.last_error = Some(now);
        let delay = self.next;
        self.next = (delay * 2).min(MAX_DELAY);
        with_jitter(delay)
    }
}

impl Backoff for WatchBackoff {
    /// Ignored: an `Ok` item is no proof that the watch is healthy (see the module's docs).
    fn reset(&mut self) {}
}

/// `delay` plus up to half of it, so replicas and watches do not retry in step.
fn with_jitter(delay: Duration) -> Duration {
    delay + delay.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests;
