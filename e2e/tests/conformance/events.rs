//! Events: `core/v1` and `events.k8s.io/v1` are one store seen through two APIs (shared names,
//! UIDs and resourceVersions, mapped fields, watches that see writes made through the other
//! API), and the newer API's stricter create. Does API I/O.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as NewEvent;

use crate::prelude::*;

/// The first watch event of `stream` that names `name`, within a few seconds.
async fn watched<K>(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin),
    name: &str,
) -> K
where
    K: kube::Resource + Clone,
{
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.expect("watch") {
            match ev {
                WatchEvent::Added(o) | WatchEvent::Modified(o)
                    if o.meta().name.as_deref() == Some(name) =>
                {
                    return Some(o);
                }
                WatchEvent::Error(e) => panic!("watch error {e:?}"),
                _ => {}
            }
        }
        None
    })
    .await;
    found
        .expect("the watch sees the event in time")
        .expect("the watch ends without the event")
}

/// A watch of `api` from now on (the resourceVersion of a fresh list), for 10 s.
async fn watch_from_now<K>(
    api: &Api<K>,
) -> impl futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("list resourceVersion");
    api.watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed()
}

#[tokio::test]
async fn conformance_events_written_through_events_k8s_io_are_core_events() {
    let (c, ns) = cluster("conf-events-new").await;
    let core: Api<CoreEvent> = Api::namespaced(c.client(), &ns);
    let new: Api<NewEvent> = Api::namespaced(c.client(), &ns);
    let mut stream = watch_from_now(&core).await;
    let ev: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "from-new", "namespace": ns},
        "eventTime": "2026-01-02T03:04:05.123456Z",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm1", "namespace": ns},
        "related": {"apiVersion": "v1", "kind": "Pod", "name": "p1", "namespace": ns},
        "note": "written through events.k8s.io",
        "reason": "Written",
        "action": "Write",
        "type": "Warning",
        "reportingController": "kairos.io/conformance",
        "reportingInstance": "conformance-1",
    }))
    .expect("event");
    let created = new
        .create(&PostParams::default(), &ev)
        .await
        .expect("create");

    let seen = watched(&mut stream, "from-new").await;
    let got = core.get("from-new").await.expect("core get");
    for o in [&seen, &got] {
        assert_eq!(o.metadata.uid, created.metadata.uid, "one object, one uid");
        assert_eq!(
            o.metadata.resource_version, created.metadata.resource_version,
            "one object, one resourceVersion"
        );
        assert_eq!(o.involved_object.name.as_deref(), Some("cm1"));
        assert_eq!(o.involved_object.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(o.message.as_deref(), Some("written through events.k8s.io"));
        assert_eq!(o.reason.as_deref(), Some("Written"));
        assert_eq!(o.action.as_deref(), Some("Write"));
        assert_eq!(o.type_.as_deref(), Some("Warning"));
        assert_eq!(
            o.reporting_component.as_deref(),
            Some("kairos.io/conformance")
        );
        assert_eq!(o.reporting_instance.as_deref(), Some("conformance-1"));
        assert_eq!(
            o.related.as_ref().and_then(|r| r.name.as_deref()),
            Some("p1")
        );
        assert!(o.event_time.is_some(), "eventTime is kept");
    }
    let listed = core.list(&ListParams::default()).await.expect("core list");
    assert!(
        listed
            .items
            .iter()
            .any(|e| e.metadata.name.as_deref() == Some("from-new")),
        "the core list holds the event"
    );
    // A name is taken in both APIs.
    let (code, _) = api_err(
        core.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "from-new", "namespace": ns},
                "involvedObject": {"kind": "ConfigMap", "name": "cm1", "namespace": ns},
            }))
            .expect("event"),
        )
        .await,
    );
    assert_eq!(code, 409);
    // A delete through one API removes it from the other.
    core.delete("from-new", &DeleteParams::default())
        .await
        .expect("core delete");
    let (code, _) = api_err(new.get("from-new").await);
    assert_eq!(code, 404);
}

#[tokio::test]
async fn conformance_core_events_are_seen_through_events_k8s_io() {
    let (c, ns) = cluster("conf-events-core").await;
    let core: Api<CoreEvent> = Api::namespaced(c.client(), &ns);
    let new: Api<NewEvent> = Api::namespaced(c.client(), &ns);
    let mut stream = watch_from_now(&new).await;
    let ev: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "from-core", "namespace": ns},
        "involvedObject": {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm2", "namespace": ns},
        "message": "written through core/v1",
        "reason": "Legacy",
        "type": "Normal",
        "source": {"component": "conformance", "host": "host-1"},
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:04:09Z",
        "count": 3,
    }))
    .expect("event");
    let created = core
        .create(&PostParams::default(), &ev)
        .await
        .expect("create");

    let seen = watched(&mut stream, "from-core").await;
    let got = new.get("from-core").await.expect("events.k8s.io get");
    for o in [&seen, &got] {
        assert_eq!(o.metadata.uid, created.metadata.uid, "one object, one uid");
        assert_eq!(
            o.metadata.resource_version, created.metadata.resource_version,
            "one object, one resourceVersion"
        );
        assert_eq!(
            o.regarding.as_ref().and_then(|r| r.name.as_deref()),
            Some("cm2")
        );
        assert_eq!(o.note.as_deref(), Some("written through core/v1"));
        assert_eq!(o.reason.as_deref(), Some("Legacy"));
        assert_eq!(o.type_.as_deref(), Some("Normal"));
        let source = o.deprecated_source.as_ref().expect("deprecatedSource");
        assert_eq!(source.component.as_deref(), Some("conformance"));
        assert_eq!(source.host.as_deref(), Some("host-1"));
        assert_eq!(o.deprecated_count, Some(3));
        assert_eq!(
            o.deprecated_first_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            ev.first_timestamp.as_ref().map(|t| t.0.to_string())
        );
        assert_eq!(
            o.deprecated_last_timestamp
                .as_ref()
                .map(|t| t.0.to_string()),
            ev.last_timestamp.as_ref().map(|t| t.0.to_string())
        );
    }
    // An update through the newer API is seen through the core one.
    new.patch(
        "from-core",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"seen": "yes"}}})),
    )
    .await
    .expect("events.k8s.io patch");
    let got = core.get("from-core").await.expect("core get");
    assert_eq!(got.labels().get("seen").map(String::as_str), Some("yes"));
    assert_eq!(got.message.as_deref(), Some("written through core/v1"));
}

#[tokio::test]
async fn conformance_events_k8s_io_refuses_an_incomplete_event() {
    let (c, ns) = cluster("conf-events-strict").await;
    let new: Api<NewEvent> = Api::namespaced(c.client(), &ns);
    // No eventTime, reportingController, reportingInstance or action: accepted through core/v1
    // (legacy validation), refused through events.k8s.io/v1.
    let ev: NewEvent = serde_json::from_value(json!({
        "metadata": {"name": "incomplete", "namespace": ns},
        "regarding": {"kind": "ConfigMap", "name": "cm3", "namespace": ns},
        "note": "no reporter",
        "reason": "Incomplete",
        "type": "Normal",
    }))
    .expect("event");
    let (code, reason) = api_err(new.create(&PostParams::default(), &ev).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    let core: Api<CoreEvent> = Api::namespaced(c.client(), &ns);
    let legacy: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": "incomplete", "namespace": ns},
        "involvedObject": {"kind": "ConfigMap", "name": "cm3", "namespace": ns},
        "message": "no reporter",
        "reason": "Incomplete",
        "type": "Normal",
    }))
    .expect("event");
    core.create(&PostParams::default(), &legacy)
        .await
        .expect("core/v1 accepts a legacy event");
}
