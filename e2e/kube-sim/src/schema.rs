//! Structural-schema handling of custom resources against a CRD's `openAPIV3Schema`: defaults,
//! pruning of unknown fields, and a partial validation (type, enum, required, min/max,
//! minItems/maxItems, minLength/maxLength, nullable, and the range of numbers by their `format`:
//! `int32`/`int64` integers, `float` numbers). CEL rules are checked elsewhere; `pattern` and
//! string formats are not checked. Pure: no I/O.

use serde_json::{Map, Value};

/// Applies `default`s from the schema to absent fields, recursively (as the real server does).
pub(crate) fn apply_defaults(schema: &Value, v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, ps) in props {
                    if !map.contains_key(k)
                        && let Some(d) = ps.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                    if let Some(child) = map.get_mut(k) {
                        apply_defaults(ps, child);
                    }
                }
            }
            if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    apply_defaults(ap, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for i in items {
                    apply_defaults(is, i);
                }
            }
        }
        _ => {}
    }
}

/// Removes fields the schema does not know, except under `x-kubernetes-preserve-unknown-fields`
/// and inside `metadata` (which the server handles itself).
pub(crate) fn prune(schema: &Value, v: &mut Value, top: bool) {
    if schema["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true) {
        return;
    }
    match v {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                let ap = schema.get("additionalProperties").filter(|a| a.is_object());
                map.retain(|k, _| {
                    props.contains_key(k)
                        || ap.is_some()
                        || (top && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                });
                for (k, child) in map.iter_mut() {
                    if top && k == "metadata" {
                        continue;
                    }
                    match (props.get(k), ap) {
                        (Some(ps), _) => prune(ps, child, false),
                        (None, Some(a)) => prune(a, child, false),
                        _ => {}
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    prune(ap, child, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for i in items {
                    prune(is, i, false);
                }
            }
        }
        _ => {}
    }
}

/// Dotted paths of the fields [`prune`] would remove (what `fieldValidation=Strict` refuses).
pub(crate) fn unknown_fields(schema: &Value, v: &Value) -> Vec<String> {
    let mut pruned = v.clone();
    prune(schema, &mut pruned, true);
    let lists = super::lists::Lists::new(Some(schema));
    let after = super::apply::leaves(&pruned, &lists);
    super::apply::leaves(v, &lists)
        .difference(&after)
        .map(|p| p.join("."))
        .collect()
}

/// Validates `v` against the schema; returns field errors in the real server's style
/// (`spec.concurrency: Invalid value: -1: spec.concurrency in body should be greater than or equal to 0`).
pub(crate) fn validate(schema: &Value, v: &Value) -> Vec<String> {
    let mut errs = vec![];
    check(schema, v, "", &mut errs, true);
    errs
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn check(s: &Value, v: &Value, path: &str, errs: &mut Vec<String>, top: bool) {
    if v.is_null() {
        if s["nullable"].as_bool() != Some(true) && !top && s.get("type").is_some() {
            errs.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}",
                s["type"].as_str().unwrap_or("object")
            ));
        }
        return;
    }
    if s["x-kubernetes-int-or-string"].as_bool() == Some(true) {
        if !(v.is_string() || v.is_i64() || v.is_u64()) {
            errs.push(format!(
                "{path}: Invalid value: {v}: {path} in body must be of type integer or string"
            ));
        }
        return;
    }
    if let Some(t) = s["type"].as_str()
        && let Some(n) = v.as_number()
        && matches!(t, "integer" | "number")
    {
        // Numbers go through kube-openapi's type and number validators, both of which report.
        let type_err = number_type_error(s, t, n, path);
        let range_err = range_error(s, t, n, path);
        let failed = type_err.is_some();
        errs.extend(type_err.into_iter().chain(range_err));
        if failed {
            return;
        }
    } else if let Some(t) = s["type"].as_str()
        && !type_ok(t, v)
    {
        errs.push(format!(
            "{path}: Invalid value: \"{}\": {path} in body must be of type {t}: \"{}\"",
            kind_name(v),
            kind_name(v)
        ));
        return;
    }
    if let Some(e) = s["enum"].as_array()
        && !e.contains(v)
    {
        let allowed: Vec<String> = e.iter().map(Value::to_string).collect();
        errs.push(format!(
            "{path}: Unsupported value: {v}: supported values: {}",
            allowed.join(", ")
        ));
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s["minimum"].as_f64()
            && n < min
        {
            errs.push(format!("{path}: Invalid value: {v}: {path} in body should be greater than or equal to {min}"));
        }
        if let Some(max) = s["maximum"].as_f64()
            && n > max
        {
            errs.push(format!(
                "{path}: Invalid value: {v}: {path} in body should be less than or equal to {max}"
            ));
        }
    }
    if let Some(st) = v.as_str() {
        let len = st.chars().count() as u64;
        if s["minLength"].as_u64().is_some_and(|m| len < m) {
            errs.push(format!(
                "{path}: Invalid value: {v}: {path} in body should be at least {} chars long",
                s["minLength"]
            ));
        }
        if s["maxLength"].as_u64().is_some_and(|m| len > m) {
            errs.push(format!(
                "{path}: Too long: may not be more than {} bytes",
                s["maxLength"]
            ));
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if s["minItems"].as_u64().is_some_and(|m| n < m) {
            errs.push(format!(
                "{path}: Invalid value: {n}: {path} in body should have at least {} items",
                s["minItems"]
            ));
        }
        if s["maxItems"].as_u64().is_some_and(|m| n > m) {
            errs.push(format!(
                "{path}: Too many: {n}: must have at most {} items",
                s["maxItems"]
            ));
        }
        if let Some(is) = s.get("items") {
            for (i, it) in items.iter().enumerate() {
                check(is, it, &format!("{path}[{i}]"), errs, false);
            }
        }
    }
    if let Some(map) = v.as_object() {
        check_object(s, map, path, errs, top);
    }
}

fn check_object(
    s: &Value,
    map: &Map<String, Value>,
    path: &str,
    errs: &mut Vec<String>,
    top: bool,
) {
    for r in s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !map.contains_key(r) {
            errs.push(format!("{}: Required value", join(path, r)));
        }
    }
    let props = s["properties"].as_object();
    let ap = s.get("additionalProperties").filter(|a| a.is_object());
    for (k, child) in map {
        if top && k == "metadata" {
            continue;
        }
        if let Some(ps) = props.and_then(|p| p.get(k)) {
            check(ps, child, &join(path, k), errs, false);
        } else if let Some(a) = ap {
            check(a, child, &join(path, k), errs, false);
        }
    }
}

/// The `format` a real server (1.36 and later) keeps in a CRD schema for validation: `int32`
/// and `int64` on integers, `float` and `double` on numbers; any other format of a number is
/// dropped (apiextensions `StripUnsupportedFormatsPostProcessorForVersion`). Before 1.36 every
/// numeric format was dropped.
fn numeric_format<'a>(s: &'a Value, t: &str) -> &'a str {
    match (t, s["format"].as_str().unwrap_or_default()) {
        ("integer", f @ ("int32" | "int64")) | ("number", f @ ("float" | "double")) => f,
        _ => "",
    }
}

/// A number as the real server decodes it from JSON: an `int64` when it is an integer that
/// fits, a `float64` otherwise.
enum Decoded {
    Int(i64),
    Float(f64),
}

fn decoded(n: &serde_json::Number) -> Decoded {
    match n.as_i64() {
        Some(i) => Decoded::Int(i),
        None => Decoded::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

/// kube-openapi's type check of a number: an integer field accepts an `int64`, or a `float64`
/// that is a JSON integer (at most 2^53 - 1, no fraction). With a format kept
/// ([`numeric_format`]), a float in an integer field is reported against the format.
fn number_type_error(s: &Value, t: &str, n: &serde_json::Number, path: &str) -> Option<String> {
    let Decoded::Float(f) = decoded(n) else {
        return None;
    };
    const MAX_JSON_INT: f64 = 9_007_199_254_740_991.0;
    if t != "integer" || (f.fract() == 0.0 && f.abs() <= MAX_JSON_INT) {
        return None;
    }
    Some(match numeric_format(s, t) {
        "" => format!(
            "{path}: Invalid value: \"number\": {path} in body must be of type integer: \"number\""
        ),
        f => format!(
            "{path}: Invalid value: \"double\": {path} in body must be of type {f}: \"double\""
        ),
    })
}

/// kube-openapi's range check of a number by its type and kept format (`IsValueValidAgainstRange`):
/// an integer must fit an `int32` (format `int32`) or an `int64` (otherwise), written without
/// exponent and fraction; a number of format `float` must fit a `float32`. The error is a plain
/// one, which the real server reports against no field: `<nil>: Invalid value: "": Checked
/// value must be of type integer with format int32 in spec.concurrency`.
fn range_error(s: &Value, t: &str, n: &serde_json::Number, path: &str) -> Option<String> {
    let format = numeric_format(s, t);
    let ok = match (t, decoded(n)) {
        ("integer", Decoded::Int(i)) => format != "int32" || i32::try_from(i).is_ok(),
        // A float is written out in full ('f' format) and parsed as an integer again.
        ("integer", Decoded::Float(f)) => {
            f.fract() == 0.0
                && if format == "int32" {
                    f >= f64::from(i32::MIN) && f <= f64::from(i32::MAX)
                } else {
                    // 2^63 is the first float64 that no int64 holds.
                    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
                }
        }
        ("number", Decoded::Int(_)) => true,
        ("number", Decoded::Float(f)) => format != "float" || f.abs() <= f64::from(f32::MAX),
        _ => true,
    };
    if ok {
        return None;
    }
    Some(match format {
        "" => format!(
            "<nil>: Invalid value: \"\": Checked value must be of type {t} (default format) in {path}"
        ),
        f => format!(
            "<nil>: Invalid value: \"\": Checked value must be of type {t} with format {f} in {path}"
        ),
    })
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
