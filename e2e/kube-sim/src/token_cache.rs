//! The success cache of token authentication: kube-apiserver remembers a token that
//! authenticated for 10 s, so a token checked just before its pod is deleted still
//! authenticates for that long. Reads the clock only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a successful token authentication is remembered: kube-apiserver caches successes
/// for 10 s (its `TokenSuccessCacheTTL`; no flag changes it) and failures not at all, so a token
/// checked just before its pod is deleted still authenticates, as a request and in a
/// TokenReview, for up to 10 s.
pub(crate) const SUCCESS_CACHE_TTL: Duration = Duration::from_secs(10);

/// The token authentications that succeeded in the last [`SUCCESS_CACHE_TTL`], by token and
/// audiences.
#[derive(Debug, Default)]
pub(crate) struct SuccessCache(Mutex<HashMap<String, (Instant, Value)>>);

impl SuccessCache {
    /// The status remembered for `key`, if it succeeded less than [`SUCCESS_CACHE_TTL`] ago.
    pub(crate) fn get(&self, key: &str) -> Option<Value> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, status) = cache.get(key)?;
        (at.elapsed() < SUCCESS_CACHE_TTL).then(|| status.clone())
    }

    /// Remembers that `key` succeeded now with `status`.
    pub(crate) fn put(&self, key: String, status: Value) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 4096 {
            cache.retain(|_, (at, _)| at.elapsed() < SUCCESS_CACHE_TTL);
        }
        cache.insert(key, (Instant::now(), status));
    }
}
