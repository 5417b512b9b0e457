//! Server-side apply and `managedFields` bookkeeping: field sets per manager (leaf paths; lists
//! are atomic), conflicts with other managers (409 unless `force`), removal of fields a manager
//! applied before and now omits, and ownership taken by plain updates. Pure: no I/O.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::lists::{ListKind, Lists, elem_seg, is_elem, merge_into, remove_at, value_at};

/// A leaf field path (`["spec", "image"]`).
pub(crate) type FieldPath = Vec<String>;

/// One `managedFields` entry, parsed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Field manager.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// `""` or `status`.
    pub subresource: String,
    /// `apiVersion` the fields were written with.
    pub api_version: String,
    /// Last change of this entry's set.
    pub time: String,
    /// Owned leaf paths.
    pub fields: BTreeSet<FieldPath>,
}

const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// The leaf paths of an object that a manager can own (list elements of associative lists and
/// sets are separate paths; see [`super::lists`]).
pub(crate) fn leaves(v: &Value, lists: &Lists<'_>) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    if let Some(m) = v.as_object() {
        for (k, c) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for (mk, mc) in c.as_object().into_iter().flatten() {
                        if !SERVER_META.contains(&mk.as_str()) {
                            walk(mc, vec!["metadata".into(), mk.clone()], lists, &mut out);
                        }
                    }
                }
                _ => walk(c, vec![k.clone()], lists, &mut out),
            }
        }
    }
    out
}

fn walk(v: &Value, path: FieldPath, lists: &Lists<'_>, out: &mut BTreeSet<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                let mut p = path.clone();
                p.push(k.clone());
                walk(c, p, lists, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let kind = lists.kind(&path);
            let segs: Option<Vec<String>> = items.iter().map(|e| elem_seg(&kind, e)).collect();
            let Some(segs) = segs else {
                out.insert(path);
                return;
            };
            for (seg, e) in segs.into_iter().zip(items) {
                let mut p = path.clone();
                p.push(seg);
                if kind == ListKind::Set {
                    out.insert(p);
                    continue;
                }
                let mut dot = p.clone();
                dot.push(".".into());
                out.insert(dot);
                for (k, c) in e.as_object().into_iter().flatten() {
                    let mut fp = p.clone();
                    fp.push(k.clone());
                    walk(c, fp, lists, out);
                }
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// Whether a path is an element-presence marker (`…/k:{..}/.`), which is owned, never compared.
fn is_marker(p: &[String]) -> bool {
    p.last().is_some_and(|s| s == ".")
}

/// Renders a field set as `fieldsV1`.
pub(crate) fn to_fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut cur = &mut root;
        for k in p {
            let key = if k == "." || is_elem(k) {
                k.clone()
            } else {
                format!("f:{k}")
            };
            let e = cur.entry(key).or_insert_with(|| json!({}));
            match e.as_object_mut() {
                Some(m) => cur = m,
                None => break,
            }
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    let m = v.as_object().filter(|m| !m.is_empty());
    match m {
        Some(m) => {
            for (k, c) in m {
                let seg = match k.strip_prefix("f:") {
                    Some(name) => name.to_string(),
                    None if k == "." || is_elem(k) => k.clone(),
                    None => continue,
                };
                let mut p = path.clone();
                p.push(seg);
                from_fields_v1(c, p, out);
            }
        }
        None if !path.is_empty() => {
            out.insert(path);
        }
        None => {}
    }
}

/// Parses an object's `metadata.managedFields`.
pub(crate) fn entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let mut fields = BTreeSet::new();
            from_fields_v1(&e["fieldsV1"], vec![], &mut fields);
            Entry {
                manager: e["manager"].as_str().unwrap_or_default().into(),
                operation: e["operation"].as_str().unwrap_or("Update").into(),
                subresource: e["subresource"].as_str().unwrap_or_default().into(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
                time: e["time"].as_str().unwrap_or_default().into(),
                fields,
            }
        })
        .collect()
}

/// Writes parsed entries back to `metadata.managedFields` (entries owning nothing are dropped).
pub(crate) fn set_entries(obj: &mut Value, es: &[Entry]) {
    let arr: Vec<Value> = es
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if let Some(m) = obj["metadata"].as_object_mut() {
        if arr.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

/// Restricts an object to what a write on `subresource` may touch (`status` only for `/status`,
/// everything but `status` on the main resource of a type with a status subresource).
pub(crate) fn scope_fields(
    set: BTreeSet<FieldPath>,
    subresource: &str,
    status_sub: bool,
) -> BTreeSet<FieldPath> {
    set.into_iter()
        .filter(|p| {
            let is_status = p.first().is_some_and(|k| k == "status");
            if subresource == "status" {
                is_status
            } else {
                !(status_sub && is_status)
            }
        })
        .collect()
}

/// Records a non-apply write: `manager` takes the leaves whose value changed.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    lists: &Lists<'_>,
    manager: &str,
    sub: &str,
    now: &str,
) {
    let mut es = old.map(entries).unwrap_or_default();
    let before = |p: &FieldPath| old.and_then(|o| value_at(o, p));
    let changed: BTreeSet<FieldPath> = leaves(new, lists)
        .into_iter()
        .filter(|p| {
            if is_marker(p) {
                before(p).is_none()
            } else {
                before(p) != value_at(new, p)
            }
        })
        .collect();
    for e in es.iter_mut() {
        // A changed leaf moves to this manager; a removed one is nobody's any more.
        e.fields
            .retain(|p| !changed.contains(p) && (is_marker(p) || value_at(new, p).is_some()));
    }
    if changed.is_empty() {
        set_entries(new, &es);
        return;
    }
    let api_version = new["apiVersion"].as_str().unwrap_or_default().to_string();
    match es
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == "Update" && e.subresource == sub)
    {
        Some(e) => {
            e.fields.extend(changed);
            e.time = now.into();
        }
        None => es.push(Entry {
            manager: manager.into(),
            operation: "Update".into(),
            subresource: sub.into(),
            api_version,
            time: now.into(),
            fields: changed,
        }),
    }
    set_entries(new, &es);
}

/// Server-side apply of `applied` by `manager` onto `live` (None: create).
///
/// # Errors
/// 409 Conflict when another manager owns a field with a different value and `force` is false.
#[allow(clippy::too_many_arguments)]
pub(crate) fn apply(
    live: Option<&Value>,
    applied: &Value,
    lists: &Lists<'_>,
    manager: &str,
    force: bool,
    sub: &str,
    status_sub: bool,
    now: &str,
) -> ApiResult<Value> {
    let mut es = live.map(entries).unwrap_or_default();
    let new_set = scope_fields(leaves(applied, lists), sub, status_sub);
    let base = live.cloned().unwrap_or_else(|| json!({}));
    let is_mine =
        |e: &Entry| e.manager == manager && e.operation == "Apply" && e.subresource == sub;
    let mut conflicts = vec![];
    for e in es.iter_mut() {
        // Ownership of a field that is no longer there is stale: it conflicts with nothing.
        e.fields
            .retain(|p| is_marker(p) || value_at(&base, p).is_some());
    }
    for e in es.iter_mut().filter(|e| !is_mine(e)) {
        let clashing: Vec<FieldPath> = e
            .fields
            .iter()
            .filter(|p| {
                new_set.contains(*p) && !is_marker(p) && value_at(&base, p) != value_at(applied, p)
            })
            .cloned()
            .collect();
        if force {
            e.fields.retain(|p| !clashing.contains(p));
        } else {
            conflicts.extend(clashing.into_iter().map(|p| (e.manager.clone(), p)));
        }
    }
    if !conflicts.is_empty() {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}\": .{}", p.join(".")))
            .collect();
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, p)| json!({"type": "FieldManagerConflict", "message": format!("conflict with \"{m}\""), "field": format!(".{}", p.join("."))}))
            .collect();
        return Err(ApiError::conflict_msg(
            format!(
                "Apply failed with {} conflict{}: {}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                lines.join("\n")
            ),
            json!({"causes": causes}),
        ));
    }
    let others: BTreeSet<FieldPath> = es
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let old_set = es
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut scoped = applied.clone();
    if let Some(m) = scoped.as_object_mut() {
        if sub == "status" {
            m.retain(|k, _| k == "status");
        } else if status_sub {
            m.remove("status");
        }
    }
    let mut out = base;
    // A field (or list element) this manager no longer applies goes, unless another manager
    // owns it or anything inside it.
    let owned_by_others = |p: &FieldPath| {
        let base: &[String] = if is_marker(p) { &p[..p.len() - 1] } else { p };
        others.iter().any(|o| o.starts_with(base))
    };
    for p in old_set.difference(&new_set).filter(|p| !owned_by_others(p)) {
        remove_at(&mut out, p);
    }
    merge_into(lists, &mut out, &scoped, &mut vec![]);
    let api_version = applied["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match es.iter_mut().find(|e| is_mine(e)) {
        Some(e) => {
            if e.fields != new_set {
                e.time = now.into();
            }
            e.fields = new_set;
        }
        None => es.push(Entry {
            manager: manager.into(),
            operation: "Apply".into(),
            subresource: sub.into(),
            api_version,
            time: now.into(),
            fields: new_set,
        }),
    }
    set_entries(&mut out, &es);
    Ok(out)
}

#[cfg(test)]
mod tests;
