//! Watch streams: newline-delimited `WatchEvent`s from a `resourceVersion` (history replay, or
//! synthetic ADDED events for the current state), label/field selection with enter/leave
//! transitions, `BOOKMARK`s (periodic, and `k8s.io/initial-events-end` after `sendInitialEvents`),
//! `timeoutSeconds`, and an ERROR 410 Expired event for versions older than the history. Does
//! network I/O (streams the response body).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::error::ApiError;
use super::registry::ResourceType;
use super::selectors::{FieldReq, LabelReq, fields_match, labels_match};
use super::sim::Sim;
use super::store::ChangeEvent;

/// What a watch asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct WatchQuery {
    /// Namespace, or all.
    pub namespace: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial: bool,
    /// `labelSelector`.
    pub labels: Vec<LabelReq>,
    /// `fieldSelector`.
    pub fields: Vec<FieldReq>,
    /// `timeoutSeconds`.
    pub timeout: Option<u64>,
    /// Objects as `PartialObjectMetadata` (kube's metadata watches).
    pub metadata_only: bool,
}

struct Filter {
    rt: ResourceType,
    q: WatchQuery,
}

impl Filter {
    fn selected(&self, o: &Value) -> bool {
        labels_match(&self.q.labels, &o["metadata"]["labels"]) && fields_match(&self.q.fields, o)
    }

    fn event(&self, ty: &str, o: &Value) -> Bytes {
        if self.q.metadata_only {
            return event_line(ty, &super::negotiate::partial(o));
        }
        event_line(ty, &super::events::presented(&self.rt, o))
    }

    /// The event this watcher sees for a change, if any.
    fn translate(&self, ev: &ChangeEvent) -> Option<Bytes> {
        if ev.store_key != self.rt.store_key()
            || self
                .q
                .namespace
                .as_ref()
                .is_some_and(|n| n != &ev.namespace)
        {
            return None;
        }
        let now = self.selected(&ev.object);
        let before = ev.old.as_ref().map(|o| self.selected(o));
        let ty = match (ev.kind, before, now) {
            ("MODIFIED", Some(true), true) => "MODIFIED",
            ("MODIFIED", Some(false), true) => "ADDED",
            ("MODIFIED", Some(true), false) => "DELETED",
            ("ADDED", _, true) => "ADDED",
            ("DELETED", _, true) => "DELETED",
            _ => return None,
        };
        Some(self.event(ty, &ev.object))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            &json!({"type": "BOOKMARK", "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}}),
        )
    }
}

/// One watch event, written straight from the stored object (no copy of it is built).
fn event_line(ty: &str, o: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(b"{\"type\":");
    // Writing a string or a `Value` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut buf, ty);
    buf.extend_from_slice(b",\"object\":");
    let _ = serde_json::to_writer(&mut buf, o);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Starts a watch and returns the streaming response.
pub(crate) fn serve(sim: Arc<Sim>, rt: ResourceType, q: WatchQuery) -> Response {
    let filter = Filter { rt, q };
    let (tx, rx) = mpsc::channel::<Bytes>(1024);
    let mut first: Vec<Bytes> = vec![];
    let (bcast, start_rv, expired) = {
        let st = sim.lock();
        let rv = filter.q.resource_version.as_deref().unwrap_or_default();
        let from_now = rv.is_empty() || rv == "0" || filter.q.send_initial;
        let mut expired = false;
        if from_now {
            let ns = filter.q.namespace.as_deref();
            for o in st
                .list(&filter.rt.store_key(), ns)
                .iter()
                .filter(|o| filter.selected(o))
            {
                first.push(filter.event("ADDED", o));
            }
            if filter.q.send_initial && filter.q.bookmarks {
                first.push(filter.bookmark(st.rv, true));
            }
        } else {
            let n: u64 = rv.parse().unwrap_or(0);
            if n < st.floor {
                expired = true;
                let err =
                    ApiError::expired(format!("too old resource version: {n} ({})", st.floor));
                first.push(line(&json!({"type": "ERROR", "object": err.status()})));
            } else {
                first.extend(
                    st.history
                        .iter()
                        .filter(|e| e.rv > n)
                        .filter_map(|e| filter.translate(e)),
                );
            }
        }
        (st.tx.subscribe(), st.rv, expired)
    };
    let bookmark_every = sim.bookmark_interval;
    let mut epoch = sim.watch_epoch();
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        if !expired {
            tokio::select! {
                () = pump(filter, bcast, tx, start_rv, bookmark_every) => {}
                _ = epoch.changed() => {}
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

async fn pump(
    filter: Filter,
    mut bcast: broadcast::Receiver<Arc<ChangeEvent>>,
    tx: mpsc::Sender<Bytes>,
    mut last_rv: u64,
    every: Duration,
) {
    let timeout = Duration::from_secs(filter.q.timeout.unwrap_or(1800));
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    // Like the real watch cache, send a bookmark shortly before a watch's deadline so that
    // clients can resume from it.
    let pre_deadline = tokio::time::sleep(timeout.saturating_sub(Duration::from_secs(2)));
    tokio::pin!(pre_deadline);
    let mut pre_sent = timeout <= Duration::from_secs(2);
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = &mut pre_deadline, if !pre_sent => {
                pre_sent = true;
                if filter.q.bookmarks && tx.send(filter.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            _ = tick.tick() => {
                if filter.q.bookmarks && tx.send(filter.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            ev = bcast.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= last_rv {
                        continue;
                    }
                    last_rv = ev.rv;
                    if let Some(b) = filter.translate(&ev)
                        && tx.send(b).await.is_err()
                    {
                        return;
                    }
                }
                // Lagged or closed: end the stream; the client re-watches from its last version.
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests;
