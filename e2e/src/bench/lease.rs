//! Watches the leader's Lease for the benchmark: the longest time between two of its renewals
//! while a fleet connects (does a burst of reports delay the leader?). Does API I/O (one watch).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::task::JoinHandle;

#[derive(Debug)]
struct Gaps {
    /// The last renewal time seen and when it was seen.
    last: Option<(String, Instant)>,
    /// The longest time between two renewals seen.
    longest: Duration,
}

/// A running watch of one Lease; ends when dropped.
#[derive(Debug)]
pub struct LeaseGaps {
    gaps: Arc<Mutex<Gaps>>,
    task: JoinHandle<()>,
}

impl Drop for LeaseGaps {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaseGaps {
    /// Watches the Lease `name` of `api`.
    pub fn start(api: Api<Lease>, name: &str) -> Self {
        let gaps = Arc::new(Mutex::new(Gaps {
            last: None,
            longest: Duration::ZERO,
        }));
        let seen = gaps.clone();
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let task = tokio::spawn(async move {
            let mut events = watcher(api, config)
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(lease) = events.next().await {
                let Ok(lease) = lease else { continue };
                let Some(renewed) = lease.spec.and_then(|s| s.renew_time) else {
                    continue;
                };
                let renewed = renewed.0.to_string();
                let now = Instant::now();
                let mut g = seen.lock().unwrap_or_else(|e| e.into_inner());
                match &g.last {
                    Some((last, _)) if *last == renewed => {}
                    Some((_, at)) => {
                        g.longest = g.longest.max(now - *at);
                        g.last = Some((renewed, now));
                    }
                    None => g.last = Some((renewed, now)),
                }
            }
        });
        Self { gaps, task }
    }

    /// The longest time between two renewals since the watch started, the time since the last
    /// renewal included.
    pub fn longest(&self) -> Duration {
        let g = self.lock();
        let open = g
            .last
            .as_ref()
            .map_or(Duration::ZERO, |(_, at)| at.elapsed());
        g.longest.max(open)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Gaps> {
        self.gaps.lock().unwrap_or_else(|e| e.into_inner())
    }
}
