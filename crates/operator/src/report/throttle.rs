//! A bound on the report channel's concurrent API requests: [`Throttled`] wraps a [`Store`] or
//! an [`Authenticator`] so that each of their API calls holds one of a shared number of slots.
//! Thousands of agents reporting at once (after an operator restart, say) then queue here, in
//! the operator, instead of flooding the API server, where the leader's lease renewals and the
//! controllers' requests would wait behind them. Does no I/O of its own.

use std::sync::Arc;

use kairos_api::v1alpha1::{KairosNode, KairosNodeStatus};
use kairos_core::node_labels::NodeMetadata;
use tokio::sync::Semaphore;

use super::auth::{AuthError, Authenticator, Identity};
use super::store::{Store, StoreError};

/// `inner`, each call holding one of the shared `slots`.
pub struct Throttled<T> {
    inner: T,
    slots: Arc<Semaphore>,
}

impl<T> Throttled<T> {
    /// Wraps `inner`; `slots` is shared by everything that must be bounded together.
    pub fn new(inner: T, slots: Arc<Semaphore>) -> Self {
        Self { inner, slots }
    }

    async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; without a permit the call just goes through.
        self.slots.acquire().await.ok()
    }
}

impl<S: Store> Store for Throttled<S> {
    async fn get(&self, name: &str) -> Result<Option<KairosNode>, StoreError> {
        let _slot = self.slot().await;
        self.inner.get(name).await
    }

    async fn list(&self) -> Result<Vec<KairosNode>, StoreError> {
        let _slot = self.slot().await;
        self.inner.list().await
    }

    async fn node_uid(&self, name: &str) -> Result<Option<String>, StoreError> {
        let _slot = self.slot().await;
        self.inner.node_uid(name).await
    }

    async fn apply(&self, name: &str, node_uid: &str) -> Result<KairosNode, StoreError> {
        let _slot = self.slot().await;
        self.inner.apply(name, node_uid).await
    }

    async fn apply_status(
        &self,
        name: &str,
        status: &KairosNodeStatus,
        resource_version: Option<&str>,
    ) -> Result<KairosNode, StoreError> {
        let _slot = self.slot().await;
        self.inner
            .apply_status(name, status, resource_version)
            .await
    }

    async fn delete(&self, name: &str, uid: &str) -> Result<(), StoreError> {
        let _slot = self.slot().await;
        self.inner.delete(name, uid).await
    }

    async fn apply_node_metadata(
        &self,
        name: &str,
        metadata: &NodeMetadata,
    ) -> Result<(), StoreError> {
        let _slot = self.slot().await;
        self.inner.apply_node_metadata(name, metadata).await
    }
}

impl<A: Authenticator> Authenticator for Throttled<A> {
    async fn authenticate(&self, token: &str) -> Result<Identity, AuthError> {
        let _slot = self.slot().await;
        self.inner.authenticate(token).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Counts how many calls run at once.
    #[derive(Default)]
    struct Probe {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Authenticator for Arc<Probe> {
        async fn authenticate(&self, _token: &str) -> Result<Identity, AuthError> {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(Identity {
                node_name: "n".into(),
            })
        }
    }

    #[tokio::test]
    async fn never_more_calls_at_once_than_slots() {
        let probe = Arc::new(Probe::default());
        let throttled = Arc::new(Throttled::new(probe.clone(), Arc::new(Semaphore::new(3))));
        let calls: Vec<_> = (0..40)
            .map(|_| {
                let t = throttled.clone();
                tokio::spawn(async move { t.authenticate("x").await })
            })
            .collect();
        for c in calls {
            assert!(c.await.expect("joins").is_ok());
        }
        assert_eq!(probe.most.load(Ordering::SeqCst), 3);
    }
}
