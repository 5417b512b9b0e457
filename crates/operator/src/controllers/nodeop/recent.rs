//! Read-your-writes over a cache: the objects this process wrote lately, so the next reconcile
//! plans from them while the watch that fills the cache has not delivered them yet (a plan from
//! the older copy would only fail on its `resourceVersion` precondition and be retried, but at
//! fleet scale, with writes every few milliseconds, that is most plans). An entry is dropped as
//! soon as the cache shows the written version, or anything but the version it replaced. No I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::Resource;

/// What this process wrote: per namespace and name, the version it replaced (`None` for a
/// create) and the object as the API server returned it. Keyed in two levels so that a lookup
/// (one per cached object per reconcile) allocates nothing.
pub(crate) struct Recent<K> {
    written: Mutex<HashMap<String, HashMap<String, Written<K>>>>,
}

/// One write: the version it replaced (`None` for a create) and the object written.
struct Written<K> {
    replaced: Option<String>,
    object: Arc<K>,
}

impl<K> Default for Recent<K> {
    fn default() -> Self {
        Self {
            written: Mutex::default(),
        }
    }
}

/// The namespace and name of `obj`.
fn parts<K: Resource>(obj: &K) -> (&str, &str) {
    let m = obj.meta();
    (
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
    )
}

impl<K: Resource> Recent<K> {
    /// Records that `written` replaced version `replaced` (`None`: it was created).
    pub(crate) fn wrote(&self, replaced: Option<String>, written: K) {
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let object = Arc::new(written);
        let (ns, name) = parts(object.as_ref());
        let (ns, name) = (ns.to_owned(), name.to_owned());
        w.entry(ns)
            .or_default()
            .insert(name, Written { replaced, object });
    }

    /// The freshest known copy of the cached object `cached`: what this process wrote when the
    /// cache still shows the version that write replaced, else the cached one.
    pub(crate) fn fresher(&self, cached: Arc<K>) -> Arc<K> {
        let (ns, name) = parts(cached.as_ref());
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some(in_ns) = w.get_mut(ns) else {
            return cached;
        };
        let Some(written) = in_ns.get(name) else {
            return cached;
        };
        let rv = cached.meta().resource_version.as_ref();
        if rv.is_some() && rv == written.replaced.as_ref() {
            return written.object.clone();
        }
        in_ns.remove(name);
        cached
    }

    /// Objects written by this process that the cache does not show at all yet (`shown` says
    /// whether it shows the object of a namespace and name): created moments ago.
    pub(crate) fn unseen(&self, shown: &dyn Fn(&str, &str) -> bool) -> Vec<Arc<K>> {
        let w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        w.iter()
            .flat_map(|(ns, in_ns)| in_ns.iter().map(move |(name, w)| (ns, name, w)))
            .filter(|(ns, name, _)| !shown(ns, name))
            .map(|(_, _, written)| written.object.clone())
            .collect()
    }

    /// What this process last wrote at `namespace`/`name`, if anything.
    pub(crate) fn written(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let written = w.get(namespace)?.get(name)?;
        Some(written.object.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(rv: &str, data: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": rv},
            "data": {"k": data},
        }))
        .unwrap()
    }

    #[test]
    fn the_written_copy_stands_in_until_the_cache_moves_on() {
        let r = Recent::default();
        r.wrote(Some("1".into()), cm("2", "new"));
        // The cache still shows version 1: the write is fresher.
        assert_eq!(
            r.fresher(Arc::new(cm("1", "old")))
                .metadata
                .resource_version
                .as_deref(),
            Some("2")
        );
        // The cache caught up: the entry goes.
        assert_eq!(
            r.fresher(Arc::new(cm("2", "new"))).data,
            cm("2", "new").data
        );
        assert_eq!(
            r.fresher(Arc::new(cm("1", "old")))
                .metadata
                .resource_version
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn someone_elses_newer_write_wins() {
        let r = Recent::default();
        r.wrote(Some("1".into()), cm("2", "ours"));
        assert_eq!(
            r.fresher(Arc::new(cm("3", "theirs")))
                .metadata
                .resource_version
                .as_deref(),
            Some("3")
        );
    }

    #[test]
    fn a_created_object_is_known_until_the_cache_shows_it() {
        let r = Recent::default();
        r.wrote(None, cm("5", "new"));
        assert_eq!(r.unseen(&|_, _| false).len(), 1);
        assert!(r.unseen(&|ns, name| (ns, name) == ("ns", "a")).is_empty());
        assert!(r.written("ns", "a").is_some());
        assert!(r.written("other", "a").is_none());
        // Once the cache shows it, the entry goes.
        r.fresher(Arc::new(cm("5", "new")));
        assert!(r.unseen(&|_, _| false).is_empty());
        assert!(r.written("ns", "a").is_none());
    }
}
