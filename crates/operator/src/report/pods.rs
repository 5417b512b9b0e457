//! Which pods of the agents' namespace exist now, so a cached token check is trusted only while
//! the pod its token is bound to lives ([`LivePods`], pure), kept current by one metadata watch
//! of that namespace ([`watch`], I/O: list and watch of Pods' metadata).
//!
//! Decision: a TokenReview answer is cached for as long as the token is valid (one review per
//! token, not per report), but each use of the cached answer first asks [`LivePods::state`]. A
//! pod deleted is gone from the set within the watch's latency, so its token is reviewed again
//! (and refused) at its next report. While the watch is not synced (starting, reconnecting,
//! refused) nothing is known, and the cache falls back to trusting an answer for
//! [`UNVOUCHED_FOR`] only.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch_stream};
use tokio::sync::watch as signal;

use crate::backoff::WatchBackoff;

/// How long a cached token check is trusted when the pod watch cannot vouch for its pod. With
/// the API server's own cache of successful token checks (10 s), a token whose pod was deleted
/// is refused within a minute even then.
pub const UNVOUCHED_FOR: Duration = Duration::from_secs(50);

/// What the watch says about a pod UID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodState {
    /// The pod exists.
    Live,
    /// The watch is synced and has no such pod: deleted, or too new to be seen yet.
    Gone,
    /// The watch is not synced (or the token names no pod UID): nothing is known.
    Unknown,
}

#[derive(Debug, Default)]
struct Inner {
    synced: bool,
    uids: HashSet<String>,
    /// The UIDs of a list in progress (between `Init` and `InitDone`).
    listing: Option<HashSet<String>>,
}

/// The UIDs of the pods that exist in the agents' namespace, as the watch last saw them.
#[derive(Clone, Debug, Default)]
pub struct LivePods {
    inner: Arc<Mutex<Inner>>,
}

impl LivePods {
    /// What is known of the pod `uid`.
    pub fn state(&self, uid: Option<&str>) -> PodState {
        let Some(uid) = uid else {
            return PodState::Unknown;
        };
        let inner = self.lock();
        match (inner.synced, inner.uids.contains(uid)) {
            (false, _) => PodState::Unknown,
            (true, true) => PodState::Live,
            (true, false) => PodState::Gone,
        }
    }

    /// Applies one watch event: a relist replaces the set once complete; an error leaves it
    /// unsynced until the next complete list.
    pub fn apply(&self, event: Result<Event<Option<String>>, ()>) {
        let mut inner = self.lock();
        match event {
            Ok(Event::Init) => inner.listing = Some(HashSet::new()),
            Ok(Event::InitApply(Some(uid))) => {
                if let Some(listing) = inner.listing.as_mut() {
                    listing.insert(uid);
                }
            }
            Ok(Event::InitDone) => {
                if let Some(listing) = inner.listing.take() {
                    inner.uids = listing;
                    inner.synced = true;
                }
            }
            Ok(Event::Apply(Some(uid))) => {
                inner.uids.insert(uid);
            }
            Ok(Event::Delete(Some(uid))) => {
                inner.uids.remove(&uid);
            }
            Ok(Event::InitApply(None) | Event::Apply(None) | Event::Delete(None)) => {}
            Err(()) => {
                inner.synced = false;
                inner.listing = None;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Keeps `pods` current from a metadata watch of the Pods in `namespace` until `stop` turns
/// true. Refusals and disconnects are retried with the operator's watch backoff (and reported
/// by the permission layer); meanwhile `pods` is unsynced.
pub async fn watch(
    client: kube::Client,
    namespace: String,
    pods: LivePods,
    mut stop: signal::Receiver<bool>,
) {
    let api: Api<PartialObjectMeta<Pod>> = Api::namespaced(client, &namespace);
    let events = watch_stream(api, watcher::Config::default()).backoff(WatchBackoff::default());
    let mut events = std::pin::pin!(events);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => pods.apply(
                    event
                        .map(uids)
                        .map_err(|e| tracing::debug!(error = %e, "the agents' pod watch failed; retrying")),
                ),
                None => return,
            },
            () = super::stopped(&mut stop) => return,
        }
    }
}

/// The event with each object reduced to its UID.
fn uids(event: Event<PartialObjectMeta<Pod>>) -> Event<Option<String>> {
    match event {
        Event::Init => Event::Init,
        Event::InitApply(p) => Event::InitApply(p.metadata.uid),
        Event::InitDone => Event::InitDone,
        Event::Apply(p) => Event::Apply(p.metadata.uid),
        Event::Delete(p) => Event::Delete(p.metadata.uid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn nothing_is_known_before_the_first_complete_list() {
        let pods = LivePods::default();
        assert_eq!(pods.state(Some("a")), PodState::Unknown);
        pods.apply(Ok(Event::Init));
        pods.apply(Ok(Event::InitApply(uid("a"))));
        assert_eq!(pods.state(Some("a")), PodState::Unknown);
        pods.apply(Ok(Event::InitDone));
        assert_eq!(pods.state(Some("a")), PodState::Live);
        assert_eq!(pods.state(Some("b")), PodState::Gone);
        assert_eq!(pods.state(None), PodState::Unknown);
    }

    #[test]
    fn a_deleted_pod_is_gone_and_a_new_one_live() {
        let pods = LivePods::default();
        for e in [
            Event::Init,
            Event::InitApply(uid("a")),
            Event::InitDone,
            Event::Apply(uid("b")),
            Event::Delete(uid("a")),
        ] {
            pods.apply(Ok(e));
        }
        assert_eq!(pods.state(Some("a")), PodState::Gone);
        assert_eq!(pods.state(Some("b")), PodState::Live);
    }

    #[test]
    fn an_error_unsyncs_and_a_relist_replaces_the_whole_set() {
        let pods = LivePods::default();
        for e in [Event::Init, Event::InitApply(uid("a")), Event::InitDone] {
            pods.apply(Ok(e));
        }
        pods.apply(Err(()));
        assert_eq!(pods.state(Some("a")), PodState::Unknown);
        // The relist no longer has `a` (deleted while the watch was down).
        for e in [Event::Init, Event::InitApply(uid("b")), Event::InitDone] {
            pods.apply(Ok(e));
        }
        assert_eq!(pods.state(Some("a")), PodState::Gone);
        assert_eq!(pods.state(Some("b")), PodState::Live);
        // A relist cut short by an error leaves the watch unsynced until the next one.
        pods.apply(Ok(Event::Init));
        pods.apply(Err(()));
        pods.apply(Ok(Event::InitDone));
        assert_eq!(pods.state(Some("b")), PodState::Unknown);
    }
}
