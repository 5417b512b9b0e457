//! List semantics for server-side apply: which lists are associative (`x-kubernetes-list-type:
//! map` with `x-kubernetes-list-map-keys`, from the CRD schema, or the well-known keys of
//! built-in types), which are sets, and which are atomic; plus navigation of field paths through
//! list elements (`k:{"type":"Ready"}`, `v:"x"` segments, `.` for the element itself). No I/O.

use serde_json::{Map, Value};

/// How a list is merged and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// Elements identified by these keys; each element and field is owned separately.
    Map(Vec<String>),
    /// Scalar elements owned one by one.
    Set,
}

/// Resolves list kinds for one resource type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lists<'a> {
    schema: Option<&'a Value>,
}

fn by_name(field: &str) -> ListKind {
    let keys = |k: &[&str]| ListKind::Map(k.iter().map(|s| s.to_string()).collect());
    match field {
        "conditions" => keys(&["type"]),
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "containerStatuses"
        | "initContainerStatuses" => keys(&["name"]),
        "ownerReferences" => keys(&["uid"]),
        "volumeMounts" => keys(&["mountPath"]),
        "taints" => keys(&["key", "effect"]),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Whether a path segment addresses a list element.
pub(crate) fn is_elem(seg: &str) -> bool {
    seg.starts_with("k:") || seg.starts_with("v:")
}

impl<'a> Lists<'a> {
    /// Resolution for built-in types (known field names only), usable in constants.
    #[cfg(test)]
    pub(crate) const fn new_const() -> Self {
        Self { schema: None }
    }

    /// Resolution from a CRD schema (None: built-in type, known field names only).
    pub(crate) fn new(schema: Option<&'a Value>) -> Self {
        Self { schema }
    }

    /// The kind of the list at `path`.
    pub(crate) fn kind(&self, path: &[String]) -> ListKind {
        let last = path.last().map(String::as_str).unwrap_or_default();
        let Some(mut cur) = self
            .schema
            .filter(|_| path.first().is_some_and(|f| f != "metadata"))
        else {
            return by_name(last);
        };
        for seg in path {
            cur = if is_elem(seg) {
                &cur["items"]
            } else {
                match cur["properties"].get(seg) {
                    Some(p) => p,
                    None => &cur["additionalProperties"],
                }
            };
            if cur.is_null() {
                return ListKind::Atomic;
            }
        }
        match cur["x-kubernetes-list-type"].as_str() {
            Some("map") => ListKind::Map(
                cur["x-kubernetes-list-map-keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect(),
            ),
            Some("set") => ListKind::Set,
            _ => ListKind::Atomic,
        }
    }
}

/// The path segment of a list element (None when the element lacks a key: atomic then).
pub(crate) fn elem_seg(kind: &ListKind, elem: &Value) -> Option<String> {
    match kind {
        ListKind::Atomic => None,
        ListKind::Set => Some(format!("v:{elem}")),
        ListKind::Map(keys) => {
            let mut m = Map::new();
            for k in keys {
                m.insert(k.clone(), elem.get(k)?.clone());
            }
            Some(format!("k:{}", Value::Object(m)))
        }
    }
}

/// Index of the element a segment names.
pub(crate) fn find(arr: &[Value], seg: &str) -> Option<usize> {
    if let Some(v) = seg.strip_prefix("v:") {
        let want: Value = serde_json::from_str(v).ok()?;
        return arr.iter().position(|e| *e == want);
    }
    let keys: Map<String, Value> = serde_json::from_str(seg.strip_prefix("k:")?).ok()?;
    arr.iter()
        .position(|e| keys.iter().all(|(k, v)| e.get(k) == Some(v)))
}

/// The value at a field path (`.` returns the element itself).
pub(crate) fn value_at<'v>(v: &'v Value, p: &[String]) -> Option<&'v Value> {
    let mut cur = v;
    for seg in p {
        if seg == "." {
            return Some(cur);
        }
        cur = if is_elem(seg) {
            let arr = cur.as_array()?;
            &arr[find(arr, seg)?]
        } else {
            cur.get(seg)?
        };
    }
    Some(cur)
}

fn value_at_mut<'v>(v: &'v mut Value, p: &[String]) -> Option<&'v mut Value> {
    let mut cur = v;
    for seg in p {
        cur = if is_elem(seg) {
            let i = find(cur.as_array()?, seg)?;
            cur.as_array_mut()?.get_mut(i)?
        } else {
            cur.get_mut(seg)?
        };
    }
    Some(cur)
}

/// Removes the field (or list element, for `…/k:{..}/.` and `…/v:..`) at a path.
pub(crate) fn remove_at(v: &mut Value, p: &[String]) {
    let (target, parent) = match p.split_last() {
        Some((last, rest)) if last == "." => match rest.split_last() {
            Some((elem, arr_path)) => (elem, arr_path),
            None => return,
        },
        Some((last, rest)) => (last, rest),
        None => return,
    };
    let Some(container) = value_at_mut(v, parent) else {
        return;
    };
    if is_elem(target) {
        if let Some(arr) = container.as_array_mut()
            && let Some(i) = find(arr, target)
        {
            arr.remove(i);
        }
    } else if let Some(m) = container.as_object_mut() {
        m.remove(target);
    }
}

/// Deep merge of an applied configuration: maps merge, associative lists merge by key, sets
/// take the union, everything else is replaced.
pub(crate) fn merge_into(
    lists: &Lists<'_>,
    target: &mut Value,
    applied: &Value,
    path: &mut Vec<String>,
) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, av) in a {
                path.push(k.clone());
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && av.is_object() => merge_into(lists, tv, av, path),
                    Some(Value::Array(ta))
                        if av.is_array() && lists.kind(path) != ListKind::Atomic =>
                    {
                        merge_list(
                            lists,
                            ta,
                            av.as_array().map(Vec::as_slice).unwrap_or_default(),
                            path,
                        )
                    }
                    _ => {
                        t.insert(k.clone(), av.clone());
                    }
                }
                path.pop();
            }
        }
        _ => *target = applied.clone(),
    }
}

fn merge_list(
    lists: &Lists<'_>,
    target: &mut Vec<Value>,
    applied: &[Value],
    path: &mut Vec<String>,
) {
    let kind = lists.kind(path);
    for a in applied {
        let Some(seg) = elem_seg(&kind, a) else {
            *target = applied.to_vec();
            return;
        };
        match find(target, &seg) {
            Some(i) if kind != ListKind::Set => {
                path.push(seg);
                merge_into(lists, &mut target[i], a, path);
                path.pop();
            }
            Some(_) => {}
            None => target.push(a.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
