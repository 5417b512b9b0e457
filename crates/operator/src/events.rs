//! Publishes Kubernetes Events off the reconcile path: reconciles queue them (never waiting on
//! the API server), one task publishes them in order through kube's `Recorder`. Events are best
//! effort: a full queue drops the Event and counts it, a failed publish is logged. Does I/O (the
//! publishing task).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, Recorder};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use crate::permissions::warn_unless_forbidden;

/// Events waiting to be published at most (a large rollout emits a few hundred per second).
const QUEUE: usize = 4096;

/// The queue of Events to publish.
pub(crate) struct Events {
    queue: mpsc::Sender<(Event, ObjectReference)>,
    dropped: Counter,
}

impl Events {
    /// Starts the publishing task (it ends when every `Events` is dropped); `dropped` counts
    /// the Events a full queue refused.
    pub(crate) fn start(recorder: Recorder, dropped: Counter) -> Self {
        let (queue, mut rx) = mpsc::channel::<(Event, ObjectReference)>(QUEUE);
        tokio::spawn(async move {
            while let Some((event, reference)) = rx.recv().await {
                if let Err(e) = recorder.publish(&event, &reference).await {
                    warn_unless_forbidden!(
                        &e,
                        error = %e,
                        reason = %event.reason,
                        object = ?reference.name,
                        "failed to publish an event"
                    );
                }
            }
        });
        Self { queue, dropped }
    }

    /// Queues `event` about `reference`; returns at once.
    pub(crate) fn publish(&self, event: Event, reference: ObjectReference) {
        if let Err(e) = self.queue.try_send((event, reference)) {
            self.dropped.inc();
            if let mpsc::error::TrySendError::Full((event, _)) = e {
                tracing::debug!(reason = %event.reason, "event queue full: event dropped");
            }
        }
    }
}
