//! Structural-schema handling of custom resources against a CRD's `openAPIV3Schema`: defaults,
//! pruning of unknown fields, and a partial validation (type, enum, required, min/max,
//! minItems/maxItems, minLength/maxLength, nullable). CEL rules and `pattern`/`format` are not
//! checked. Pure: no I/O.

use serde_json::{Map, Value};

/// Applies `default`s from the schema to absent fields, recursively (as the real server does).
pub fn apply_defaults(schema: &Value, v: &mut Value) {
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
pub fn prune(schema: &Value, v: &mut Value, top: bool) {
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
pub fn unknown_fields(schema: &Value, v: &Value) -> Vec<String> {
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
pub fn validate(schema: &Value, v: &Value) -> Vec<String> {
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
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["image"],
            "properties": {"image": {"type": "string"}, "concurrency": {"type": "integer", "minimum": 0, "default": 0},
            "mode": {"type": "string", "enum": ["a", "b"]}}}}})
    }

    #[test]
    fn defaults_prune_and_validate() {
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "x": 1}, "spec": {"image": "i", "junk": 1}});
        apply_defaults(&schema(), &mut v);
        prune(&schema(), &mut v, true);
        assert_eq!(v["spec"], json!({"image": "i", "concurrency": 0}));
        assert_eq!(v["metadata"]["x"], 1);
        assert!(validate(&schema(), &v).is_empty());
        let bad = json!({"spec": {"concurrency": -1, "mode": "c"}});
        let errs = validate(&schema(), &bad);
        assert_eq!(errs.len(), 3, "{errs:?}");
    }
}
