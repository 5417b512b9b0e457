//! Leader election on a `coordination.k8s.io` Lease (with `kube-lease-manager`): only the
//! leader runs the controllers; every replica serves the report channel. A renewal deadline
//! guards the manager: a leader that has not renewed its lease for `duration - grace / 2` steps
//! down, before another replica may take the expired lease over. Talks to the API server.

use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

use crate::backoff::WatchBackoff;

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
    let manager = LeaseManagerBuilder::new(client.clone(), config.lease_name.clone())
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
    let (manager_view, _task) = manager.watch().await;
    tracing::info!(identity = %config.identity, lease = %config.lease_name, "taking part in leader election");
    let (tx, is_leader) = watch::channel(false);
    tokio::spawn(guard(
        Api::namespaced(client, &config.namespace),
        config.clone(),
        manager_view,
        tx,
    ));
    Ok(Leadership {
        is_leader,
        _sender: None,
    })
}

/// How long after its last renewal a leader still leads: half the grace period before the lease
/// expires, half-way between the next renewal (due `duration - grace` after the last) and the
/// expiry, so a late renewal has time to land and the leader has stopped before any other
/// replica can take the lease over.
fn valid_for(config: &LeaderConfig) -> SignedDuration {
    let duration = config.duration.max(Duration::from_secs(2));
    let grace = config
        .grace
        .clamp(Duration::from_secs(1), duration - Duration::from_secs(1));
    SignedDuration::try_from(duration - grace / 2).unwrap_or(SignedDuration::MAX)
}

/// Whether this replica leads at `now`: the manager says so and the last renewal seen is recent
/// enough. Pure.
fn leads(
    manager_says: bool,
    renewed: Option<Timestamp>,
    now: Timestamp,
    valid: SignedDuration,
) -> bool {
    manager_says && renewed.is_some_and(|r| now.duration_since(r) < valid)
}

/// Publishes the manager's view of the leadership, cut off when renewals stop (the manager keeps
/// saying "leader" while it cannot reach the API server). Once stepped down, this replica stays
/// down (the process then exits and rejoins as a follower).
///
/// Renewals are seen on a watch of the Lease (with backoff). When none was seen in time, the
/// Lease is read before stepping down: a watch that is refused (RBAC without list/watch on
/// Leases) or broken must not end a leadership whose renewals succeed. Talks to the API server.
async fn guard(
    api: Api<Lease>,
    config: LeaderConfig,
    mut manager: watch::Receiver<bool>,
    out: watch::Sender<bool>,
) {
    let valid = valid_for(&config);
    let lease_events = watcher(
        api.clone(),
        watcher::Config::default().fields(&format!("metadata.name={}", config.lease_name)),
    )
    .backoff(WatchBackoff::default());
    let mut lease_events = std::pin::pin!(lease_events);
    let mut renewed: Option<Timestamp> = None;
    let mut stepped_down = false;
    loop {
        let news = manager.has_changed().unwrap_or(false);
        let says = *manager.borrow_and_update();
        if news && says {
            // The manager just took or renewed the lease.
            renewed = latest(renewed, Some(Timestamp::now()));
        }
        let now = Timestamp::now();
        let leading = !stepped_down && leads(says, renewed, now, valid);
        if says && !leading && *out.borrow() {
            stepped_down = true;
            tracing::error!(
                identity = %config.identity,
                lease = %config.lease_name,
                "the leader lease was not renewed in time: stepping down"
            );
        }
        out.send_if_modified(|v| std::mem::replace(v, leading) != leading);
        // Wake when the current renewal runs out (or, while not leading, on events only).
        let until_expiry = renewed
            .filter(|_| leading)
            .and_then(|r| Duration::try_from((r + valid).duration_since(now)).ok())
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            changed = manager.changed() => {
                if changed.is_err() {
                    out.send_replace(false);
                    return;
                }
            }
            event = lease_events.next() => match event {
                Some(Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease))) => {
                    renewed = latest(renewed, renewal(&lease, &config.identity));
                }
                Some(_) => {}
                None => return,
            },
            () = tokio::time::sleep(until_expiry) => {
                if leading {
                    // No renewal seen in time: ask the Lease itself before stepping down.
                    renewed = latest(renewed, read_renewal(&api, &config).await);
                }
            }
        }
    }
}

/// When `identity` last renewed `lease`, if it holds it. Pure.
fn renewal(lease: &Lease, identity: &str) -> Option<Timestamp> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    spec.renew_time.as_ref().map(|t| t.0)
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.max(b)
}

/// Reads this replica's last renewal from the Lease; `None` when it cannot be read within a
/// quarter of the grace period (half of what is left before the lease may expire), or when
/// another replica holds it.
async fn read_renewal(api: &Api<Lease>, config: &LeaderConfig) -> Option<Timestamp> {
    let timeout = (config.grace / 4).max(Duration::from_millis(100));
    match tokio::time::timeout(timeout, api.get(&config.lease_name)).await {
        Ok(Ok(lease)) => renewal(&lease, &config.identity),
        Ok(Err(e)) => {
            tracing::warn!(lease = %config.lease_name, error = %e, "failed to read the leader lease");
            None
        }
        Err(_) => {
            tracing::warn!(lease = %config.lease_name, ?timeout, "failed to read the leader lease in time");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    fn config(duration: u64, grace: u64) -> LeaderConfig {
        LeaderConfig {
            enabled: true,
            lease_name: "l".into(),
            namespace: "ns".into(),
            identity: "me".into(),
            duration: Duration::from_secs(duration),
            grace: Duration::from_secs(grace),
        }
    }

    #[test]
    fn a_renewal_is_valid_until_half_the_grace_before_expiry() {
        let secs = SignedDuration::from_secs;
        let millis = SignedDuration::from_millis;
        assert_eq!(valid_for(&config(15, 10)), secs(10));
        assert_eq!(valid_for(&config(15, 5)), millis(12_500));
        assert_eq!(valid_for(&config(2, 1)), millis(1_500));
        // A grace as long as the lease is cut to a second less (as the manager's own).
        assert_eq!(valid_for(&config(10, 10)), millis(5_500));
    }

    /// A fake API server for the Lease `l`: lists and watches are refused (403); a GET shows
    /// the Lease held by `holder`, renewed just now. Counts the GETs.
    fn lease_api(holder: Arc<Mutex<&'static str>>, gets: Arc<AtomicUsize>) -> kube::Client {
        use k8s_openapi::api::coordination::v1::LeaseSpec;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        use kube::client::Body;
        let service = tower::service_fn(move |req: axum::http::Request<Body>| {
            let (holder, gets) = (holder.clone(), gets.clone());
            async move {
                let named = req.uri().path().ends_with("/leases/l");
                let (status, body) = if named {
                    gets.fetch_add(1, Ordering::SeqCst);
                    let lease = Lease {
                        metadata: kube::api::ObjectMeta {
                            name: Some("l".into()),
                            namespace: Some("ns".into()),
                            ..Default::default()
                        },
                        spec: Some(LeaseSpec {
                            holder_identity: Some((*holder.lock().unwrap()).to_owned()),
                            renew_time: Some(MicroTime(Timestamp::now())),
                            lease_duration_seconds: Some(2),
                            ..Default::default()
                        }),
                    };
                    (200, serde_json::to_value(&lease).unwrap())
                } else {
                    let message = "leases.coordination.k8s.io is forbidden: User \"me\" cannot list resource \"leases\"";
                    (
                        403,
                        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "Forbidden", "code": 403, "message": message}),
                    )
                };
                let mut response =
                    axum::http::Response::new(Body::from(serde_json::to_vec(&body).unwrap()));
                *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        kube::Client::new(service, "ns")
    }

    #[tokio::test]
    async fn a_refused_watch_does_not_end_a_leadership_whose_renewals_succeed() {
        let holder = Arc::new(Mutex::new("me"));
        let gets = Arc::new(AtomicUsize::new(0));
        let client = lease_api(holder.clone(), gets.clone());
        let (manager_tx, manager_rx) = watch::channel(false);
        let (out_tx, mut out) = watch::channel(false);
        // Renewals are good for 1.5 s (2 s lease, 1 s grace).
        tokio::spawn(guard(
            Api::namespaced(client, "ns"),
            config(2, 1),
            manager_rx,
            out_tx,
        ));
        manager_tx.send_replace(true); // the manager took the lease

        tokio::time::timeout(Duration::from_secs(1), out.wait_for(|leads| *leads))
            .await
            .expect("leads")
            .expect("open");
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(*out.borrow(), "still leading: the Lease shows the renewals");
        assert!(
            gets.load(Ordering::SeqCst) >= 2,
            "the Lease was read instead of watched"
        );

        // Another replica holds the Lease now: this one steps down at the next check.
        *holder.lock().unwrap() = "other";
        tokio::time::timeout(Duration::from_secs(3), out.wait_for(|leads| !*leads))
            .await
            .expect("stepped down")
            .expect("open");
    }

    #[test]
    fn leads_only_while_the_manager_says_so_and_the_renewal_is_fresh() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let valid = SignedDuration::from_secs(12);
        let at = |s: i64| t0 + SignedDuration::from_secs(s);
        assert!(leads(true, Some(t0), at(11), valid));
        assert!(!leads(true, Some(t0), at(12), valid));
        assert!(!leads(true, None, at(0), valid));
        assert!(!leads(false, Some(t0), at(1), valid));
    }
}
