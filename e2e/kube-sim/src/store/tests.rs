//! Tests of the in-memory store: namespaced listing, owner counts, the bounded history, sizes
//! and resource versions.

use serde_json::{Value, json};

use super::*;

const PODS: &str = "/pods";

fn obj(ns: &str, name: &str, rv: u64) -> Value {
    json!({"metadata": {"namespace": ns, "name": name, "resourceVersion": rv.to_string()}})
}

fn names(objs: &[Value]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            let (ns, name) = key_of(o);
            format!("{ns}/{name}")
        })
        .collect()
}

#[test]
fn listing_a_namespace_leaves_out_namespaces_sharing_its_prefix() {
    let mut st = State::new(1, 100);
    for (ns, name) in [
        ("ns2", "a"),
        ("ns", "b"),
        ("ns", "a"),
        ("n", "z"),
        ("", "c"),
    ] {
        st.put(PODS, obj(ns, name, 2), None);
    }
    assert_eq!(names(&st.list(PODS, Some("ns"))), ["ns/a", "ns/b"]);
    assert_eq!(names(&st.list(PODS, Some(""))), ["/c"]);
    assert_eq!(st.list(PODS, None).len(), 5);
    assert!(st.list("apps/deployments", None).is_empty());
}

#[test]
fn a_selective_list_copies_only_what_it_keeps() {
    let mut st = State::new(1, 100);
    st.put(PODS, obj("ns", "a", 2), None);
    st.put(PODS, obj("ns", "b", 3), None);
    let kept = st.list_matching(PODS, Some("ns"), |o| rv_of(o) == 3);
    assert_eq!(names(&kept), ["ns/b"]);
}

fn owned(name: &str, owner_uid: Option<&str>) -> Value {
    let mut o = obj("ns", name, 2);
    if let Some(uid) = owner_uid {
        o["metadata"]["ownerReferences"] = json!([{"uid": uid, "kind": "Job", "name": "j"}]);
    }
    o
}

#[test]
fn owners_are_counted_through_writes_replacements_and_removals() {
    let mut st = State::new(1, 100);
    st.put(PODS, owned("a", Some("job-1")), None);
    st.put(PODS, owned("b", Some("job-1")), None);
    assert!(st.has_dependents("job-1"));
    st.put(PODS, owned("a", None), Some(owned("a", Some("job-1"))));
    assert!(st.has_dependents("job-1"), "b still names it");
    st.remove(PODS, owned("b", Some("job-1")));
    assert!(!st.has_dependents("job-1"));
    assert!(!st.has_dependents("job-2"));
}

#[test]
fn the_history_keeps_the_newest_changes_and_raises_the_floor() {
    let mut st = State::new(1, 3);
    for rv in 2..=6 {
        st.put(PODS, obj("ns", &format!("p{rv}"), rv), None);
    }
    let kept: Vec<u64> = st.history.iter().map(|e| e.rv).collect();
    assert_eq!(kept, [4, 5, 6]);
    assert_eq!(st.floor, 3, "a watch from 3 still sees every later change");
}

#[test]
fn compaction_forgets_the_history_up_to_now() {
    let mut st = State::new(1, 100);
    st.next_rv();
    st.put(PODS, obj("ns", "a", 2), None);
    st.compact();
    assert!(st.history.is_empty());
    assert_eq!(st.floor, 2);
}

#[test]
fn changes_are_recorded_with_their_kind() {
    let mut st = State::new(1, 100);
    st.put(PODS, obj("ns", "a", 2), None);
    st.put(PODS, obj("ns", "a", 3), Some(obj("ns", "a", 2)));
    st.remove(PODS, obj("ns", "a", 4));
    let kinds: Vec<(&str, u64)> = st.history.iter().map(|e| (e.kind, e.rv)).collect();
    assert_eq!(kinds, [("ADDED", 2), ("MODIFIED", 3), ("DELETED", 4)]);
    assert!(st.get(PODS, "ns", "a").is_none());
}

#[test]
fn a_dry_copy_does_not_touch_the_live_state() {
    let mut st = State::new(5, 100);
    st.put(PODS, obj("ns", "a", 5), None);
    let mut copy = st.dry_copy();
    copy.next_rv();
    copy.put(PODS, obj("ns", "b", 6), None);
    assert_eq!(st.rv, 5);
    assert!(st.get(PODS, "ns", "b").is_none());
    assert!(copy.get(PODS, "ns", "a").is_some());
}

#[test]
fn the_stored_size_is_the_compact_json_length() {
    let o = json!({"metadata": {"name": "ä", "labels": {"a": "1"}}, "data": [1, 2.5, null, true]});
    assert_eq!(
        stored_size(&o),
        serde_json::to_string(&o).expect("json").len()
    );
}

#[test]
fn an_object_over_the_limit_is_refused_as_etcd_refuses_it() {
    let mut st = State::new(1, 100);
    let o = json!({"data": "x".repeat(100)});
    let size = stored_size(&o);
    st.max_stored_bytes = size;
    assert_eq!(st.check_size(&o), Ok(size));
    st.max_stored_bytes = size - 1;
    let err = st.check_size(&o).expect_err("too large");
    assert_eq!(
        (err.code, err.message.as_str()),
        (500, "etcdserver: request is too large")
    );
}

#[test]
fn a_missing_or_malformed_resource_version_reads_as_zero() {
    assert_eq!(rv_of(&json!({"metadata": {"resourceVersion": "42"}})), 42);
    assert_eq!(rv_of(&json!({"metadata": {}})), 0);
    assert_eq!(rv_of(&json!({"metadata": {"resourceVersion": "x1"}})), 0);
    assert_eq!(rv_of(&json!({"metadata": {"resourceVersion": 42}})), 0);
}

#[test]
fn pages_follow_key_order_and_copy_only_their_objects() {
    let mut st = State::new(1, 100);
    for (ns, name, rv) in [
        ("a", "x", 2),
        ("a-b", "y", 3),
        ("a", "z", 4),
        ("b", "w", 5),
        ("a", "y", 6),
    ] {
        st.put(PODS, obj(ns, name, rv), None);
    }
    let first = st.page(PODS, None, None, Some(2), |_| true);
    assert_eq!(names(&first.items), ["a/x", "a/y"]);
    assert_eq!(first.next, Some(("a".into(), "z".into())));
    assert_eq!(first.remaining, 3);
    let second = st.page(PODS, None, first.next, Some(2), |_| true);
    assert_eq!(names(&second.items), ["a/z", "a-b/y"]);
    let last = st.page(PODS, None, second.next, Some(2), |_| true);
    assert_eq!(names(&last.items), ["b/w"]);
    assert_eq!((last.next, last.remaining), (None, 0));

    // One namespace, with a filter: the count and the next key are of matching objects only.
    let kept = st.page(PODS, Some("a"), None, Some(1), |o| rv_of(o) != 6);
    assert_eq!(names(&kept.items), ["a/x"]);
    assert_eq!(kept.next, Some(("a".into(), "z".into())));
    assert_eq!(kept.remaining, 1);
    let all = st.page(PODS, Some("a"), None, None, |_| true);
    assert_eq!(names(&all.items), ["a/x", "a/y", "a/z"]);
    assert_eq!(all.next, None);
}
