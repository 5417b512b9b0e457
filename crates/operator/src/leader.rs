//! Leader election on a `coordination.k8s.io` Lease (with `kube-lease-manager`): only the
//! leader runs the controllers; every replica serves the report channel. Talks to the API server.

use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

/// How this replica takes part in leader election.
#[derive(Clone, Debug)]
pub(crate) struct LeaderConfig {
    /// False runs the controllers at once (a single replica, or a test).
    pub(crate) enabled: bool,
    /// Name of the Lease, in `namespace`.
    pub(crate) lease_name: String,
    /// Namespace of the Lease (the operator's).
    pub(crate) namespace: String,
    /// This replica's identity (its pod name).
    pub(crate) identity: String,
    /// How long a lease holds without renewal: the longest a failover takes.
    pub(crate) duration: Duration,
    /// How long before expiry the holder renews.
    pub(crate) grace: Duration,
}

/// A view of the leadership of this replica: true while it leads. Dropping it releases the lease.
pub(crate) struct Leadership {
    /// Follows the lease.
    pub(crate) is_leader: watch::Receiver<bool>,
    // Keeps the always-true channel open when election is disabled.
    _sender: Option<watch::Sender<bool>>,
}

/// Starts taking part in the election.
///
/// # Errors
/// When the Lease cannot be read or created (RBAC, API down).
pub(crate) async fn elect(
    client: kube::Client,
    config: &LeaderConfig,
) -> anyhow::Result<Leadership> {
    if !config.enabled {
        let (tx, rx) = watch::channel(true);
        return Ok(Leadership {
            is_leader: rx,
            _sender: Some(tx),
        });
    }
    let params = LeaseParams::new(
        config.identity.clone(),
        config.duration.as_secs().max(2),
        config
            .grace
            .as_secs()
            .clamp(1, config.duration.as_secs().max(2) - 1),
    );
    let manager = LeaseManagerBuilder::new(client, config.lease_name.clone())
        .with_namespace(config.namespace.clone())
        .with_parameters(params)
        .build()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "failed to set up leader election on Lease {}/{}: {e}",
                config.namespace,
                config.lease_name
            )
        })?;
    let (is_leader, _task) = manager.watch().await;
    tracing::info!(identity = %config.identity, lease = %config.lease_name, "taking part in leader election");
    Ok(Leadership {
        is_leader,
        _sender: None,
    })
}
