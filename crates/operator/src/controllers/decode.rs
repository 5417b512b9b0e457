//! Decodes the objects of a custom kind's watch one by one, so that one object the operator
//! cannot read (stored before a stricter schema, or written past it) never fails the list or
//! watch that every other object of the kind comes in: it is left out of the cache (an older
//! copy goes too, so nothing acts on a stale spec), logged once per version, and counted until
//! it is fixed or deleted (`kairos_undecodable_objects{kind}`). No I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kube::Resource;
use kube::api::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

/// The objects left out of the caches for now, by kind, then by `<namespace>/<name>`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Undecodable {
    objects: Arc<Mutex<BTreeMap<&'static str, LeftOut>>>,
}

/// The version of each object left out of one kind's cache, by `<namespace>/<name>`.
type LeftOut = BTreeMap<String, String>;

impl Undecodable {
    /// How many objects of each kind are left out now.
    pub(crate) fn counts(&self) -> BTreeMap<&'static str, usize> {
        let objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.iter().map(|(k, o)| (*k, o.len())).collect()
    }

    fn left_out(&self, kind: &'static str, key: String, version: String, error: String) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let of_kind = objects.entry(kind).or_default();
        if of_kind.get(&key).is_some_and(|v| *v == version) {
            return;
        }
        tracing::warn!(
            kind,
            object = %key,
            %error,
            "cannot decode this object: the operator ignores it until it is fixed or deleted"
        );
        of_kind.insert(key, version);
    }

    /// A new full list of `kind` begins: what it still cannot decode is counted again.
    fn relisted(&self, kind: &'static str) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        objects.remove(kind);
    }

    fn readable(&self, kind: &'static str, key: &str) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(of_kind) = objects.get_mut(kind)
            && of_kind.remove(key).is_some()
        {
            tracing::info!(kind, object = %key, "the object decodes again");
        }
    }
}

/// `obj` as a `K`, or why it does not decode.
pub(crate) fn decoded<K: DeserializeOwned>(obj: &DynamicObject) -> serde_json::Result<K> {
    serde_json::to_value(obj).and_then(serde_json::from_value)
}

/// `<namespace>/<name>` of a watched object.
fn key(obj: &DynamicObject) -> String {
    let m = &obj.metadata;
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// The typed event of a watch event; `None` drops it. `cached` is the store the events fill:
/// an object that turns undecodable becomes the deletion of its cached copy.
pub(crate) fn typed<K>(
    event: Result<Event<DynamicObject>, watcher::Error>,
    cached: &Store<K>,
    undecodable: &Undecodable,
) -> Option<Result<Event<K>, watcher::Error>>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone,
{
    let kind: &'static str = match K::kind(&()) {
        std::borrow::Cow::Borrowed(k) => k,
        std::borrow::Cow::Owned(_) => "unknown",
    };
    let decode = |obj: &DynamicObject| -> Option<K> {
        match decoded::<K>(obj) {
            Ok(k) => {
                undecodable.readable(kind, &key(obj));
                Some(k)
            }
            Err(e) => {
                let version = obj.metadata.resource_version.clone().unwrap_or_default();
                undecodable.left_out(kind, key(obj), version, e.to_string());
                None
            }
        }
    };
    let older = |obj: &DynamicObject| {
        let name = obj.metadata.name.as_deref()?;
        let mut r = ObjectRef::<K>::new(name);
        if let Some(ns) = obj.metadata.namespace.as_deref() {
            r = r.within(ns);
        }
        cached.get(&r).map(|k| k.as_ref().clone())
    };
    let event = match event {
        Ok(event) => event,
        Err(e) => return Some(Err(e)),
    };
    let typed = match event {
        Event::Init => {
            // Deleted while the watch was down: no Delete event will say so.
            undecodable.relisted(kind);
            Event::Init
        }
        Event::InitDone => Event::InitDone,
        Event::InitApply(obj) => Event::InitApply(decode(&obj)?),
        Event::Apply(obj) => match decode(&obj) {
            Some(k) => Event::Apply(k),
            None => Event::Delete(older(&obj)?),
        },
        Event::Delete(obj) => {
            undecodable.readable(kind, &key(&obj));
            match decoded::<K>(&obj) {
                Ok(k) => Event::Delete(k),
                Err(_) => Event::Delete(older(&obj)?),
            }
        }
    };
    Some(Ok(typed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kairos_api::NodeOp;
    use kube::runtime::reflector;

    fn dynamic(concurrency: serde_json::Value, rv: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": rv},
            "spec": {"command": ["true"], "concurrency": concurrency},
        }))
        .unwrap()
    }

    #[test]
    fn a_bad_object_is_left_out_and_counted_and_the_others_go_through() {
        let (store, mut writer) = reflector::store::<NodeOp>();
        let bad = Undecodable::default();
        let mut apply = |e| {
            if let Some(Ok(ev)) = typed::<NodeOp>(Ok(e), &store, &bad) {
                writer.apply_watcher_event(&ev);
                Some(ev)
            } else {
                None
            }
        };
        apply(Event::Init);
        assert!(apply(Event::InitApply(dynamic(99_999_999_999u64.into(), "1"))).is_none());
        let mut good = dynamic(2.into(), "2");
        good.metadata.name = Some("b".into());
        assert!(apply(Event::InitApply(good)).is_some());
        apply(Event::InitDone);
        assert_eq!(store.state().len(), 1);
        assert_eq!(bad.counts().get("NodeOp"), Some(&1));

        // Fixed: it comes in and is no longer counted.
        assert!(matches!(
            apply(Event::Apply(dynamic(3.into(), "3"))),
            Some(Event::Apply(_))
        ));
        assert_eq!(store.state().len(), 2);
        assert_eq!(bad.counts().get("NodeOp"), Some(&0));

        // Broken again: its cached copy goes, so nothing acts on the old spec.
        assert!(matches!(
            apply(Event::Apply(dynamic("many".into(), "4"))),
            Some(Event::Delete(_))
        ));
        assert_eq!(store.state().len(), 1);
        assert_eq!(bad.counts().get("NodeOp"), Some(&1));

        // Deleted: no longer counted.
        apply(Event::Delete(dynamic("many".into(), "5")));
        assert_eq!(bad.counts().get("NodeOp"), Some(&0));

        // A new list counts what is still there.
        apply(Event::Apply(dynamic("many".into(), "6")));
        apply(Event::Init);
        assert_eq!(bad.counts().get("NodeOp"), None);
        apply(Event::InitApply(dynamic("many".into(), "6")));
        apply(Event::InitDone);
        assert_eq!(bad.counts().get("NodeOp"), Some(&1));
    }
}
