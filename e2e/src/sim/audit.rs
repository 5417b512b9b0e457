//! Request accounting of the simulator: how many API requests each client made, as which user, by
//! verb and resource (what a real API server's audit log or `apiserver_request_total` would tell), so
//! benchmarks and tests can count an operator's reads and writes. No I/O.

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

/// Request counts since the simulator started (or since the last [`RequestLog::take`]).
#[derive(Debug, Default)]
pub struct RequestLog {
    counts: Mutex<BTreeMap<RequestKey, u64>>,
}

impl RequestLog {
    /// Counts one request.
    pub fn record(&self, key: RequestKey) {
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

    /// The counts so far, resetting them.
    pub fn take(&self) -> BTreeMap<RequestKey, u64> {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The static name of a resource verb (`other` for a verb a request cannot carry).
pub fn verb_name(verb: &str) -> &'static str {
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
pub fn client_of(user_agent: &str) -> String {
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
