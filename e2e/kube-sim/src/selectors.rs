//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and field selectors
//! (`metadata.name`, `metadata.namespace`, `spec.nodeName`, `status.phase`, `involvedObject.*`).
//! Parsing and matching only: no I/O.

use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LabelReq {
    /// `key=value` / `key==value`.
    Eq(String, String),
    /// `key!=value`.
    NotEq(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`.
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    NotExists(String),
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (vec![], String::new(), 0);
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c)
            }
            ')' => {
                depth -= 1;
                cur.push(c)
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn set_values(s: &str) -> ApiResult<Vec<String>> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{s}', expected: '('"
            ))
        })?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(ApiError::bad_request(
            "for 'in', 'notin' operators, values set can't be empty",
        ));
    }
    Ok(values)
}

/// Parses a label selector string.
pub(crate) fn parse_labels(s: &str) -> ApiResult<Vec<LabelReq>> {
    let mut reqs = vec![];
    for part in split_top(s) {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        if let Some(k) = p.strip_prefix('!') {
            reqs.push(LabelReq::NotExists(k.trim().into()));
        } else if let Some((k, v)) = p.split_once("!=") {
            reqs.push(LabelReq::NotEq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("==") {
            reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once('=') {
            reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once(" notin ") {
            reqs.push(LabelReq::NotIn(k.trim().into(), set_values(v)?));
        } else if let Some((k, v)) = p.split_once(" in ") {
            reqs.push(LabelReq::In(k.trim().into(), set_values(v)?));
        } else if p.contains(char::is_whitespace) || p.contains('(') {
            return Err(ApiError::bad_request(format!(
                "unable to parse requirement: {p:?}"
            )));
        } else {
            reqs.push(LabelReq::Exists(p.into()));
        }
    }
    Ok(reqs)
}

/// Whether `labels` (an object's `metadata.labels`) satisfies every requirement.
pub(crate) fn labels_match(reqs: &[LabelReq], labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    reqs.iter().all(|r| match r {
        LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
        LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
        LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        LabelReq::Exists(k) => get(k).is_some(),
        LabelReq::NotExists(k) => get(k).is_none(),
    })
}

/// Whether a `metav1.LabelSelector` object (`matchLabels` + `matchExpressions`) matches labels.
/// An empty selector matches everything (PodDisruptionBudget semantics).
pub(crate) fn label_selector_object_matches(sel: &Value, labels: &Value) -> bool {
    let mut reqs = vec![];
    if let Some(m) = sel["matchLabels"].as_object() {
        for (k, v) in m {
            reqs.push(LabelReq::Eq(
                k.clone(),
                v.as_str().unwrap_or_default().into(),
            ));
        }
    }
    for e in sel["matchExpressions"].as_array().into_iter().flatten() {
        // Refused when stored (see `label_selector_object_errors`): matches nothing.
        let Some(req) = expression(e) else {
            return false;
        };
        reqs.push(req);
    }
    labels_match(&reqs, labels)
}

/// The requirement of one `matchExpressions` entry; `None` for an unknown operator.
fn expression(e: &Value) -> Option<LabelReq> {
    let k = e["key"].as_str().unwrap_or_default().to_string();
    let vals = || {
        e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    Some(match e["operator"].as_str().unwrap_or_default() {
        "In" => LabelReq::In(k, vals()),
        "NotIn" => LabelReq::NotIn(k, vals()),
        "Exists" => LabelReq::Exists(k),
        "DoesNotExist" => LabelReq::NotExists(k),
        _ => return None,
    })
}

/// The field errors of a `metav1.LabelSelector` object at `path`, worded as the API server's
/// `ValidateLabelSelector` words them: an unknown operator, `In`/`NotIn` without values,
/// `Exists`/`DoesNotExist` with values.
pub(crate) fn label_selector_object_errors(sel: &Value, path: &str) -> Vec<String> {
    let mut errs = Vec::new();
    for (i, e) in sel["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{path}.matchExpressions[{i}]");
        let has_values = e["values"].as_array().is_some_and(|v| !v.is_empty());
        match expression(e) {
            None => errs.push(format!(
                "{at}.operator: Invalid value: \"{}\": not a valid selector operator",
                e["operator"].as_str().unwrap_or_default()
            )),
            Some(LabelReq::In(..) | LabelReq::NotIn(..)) if !has_values => errs.push(format!(
                "{at}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            )),
            Some(LabelReq::Exists(_) | LabelReq::NotExists(_)) if has_values => {
                errs.push(format!(
                    "{at}.values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                ));
            }
            Some(_) => {}
        }
    }
    errs
}

/// One field selector requirement: path, whether negated, value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldReq {
    /// Dotted field path (`metadata.name`).
    pub path: String,
    /// `!=` instead of `=`.
    pub negated: bool,
    /// Compared value.
    pub value: String,
}

const FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.unschedulable",
    "status.phase",
    "spec.serviceAccountName",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.kind",
    "involvedObject.uid",
    "regarding.name",
    "regarding.kind",
    "type",
    "reason",
];

/// Parses a field selector string; unsupported fields are a 400 as on a real server.
pub(crate) fn parse_fields(s: &str) -> ApiResult<Vec<FieldReq>> {
    let mut out = vec![];
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (path, negated, value) = if let Some((k, v)) = p.split_once("!=") {
            (k, true, v)
        } else if let Some((k, v)) = p.split_once("==") {
            (k, false, v)
        } else if let Some((k, v)) = p.split_once('=') {
            (k, false, v)
        } else {
            return Err(ApiError::bad_request(format!("invalid selector: '{p}'")));
        };
        let path = path.trim();
        if !FIELDS.contains(&path) {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {path}"
            )));
        }
        out.push(FieldReq {
            path: path.into(),
            negated,
            value: value.trim().into(),
        });
    }
    Ok(out)
}

/// Whether an object satisfies every field requirement (a missing field reads as `""`, a missing
/// `spec.unschedulable` as `false`, as the API server reads the unset field of a Go struct).
pub(crate) fn fields_match(reqs: &[FieldReq], obj: &Value) -> bool {
    reqs.iter().all(|r| {
        let mut cur = obj;
        for seg in r.path.split('.') {
            cur = &cur[seg];
        }
        let actual = match cur {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Null if r.path == "spec.unschedulable" => false.to_string(),
            Value::Null => String::new(),
            v => v.to_string(),
        };
        (actual == r.value) != r.negated
    })
}

#[cfg(test)]
mod tests;
