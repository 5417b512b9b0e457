//! Request accounting of the simulator: how many API requests each client made, as which user, by
//! verb and resource (what a real API server's audit log or `apiserver_request_total` would tell),
//! and the largest object each client's writes stored, by resource, so benchmarks and tests can
//! count an operator's reads and writes and see how large its objects grow. No I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What one request is counted under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestKey {
    /// The authenticated username (`kube-sim-admin`, `system:serviceaccount:<ns>:<name>`,
    /// `system:anonymous`), or empty when authentication failed (401).
    pub user: String,
    /// The client: the product of its `User-Agent` (`kairos-operator` for
    /// `kairos-operator/0.1.0`), or `unknown`.
    pub client: String,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`.
    pub verb: &'static str,
    /// The resource's plural name (`kairosnodes`, `pods`, ...).
    pub resource: String,
    /// The subresource (`status`, `eviction`, `token`), or empty.
    pub subresource: String,
    /// The response's HTTP status code (200 for a watch that started).
    pub code: u16,
}

impl RequestKey {
    /// Whether the verb changes state (`create`, `update`, `patch`, `delete`,
    /// `deletecollection`). Token requests (`create` on `serviceaccounts/token`) count as writes,
    /// as on a real API server.
    pub fn is_write(&self) -> bool {
        !matches!(self.verb, "get" | "list" | "watch")
    }

    /// Whether the request succeeded (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

/// What the size of a stored object is kept under: who wrote it, and where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoredKey {
    /// The client, as in [`RequestKey::client`].
    pub client: String,
    /// The resource's plural name.
    pub resource: String,
    /// The subresource written (`status`), or empty.
    pub subresource: String,
}

/// The size in bytes of the object a successful write stored (its JSON as the simulator keeps
/// it, managedFields included), attached to the write's response for [`RequestLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StoredBytes(pub u64);

/// Request counts and largest stored objects since the simulator started (or since the last
/// [`RequestLog::take`]).
#[derive(Debug, Default)]
pub struct RequestLog {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
    largest: Mutex<BTreeMap<StoredKey, u64>>,
}

impl RequestLog {
    /// Counts one request.
    pub(crate) fn record(&self, key: RequestKey) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(key).or_default() += 1;
    }

    /// The counts so far.
    pub fn snapshot(&self) -> BTreeMap<RequestKey, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The counts so far, resetting them and the largest stored sizes
    /// ([`RequestLog::largest_stored`]), so both describe the same window from then on.
    pub fn take(&self) -> BTreeMap<RequestKey, u64> {
        self.largest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records that a successful create, update or patch (also server-side apply, also of a
    /// subresource) stored an object of `bytes`; only the largest per key is kept. Dry-run
    /// writes store nothing and are not recorded.
    pub(crate) fn record_stored(&self, key: StoredKey, bytes: u64) {
        let mut largest = self.largest.lock().unwrap_or_else(|e| e.into_inner());
        let max = largest.entry(key).or_default();
        *max = (*max).max(bytes);
    }

    /// The largest object stored by a successful write, in bytes of its JSON, per client,
    /// resource and subresource.
    pub fn largest_stored(&self) -> BTreeMap<StoredKey, u64> {
        self.largest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The largest object `client` stored by a successful write of `resource` (any
    /// subresource), in bytes; `None` when it stored none.
    pub fn largest_stored_by(&self, client: &str, resource: &str) -> Option<u64> {
        self.largest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| k.client == client && k.resource == resource)
            .map(|(_, b)| *b)
            .max()
    }
}

/// The static name of a resource verb (`other` for a verb a request cannot carry).
pub(crate) fn verb_name(verb: &str) -> &'static str {
    match verb {
        "get" => "get",
        "list" => "list",
        "watch" => "watch",
        "create" => "create",
        "update" => "update",
        "patch" => "patch",
        "delete" => "delete",
        "deletecollection" => "deletecollection",
        _ => "other",
    }
}

/// The client name of a `User-Agent` header: its first product token.
pub(crate) fn client_of(user_agent: &str) -> String {
    let product = user_agent
        .split(['/', ' '])
        .next()
        .unwrap_or_default()
        .trim();
    if product.is_empty() {
        "unknown".to_string()
    } else {
        product.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(client: &str, verb: &'static str) -> RequestKey {
        RequestKey {
            user: "u".into(),
            client: client.into(),
            verb,
            resource: "pods".into(),
            subresource: String::new(),
            code: 200,
        }
    }

    #[test]
    fn counts_per_key_and_resets_on_take() {
        let log = RequestLog::default();
        log.record(key("a", "get"));
        log.record(key("a", "get"));
        log.record(key("a", "patch"));
        let s = log.snapshot();
        assert_eq!(s[&key("a", "get")], 2);
        assert_eq!(s[&key("a", "patch")], 1);
        assert_eq!(log.take().len(), 2);
        assert!(log.snapshot().is_empty());
    }

    fn stored(client: &str, resource: &str, subresource: &str) -> StoredKey {
        StoredKey {
            client: client.into(),
            resource: resource.into(),
            subresource: subresource.into(),
        }
    }

    #[test]
    fn keeps_the_largest_stored_size_per_key_until_take() {
        let log = RequestLog::default();
        log.record_stored(stored("op", "nodeops", "status"), 300);
        log.record_stored(stored("op", "nodeops", "status"), 100);
        log.record_stored(stored("op", "nodeops", ""), 200);
        log.record_stored(stored("kubectl", "nodeops", ""), 900);
        assert_eq!(
            log.largest_stored()[&stored("op", "nodeops", "status")],
            300
        );
        assert_eq!(log.largest_stored()[&stored("op", "nodeops", "")], 200);
        assert_eq!(log.largest_stored_by("op", "nodeops"), Some(300));
        assert_eq!(log.largest_stored_by("op", "jobs"), None);
        log.take();
        assert!(log.largest_stored().is_empty());
    }

    #[test]
    fn writes_are_the_mutating_verbs() {
        assert!(!key("a", "list").is_write());
        assert!(!key("a", "watch").is_write());
        assert!(key("a", "create").is_write());
        assert!(key("a", "deletecollection").is_write());
    }

    #[test]
    fn client_is_the_user_agent_product() {
        assert_eq!(client_of("kairos-operator/0.1.0"), "kairos-operator");
        assert_eq!(client_of("kubectl/v1.33.0 (linux/amd64)"), "kubectl");
        assert_eq!(client_of(""), "unknown");
    }
}
