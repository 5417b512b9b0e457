//! What an update of an object changed, for the benchmark's write accounting: nothing, only
//! `status.lastSeen` (the coarse liveness stamp the operator is allowed to write), or more.
//! Pure.

use serde_json::Value;

/// The kind of one change between two versions of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only server-managed metadata differs (`resourceVersion`, `managedFields`, ...).
    Nothing,
    /// `status.lastSeen` and server-managed metadata differ, nothing else.
    LastSeenOnly,
    /// Anything else differs.
    Other,
}

/// Classifies the change from `old` to `new`.
pub fn classify(old: &Value, new: &Value) -> Change {
    let (mut old, mut new) = (old.clone(), new.clone());
    strip_server_fields(&mut old);
    strip_server_fields(&mut new);
    if old == new {
        return Change::Nothing;
    }
    for v in [&mut old, &mut new] {
        if let Some(status) = v.get_mut("status").and_then(Value::as_object_mut) {
            status.remove("lastSeen");
        }
    }
    if old == new {
        Change::LastSeenOnly
    } else {
        Change::Other
    }
}

/// Removes what the API server itself maintains.
fn strip_server_fields(v: &mut Value) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "generation"] {
            meta.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kn(rv: &str, last_seen: &str, version: &str) -> Value {
        json!({
            "metadata": {"name": "n1", "resourceVersion": rv, "managedFields": [{"manager": rv}]},
            "status": {"lastSeen": last_seen, "kairos": {"version": version}},
        })
    }

    #[test]
    fn a_new_resource_version_alone_is_nothing() {
        assert_eq!(
            classify(&kn("1", "t1", "v1"), &kn("2", "t1", "v1")),
            Change::Nothing
        );
    }

    #[test]
    fn a_new_last_seen_alone_is_last_seen_only() {
        assert_eq!(
            classify(&kn("1", "t1", "v1"), &kn("2", "t2", "v1")),
            Change::LastSeenOnly
        );
    }

    #[test]
    fn any_other_field_is_other() {
        assert_eq!(
            classify(&kn("1", "t1", "v1"), &kn("2", "t2", "v2")),
            Change::Other
        );
        let mut labelled = kn("2", "t1", "v1");
        labelled["metadata"]["labels"] = json!({"a": "b"});
        assert_eq!(classify(&kn("1", "t1", "v1"), &labelled), Change::Other);
    }
}
