//! When a failed reconcile is retried: per object, exponentially from the error's first delay
//! (a conflict at once, an API hiccup in a second, a refusal in half a minute, an object that
//! makes no sense in a minute) up to five minutes, with jitter, starting over after a success.
//! So a bug is not retried every few seconds forever, and replicas and objects do not retry in
//! step. Pure apart from a lock and the failure log line; no I/O.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;

/// The longest delay between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(5 * 60);

/// Consecutive failures per object.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    failures: Mutex<HashMap<String, u32>>,
}

impl Retries {
    /// Records a failure of `key` with `error` and returns the delay before the next attempt.
    pub(crate) fn failed(&self, key: &str, error: &Error) -> Duration {
        let base = error.first_retry();
        if error.is_conflict() {
            // Someone wrote in between: plan again from fresh data, without backing off.
            return base + base.mul_f64(fastrand::f64());
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_owned()).or_default();
        *n = n.saturating_add(1);
        let delay = base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(16)))
            .min(MAX_DELAY);
        delay + delay.mul_f64(fastrand::f64() / 4.0)
    }

    /// Forgets the failures of `key` (it reconciled).
    pub(crate) fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
    /// Awaits one reconcile of the object keyed `key` and forgets its failures when it
    /// succeeds (so the next failure starts from the first delay again).
    pub(crate) async fn tracked<T>(
        &self,
        key: String,
        reconcile: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let result = reconcile.await;
        if result.is_ok() {
            self.succeeded(&key);
        }
        result
    }
}

/// What every controller does with a failed reconcile of `obj`: counts it on the metrics, logs
/// it (a conflict, routine, in one DEBUG line; a refusal, already reported by `permissions`, at
/// DEBUG; anything else at WARN) and says when to try again.
pub(crate) fn failed<K>(
    ctx: &crate::context::Context,
    retries: &Retries,
    controller: &'static str,
    obj: &K,
    error: &Error,
) -> kube::runtime::controller::Action
where
    K: kube::Resource<DynamicType = ()>,
{
    ctx.metrics.failure(controller, error.category());
    let kind = K::kind(&());
    let key = key(obj);
    if error.is_conflict() {
        tracing::debug!(%kind, object = %key, "reconcile raced another write; planning again");
    } else {
        crate::permissions::warn_unless_forbidden!(error, %kind, object = %key, error = %error, "reconcile failed");
    }
    kube::runtime::controller::Action::requeue(retries.failed(&key, error))
}

/// The key of an object for [`Retries`]: `<namespace>/<name>`.
pub(crate) fn key<K: kube::Resource>(obj: &K) -> String {
    let m = obj.meta();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests;
