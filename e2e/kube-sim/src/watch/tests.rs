//! Tests of what one watcher sees of a change: type and namespace, selector enter and leave
//! transitions, event shapes and bookmarks.

use serde_json::{Value, json};

use super::*;
use crate::registry::builtins;
use crate::selectors::parse_labels;

fn pods() -> ResourceType {
    builtins()
        .into_iter()
        .find(|rt| rt.group.is_empty() && rt.plural == "pods")
        .expect("pods")
}

fn filter(namespace: Option<&str>, labels: &str, metadata_only: bool) -> Filter {
    Filter {
        rt: pods(),
        q: WatchQuery {
            namespace: namespace.map(str::to_owned),
            labels: parse_labels(labels).expect("a selector"),
            metadata_only,
            ..WatchQuery::default()
        },
    }
}

fn pod(ns: &str, app: &str) -> Value {
    json!({"kind": "Pod", "metadata": {"name": "p", "namespace": ns, "labels": {"app": app}}})
}

fn change(kind: &'static str, object: Value, old: Option<Value>) -> ChangeEvent {
    ChangeEvent {
        rv: 7,
        store_key: "/pods".into(),
        namespace: object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        kind,
        object,
        old,
    }
}

fn seen(f: &Filter, ev: &ChangeEvent) -> Option<(String, Value)> {
    let bytes = f.translate(ev)?;
    let text = std::str::from_utf8(&bytes).expect("utf-8");
    assert!(text.ends_with('\n'), "one event per line");
    let v: Value = serde_json::from_str(text.trim_end()).expect("json");
    Some((
        v["type"].as_str().expect("a type").to_owned(),
        v["object"].clone(),
    ))
}

fn seen_type(f: &Filter, ev: &ChangeEvent) -> Option<String> {
    seen(f, ev).map(|(t, _)| t)
}

#[test]
fn changes_of_another_type_or_namespace_are_not_seen() {
    let f = filter(Some("a"), "", false);
    assert_eq!(seen_type(&f, &change("ADDED", pod("b", "web"), None)), None);
    let mut other_type = change("ADDED", pod("a", "web"), None);
    other_type.store_key = "/configmaps".into();
    assert_eq!(seen_type(&f, &other_type), None);
    assert_eq!(
        seen_type(&f, &change("ADDED", pod("a", "web"), None)).as_deref(),
        Some("ADDED")
    );
}

#[test]
fn an_object_entering_the_selector_is_added_and_one_leaving_is_deleted() {
    let f = filter(None, "app=web", false);
    let entering = change("MODIFIED", pod("a", "web"), Some(pod("a", "db")));
    assert_eq!(seen_type(&f, &entering).as_deref(), Some("ADDED"));
    let leaving = change("MODIFIED", pod("a", "db"), Some(pod("a", "web")));
    let (ty, object) = seen(&f, &leaving).expect("seen");
    assert_eq!(ty, "DELETED");
    assert_eq!(object["metadata"]["labels"]["app"], "db", "the new state");
    let staying = change("MODIFIED", pod("a", "web"), Some(pod("a", "web")));
    assert_eq!(seen_type(&f, &staying).as_deref(), Some("MODIFIED"));
    let outside = change("MODIFIED", pod("a", "db"), Some(pod("a", "db")));
    assert_eq!(seen_type(&f, &outside), None);
}

#[test]
fn creations_and_deletions_outside_the_selector_are_not_seen() {
    let f = filter(None, "app=web", false);
    assert_eq!(seen_type(&f, &change("ADDED", pod("a", "db"), None)), None);
    assert_eq!(
        seen_type(&f, &change("DELETED", pod("a", "db"), None)),
        None
    );
    assert_eq!(
        seen_type(&f, &change("DELETED", pod("a", "web"), None)).as_deref(),
        Some("DELETED")
    );
}

#[test]
fn events_carry_the_api_version_or_only_the_metadata() {
    let full = filter(None, "", false);
    let (_, object) = seen(&full, &change("ADDED", pod("a", "web"), None)).expect("seen");
    assert_eq!(object["apiVersion"], "v1");
    assert_eq!(object["kind"], "Pod");
    let meta = filter(None, "", true);
    let (_, object) = seen(&meta, &change("ADDED", pod("a", "web"), None)).expect("seen");
    assert_eq!(
        object,
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"name": "p", "namespace": "a", "labels": {"app": "web"}}})
    );
}

#[test]
fn bookmarks_carry_the_version_and_mark_the_end_of_initial_events() {
    let f = filter(None, "", false);
    let parse = |b: Bytes| -> Value { serde_json::from_slice(&b).expect("json") };
    let plain = parse(f.bookmark(42, false));
    assert_eq!(
        plain,
        json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"resourceVersion": "42"}}})
    );
    let end = parse(f.bookmark(43, true));
    assert_eq!(
        end["object"]["metadata"]["annotations"],
        json!({"k8s.io/initial-events-end": "true"})
    );
}
