//! A gate that holds back LIST requests of chosen resources until they are released, so a test
//! can make a client's initial sync as slow as it likes (a slow or overloaded API server). Held
//! requests wait asynchronously, holding no lock. No I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use tokio::sync::watch;

/// Which resources' LISTs are held, and how many requests wait at the gate.
#[derive(Debug)]
pub(crate) struct ListGate {
    /// Plural names of the held resources.
    held: watch::Sender<BTreeSet<String>>,
    /// Requests waiting, by plural name.
    waiting: Mutex<BTreeMap<String, usize>>,
}

impl Default for ListGate {
    fn default() -> Self {
        Self {
            held: watch::Sender::new(BTreeSet::new()),
            waiting: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ListGate {
    /// Holds LISTs of `plural` (e.g. `kairosnodes`) from now on, until released.
    pub(crate) fn hold(&self, plural: &str) {
        self.held.send_modify(|held| {
            held.insert(plural.to_owned());
        });
    }

    /// Releases `plural`: its waiting LISTs proceed, new ones pass at once.
    #[cfg(test)]
    pub(crate) fn release(&self, plural: &str) {
        self.held.send_modify(|held| {
            held.remove(plural);
        });
    }

    /// Releases every held resource.
    pub(crate) fn release_all(&self) {
        self.held.send_modify(BTreeSet::clear);
    }

    /// Whether any resource is held (a cheap check before parsing a request).
    pub(crate) fn any_held(&self) -> bool {
        !self.held.borrow().is_empty()
    }

    /// How many LISTs of `plural` wait at the gate now.
    pub(crate) fn waiting(&self, plural: &str) -> usize {
        self.counts().get(plural).copied().unwrap_or(0)
    }

    /// Resolves once `plural` is not held (at once when it is not). A waiter that is dropped
    /// (its client went away) stops counting as waiting.
    pub(crate) async fn pass(&self, plural: &str) {
        let mut held = self.held.subscribe();
        if !held.borrow_and_update().contains(plural) {
            return;
        }
        let _waiting = Waiting::new(self, plural);
        // The sender lives as long as the gate, so this only ends on release.
        let _ = held.wait_for(|held| !held.contains(plural)).await;
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, usize>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts one waiting request while alive.
struct Waiting<'a> {
    gate: &'a ListGate,
    plural: String,
}

impl<'a> Waiting<'a> {
    fn new(gate: &'a ListGate, plural: &str) -> Self {
        *gate.counts().entry(plural.to_owned()).or_default() += 1;
        Self {
            gate,
            plural: plural.to_owned(),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut counts = self.gate.counts();
        if let Some(n) = counts.get_mut(&self.plural) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.plural);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_held_resource_waits_until_released_and_others_pass() {
        let gate = std::sync::Arc::new(ListGate::default());
        gate.pass("pods").await;
        gate.hold("pods");
        assert!(gate.any_held());
        gate.pass("nodes").await;
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.pass("pods").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiter.is_finished());
        assert_eq!(gate.waiting("pods"), 1);
        gate.release("pods");
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("released")
            .expect("no panic");
        assert_eq!(gate.waiting("pods"), 0);
        assert!(!gate.any_held());
    }

    #[tokio::test]
    async fn a_dropped_waiter_stops_counting() {
        let gate = ListGate::default();
        gate.hold("nodes");
        let r = tokio::time::timeout(Duration::from_millis(50), gate.pass("nodes")).await;
        assert!(r.is_err(), "held");
        assert_eq!(gate.waiting("nodes"), 0);
        gate.release_all();
        gate.pass("nodes").await;
    }
}
