//! Watch: event order, bookmarks, selector transitions and 410 for old versions. Does API I/O.

use crate::prelude::*;

#[tokio::test]
async fn conformance_watch_events_and_bookmarks() {
    let (c, ns) = cluster("conf-watch").await;
    let api = cms(&c.client(), &ns);
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().timeout(4);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("w", json!({})))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = vec![];
    let mut bookmarks = 0;
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(o) => seen.push(("ADDED", o.name_any())),
            WatchEvent::Modified(o) => seen.push(("MODIFIED", o.name_any())),
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.name_any())),
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "w".to_string()),
            ("MODIFIED", "w".into()),
            ("DELETED", "w".into())
        ]
    );
    assert!(
        bookmarks >= 1,
        "a bookmark arrives before the watch deadline"
    );
}

#[tokio::test]
async fn conformance_watch_selector_transitions() {
    let (c, ns) = cluster("conf-watchsel").await;
    let api = cms(&c.client(), &ns);
    api.create(&PostParams::default(), &cm("s", json!({"app": "x"})))
        .await
        .unwrap();
    let rv = api.get("s").await.unwrap().resource_version().unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("app=x").timeout(3), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"labels": {"app": "y"}}})),
    )
    .await
    .unwrap();
    let mut seen = vec![];
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.name_any())),
            WatchEvent::Added(o) | WatchEvent::Modified(o) => seen.push(("OTHER", o.name_any())),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        [("DELETED", "s".to_string())],
        "leaving the selector reads as DELETED"
    );
}

#[tokio::test]
async fn conformance_watch_too_old_resource_version_is_gone() {
    let (c, ns) = cluster("conf-410").await;
    let api = cms(&c.client(), &ns);
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("o{i}"), json!({})))
            .await
            .unwrap();
    }
    // A real server's watch cache on a fresh etcd starts at revision 1, inside its window; after
    // a restart over the same etcd it starts at the current revision, as the simulator's
    // history does once forgotten.
    c.drop_watches().await.expect("watches dropped");
    let code = match api.watch(&WatchParams::default().timeout(3), "1").await {
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected error {e}"),
        Ok(s) => {
            let events: Vec<_> = s.boxed().take(1).collect().await;
            match events.first() {
                Some(Ok(WatchEvent::Error(s))) => {
                    let s: &Status = s;
                    assert_eq!(s.reason, "Expired");
                    s.code
                }
                other => panic!("expected a 410 error event, got {other:?}"),
            }
        }
    };
    assert_eq!(code, 410);
}
