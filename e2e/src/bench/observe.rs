//! Watches one kind of object for the benchmark: how many objects are correct right now (by a
//! caller's test) and what each update changed since the last reset (see [`super::changes`]).
//! Does API I/O (one watch).

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt as _;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::changes::{Change, classify};

/// Updates counted since the last [`Observer::take_tally`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects seen for the first time.
    pub created: u64,
    /// Updates that changed only server-managed metadata.
    pub nothing: u64,
    /// Updates that changed only `status.lastSeen`.
    pub last_seen_only: u64,
    /// Updates that changed anything else.
    pub other: u64,
}

#[derive(Default)]
struct State {
    last: HashMap<String, Value>,
    correct: HashSet<String>,
    tally: Tally,
}

/// A running watch; ends when dropped.
pub struct Observer {
    state: Arc<Mutex<State>>,
    correct: watch::Receiver<usize>,
    listed: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Observer {
    /// Watches every object of `api`; `is_correct` tells whether an object is as expected.
    pub fn start<K>(api: Api<K>, is_correct: impl Fn(&K) -> bool + Send + 'static) -> Self
    where
        K: Resource + Clone + Debug + Serialize + DeserializeOwned + Send + 'static,
    {
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, correct) = watch::channel(0);
        let (listed_tx, listed) = watch::channel(false);
        let st = state.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = events.next().await {
                let (obj, deleted) = match ev {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => (o, false),
                    Ok(watcher::Event::Delete(o)) => (o, true),
                    Ok(watcher::Event::InitDone) => {
                        listed_tx.send_replace(true);
                        continue;
                    }
                    Ok(watcher::Event::Init) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "benchmark watch error (retrying)");
                        continue;
                    }
                };
                let name = obj.name_any();
                let ok = !deleted && is_correct(&obj);
                let Ok(value) = serde_json::to_value(&obj) else {
                    continue;
                };
                let mut s = lock(&st);
                if deleted {
                    s.last.remove(&name);
                } else {
                    match s.last.insert(name.clone(), value.clone()) {
                        None => s.tally.created += 1,
                        Some(old) => match classify(&old, &value) {
                            Change::Nothing => s.tally.nothing += 1,
                            Change::LastSeenOnly => s.tally.last_seen_only += 1,
                            Change::Other => s.tally.other += 1,
                        },
                    }
                }
                if ok {
                    s.correct.insert(name);
                } else {
                    s.correct.remove(&name);
                }
                tx.send_replace(s.correct.len());
            }
        });
        Self {
            state,
            correct,
            listed,
            task,
        }
    }

    /// Waits until the watch has listed every object once (so that its list is not part of
    /// what is measured next); false on timeout.
    pub async fn wait_listed(&self, timeout: Duration) -> bool {
        let mut rx = self.listed.clone();
        tokio::time::timeout(timeout, rx.wait_for(|l| *l))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// How many objects are correct now.
    pub fn correct(&self) -> usize {
        *self.correct.borrow()
    }

    /// Waits until `n` objects are correct; false on timeout.
    pub async fn wait_correct(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.correct.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The updates counted since the last call, resetting them.
    pub fn take_tally(&self) -> Tally {
        std::mem::take(&mut lock(&self.state).tally)
    }
}

fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}
