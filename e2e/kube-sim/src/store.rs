//! The in-memory object store: objects by type and key, the global `resourceVersion` counter,
//! a bounded event history for watches, the broadcast channel live watches read, and etcd's
//! size limit on what is stored. No I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::error::{ApiError, ApiResult};
use super::registry::Registry;
use super::token_cache::SuccessCache;

/// etcd's default `--max-request-bytes` (1.5 MiB): a write whose request is larger is refused.
pub(crate) const ETCD_MAX_REQUEST_BYTES: usize = 1_572_864;

/// A change to one object, as watches see it.
#[derive(Debug, Clone)]
pub(crate) struct ChangeEvent {
    /// `resourceVersion` of the change.
    pub rv: u64,
    /// Store key of the type (`group/plural`).
    pub store_key: String,
    /// Namespace (`""` for cluster-scoped).
    pub namespace: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object after the change (for `DELETED`: the last state).
    pub object: Value,
    /// The object before the change (`MODIFIED` only), for selector transitions.
    pub old: Option<Value>,
}

/// Objects of one type, by (namespace, name).
pub(crate) type Objects = BTreeMap<(String, String), Value>;

/// Everything the simulator holds, behind one mutex.
#[derive(Debug)]
pub(crate) struct State {
    /// Last issued `resourceVersion`.
    pub rv: u64,
    /// Served types.
    pub registry: Registry,
    /// Objects by store key.
    pub objects: HashMap<String, Objects>,
    /// Recent changes, oldest first.
    pub history: VecDeque<Arc<ChangeEvent>>,
    /// Watches from a `resourceVersion` below this get 410 Gone.
    pub floor: u64,
    /// Maximum number of retained changes.
    pub history_cap: usize,
    /// Live watch fan-out.
    pub tx: broadcast::Sender<Arc<ChangeEvent>>,
    /// The largest object, in bytes of its JSON, a write may store (etcd's
    /// `--max-request-bytes`; see [`State::check_size`]).
    pub max_stored_bytes: usize,
    /// How many stored objects name each owner UID in their owner references, so that deleting
    /// an object with no dependents (most deletes) does not scan every object.
    owners: HashMap<String, usize>,
    /// Token authentications that succeeded lately (see [`SuccessCache`]).
    pub token_successes: SuccessCache,
}

/// The owner UIDs `obj` names.
fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str())
}

impl State {
    /// An empty store whose counter starts at `first_rv`.
    pub(crate) fn new(first_rv: u64, history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(8192);
        Self {
            rv: first_rv,
            registry: Registry::with_builtins(),
            objects: HashMap::new(),
            history: VecDeque::new(),
            floor: first_rv,
            history_cap,
            tx,
            max_stored_bytes: ETCD_MAX_REQUEST_BYTES,
            owners: HashMap::new(),
            token_successes: SuccessCache::default(),
        }
    }

    /// Whether some stored object names `uid` as an owner.
    pub(crate) fn has_dependents(&self, uid: &str) -> bool {
        self.owners.get(uid).is_some_and(|n| *n > 0)
    }

    fn count_owners(&mut self, obj: &Value, delta: isize) {
        for uid in owner_uids(obj) {
            let n = self.owners.entry(uid.to_owned()).or_default();
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                self.owners.remove(uid);
            }
        }
    }

    /// A throwaway copy for `dryRun=All`: same objects, its own (unwatched) event channel.
    pub(crate) fn dry_copy(&self) -> Self {
        let (tx, _) = broadcast::channel(16);
        Self {
            rv: self.rv,
            registry: self.registry.clone(),
            objects: self.objects.clone(),
            history: VecDeque::new(),
            floor: self.rv,
            history_cap: self.history_cap,
            tx,
            max_stored_bytes: self.max_stored_bytes,
            owners: self.owners.clone(),
            token_successes: SuccessCache::default(),
        }
    }

    /// Refuses to store `obj` when its JSON is larger than [`State::max_stored_bytes`], with
    /// the answer of a real server whose etcd refuses the write (500, etcd's message; see
    /// [`ApiError::etcd_request_too_large`]). Returns the size otherwise.
    ///
    /// etcd compares its whole request with the limit: the key and a few dozen bytes of framing
    /// besides the value, which is JSON for custom resources and protobuf (a little smaller
    /// than JSON) for built-in kinds. The simulator compares the object's compact JSON, so its
    /// boundary is within about a kilobyte of a real server's.
    ///
    /// # Errors
    /// The etcd error when the object is too large.
    pub(crate) fn check_size(&self, obj: &Value) -> ApiResult<usize> {
        let size = stored_size(obj);
        if size > self.max_stored_bytes {
            return Err(ApiError::etcd_request_too_large());
        }
        Ok(size)
    }

    /// Issues the next `resourceVersion`.
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Forgets the history so far: watches from an older version get 410 (used after bootstrap).
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    /// One object.
    pub(crate) fn get(&self, store_key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(store_key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// All objects of a type, optionally in one namespace.
    pub(crate) fn list(&self, store_key: &str, ns: Option<&str>) -> Vec<Value> {
        self.list_matching(store_key, ns, |_| true)
    }

    /// The objects of a type (optionally in one namespace) for which `keep` holds: only those
    /// are copied, so a selective list of a large collection stays cheap.
    pub(crate) fn list_matching(
        &self,
        store_key: &str,
        ns: Option<&str>,
        keep: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        self.page(store_key, ns, None, None, keep).items
    }

    /// One page of the objects of a type (optionally in one namespace) for which `keep` holds:
    /// at most `limit` of them from the key `from` on (keys order by namespace, then name),
    /// and the key where the next page starts with how many objects remain from it. Only the
    /// page is copied, so paging through a large collection stays linear, as on a real server.
    pub(crate) fn page(
        &self,
        store_key: &str,
        ns: Option<&str>,
        from: Option<(String, String)>,
        limit: Option<usize>,
        keep: impl Fn(&Value) -> bool,
    ) -> Page {
        let Some(m) = self.objects.get(store_key) else {
            return Page::default();
        };
        // Keys sort by namespace first: one namespace is one range.
        let start = match (from, ns) {
            (Some(k), Some(ns)) if k.0.as_str() < ns => (ns.to_owned(), String::new()),
            (Some(k), _) => k,
            (None, Some(ns)) => (ns.to_owned(), String::new()),
            (None, None) => (String::new(), String::new()),
        };
        let mut matching = m
            .range(start..)
            .take_while(|((n, _), _)| ns.is_none_or(|ns| n == ns))
            .filter(|(_, v)| keep(v));
        let limit = limit.unwrap_or(usize::MAX);
        let items = matching
            .by_ref()
            .take(limit)
            .map(|(_, v)| v.clone())
            .collect();
        let next = matching.next().map(|(k, _)| k.clone());
        let remaining = next.as_ref().map_or(0, |_| 1 + matching.count());
        Page {
            items,
            next,
            remaining,
        }
    }

    /// Stores `obj` (whose `resourceVersion` is already set) and records the change.
    pub(crate) fn put(&mut self, store_key: &str, obj: Value, old: Option<Value>) {
        let (ns, name) = key_of(&obj);
        let rv = rv_of(&obj);
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let replaced = self
            .objects
            .entry(store_key.to_string())
            .or_default()
            .insert((ns.clone(), name), obj.clone());
        if let Some(replaced) = &replaced {
            self.count_owners(replaced, -1);
        }
        self.count_owners(&obj, 1);
        self.record(ChangeEvent {
            rv,
            store_key: store_key.into(),
            namespace: ns,
            kind,
            object: obj,
            old,
        });
    }

    /// Removes an object; `last` is its final state (with a fresh `resourceVersion`).
    pub(crate) fn remove(&mut self, store_key: &str, last: Value) {
        let (ns, name) = key_of(&last);
        let removed = self
            .objects
            .get_mut(store_key)
            .and_then(|m| m.remove(&(ns.clone(), name)));
        if let Some(removed) = &removed {
            self.count_owners(removed, -1);
        }
        let rv = rv_of(&last);
        self.record(ChangeEvent {
            rv,
            store_key: store_key.into(),
            namespace: ns,
            kind: "DELETED",
            object: last,
            old: None,
        });
    }

    fn record(&mut self, ev: ChangeEvent) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.floor = old.rv;
            }
        }
        // No receivers is fine: nobody watches.
        let _ = self.tx.send(ev);
    }
}

/// The size of `obj`'s compact JSON in bytes (what the simulator stores), computed without
/// building the string.
pub(crate) fn stored_size(obj: &Value) -> usize {
    /// Counts the bytes written to it.
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    // Writing a `Value` to a sink that cannot fail cannot fail.
    let _ = serde_json::to_writer(&mut c, obj);
    c.0
}

/// (namespace, name) of an object.
pub(crate) fn key_of(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_string(),
        m["name"].as_str().unwrap_or_default().to_string(),
    )
}

/// `metadata.resourceVersion` as a number (0 when absent or malformed).
pub(crate) fn rv_of(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One page of a list (see [`State::page`]).
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The objects of the page.
    pub(crate) items: Vec<Value>,
    /// The key (namespace, name) of the first object of the next page, if any.
    pub(crate) next: Option<(String, String)>,
    /// How many objects the next pages hold.
    pub(crate) remaining: usize,
}

#[cfg(test)]
mod tests;
