//! The CEL rules (`x-kubernetes-validations`) of a custom resource's schema, compiled once when
//! the CRD is registered (as the API server does) and evaluated on every write. No I/O.
//!
//! Only the subtrees whose schema holds rules are converted and evaluated: the library's own
//! walk converts the object again at every schema node, which made a status write of a large
//! object cost far more than its few rules.

use std::collections::HashSet;
use std::sync::Arc;

use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::Value;

thread_local! {
    /// The evaluator, with every Kubernetes CEL function registered (one per thread: building
    /// it registers them all).
    static VALIDATOR: Validator = Validator::new();
}

/// A schema's compiled rules (none for built-in kinds).
#[derive(Clone, Default)]
pub(crate) struct CelRules(Option<Arc<Compiled>>);

struct Compiled {
    schema: Box<CompiledSchema>,
    /// The schema nodes (by address, stable inside the `Box`) with a rule at or below them.
    with_rules: HashSet<usize>,
}

impl CelRules {
    /// Compiles the rules of `schema` (an `openAPIV3Schema`).
    pub(crate) fn compile(schema: &Value) -> Self {
        let schema = Box::new(compile_schema(schema));
        let mut with_rules = HashSet::new();
        mark(&schema, &mut with_rules);
        Self(Some(Arc::new(Compiled { schema, with_rules })))
    }

    /// The messages of the rules that `obj` breaks (`old` for transition rules), each prefixed
    /// with the path of the field it is about.
    pub(crate) fn check(&self, obj: &Value, old: Option<&Value>) -> Vec<String> {
        let mut errs = Vec::new();
        if let Some(c) = &self.0 {
            VALIDATOR.with(|v| walk(v, c, &c.schema, obj, old, "", &mut errs));
        }
        errs
    }
}

/// Marks the nodes of `s` with a rule at or below them; whether `s` is one.
fn mark(s: &CompiledSchema, out: &mut HashSet<usize>) -> bool {
    let mut any = !s.validations.is_empty();
    for child in s
        .properties
        .values()
        .chain(s.items.as_deref())
        .chain(s.additional_properties.as_deref())
        .chain(&s.all_of)
        .chain(&s.one_of)
        .chain(&s.any_of)
    {
        any |= mark(child, out);
    }
    if any {
        out.insert(std::ptr::from_ref(s) as usize);
    }
    any
}

/// Evaluates the rules of `s` over `value`: wholly at the first node that has rules of its own
/// (or in its `allOf`/`oneOf`/`anyOf` branches), else by descending only into children that
/// have rules below them, as the library's walk would reach them.
fn walk(
    v: &Validator,
    c: &Compiled,
    s: &CompiledSchema,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    errs: &mut Vec<String>,
) {
    let has = |n: &CompiledSchema| c.with_rules.contains(&(std::ptr::from_ref(n) as usize));
    if !has(s) {
        return;
    }
    let branches = s.all_of.iter().chain(&s.one_of).chain(&s.any_of);
    if !s.validations.is_empty() || branches.into_iter().any(has) {
        if let Err(found) = v.validate_compiled(s, value, old) {
            errs.extend(
                found
                    .iter()
                    .map(|e| message(path, &e.field_path, &e.message)),
            );
        }
        return;
    }
    if let Some(obj) = value.as_object() {
        for (name, child) in &s.properties {
            if let Some(val) = obj.get(name) {
                let old = old.and_then(|o| o.get(name));
                walk(v, c, child, val, old, &join(path, name), errs);
            }
        }
        if let Some(child) = s.additional_properties.as_deref()
            && !s.preserve_unknown_fields
        {
            for (key, val) in obj.iter().filter(|(k, _)| !s.properties.contains_key(*k)) {
                let old = old.and_then(|o| o.get(key));
                walk(v, c, child, val, old, &join(path, key), errs);
            }
        }
    }
    if let (Some(child), Some(items)) = (s.items.as_deref(), value.as_array()) {
        for (i, item) in items.iter().enumerate() {
            let old = old.and_then(Value::as_array).and_then(|a| a.get(i));
            walk(v, c, child, item, old, &format!("{path}[{i}]"), errs);
        }
    }
}

fn join(base: &str, segment: &str) -> String {
    if base.is_empty() {
        segment.to_owned()
    } else {
        format!("{base}.{segment}")
    }
}

/// `message` about the field at `rel` below `base`, as the library words a failure.
fn message(base: &str, rel: &str, message: &str) -> String {
    let path = match (base.is_empty(), rel.is_empty()) {
        (_, true) => base.to_owned(),
        (true, false) => rel.to_owned(),
        (false, false) if rel.starts_with(['[', '.']) => format!("{base}{rel}"),
        (false, false) => format!("{base}.{rel}"),
    };
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

impl std::fmt::Debug for CelRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "CelRules(compiled)"
        } else {
            "CelRules(none)"
        })
    }
}

/// Rules are derived from the schema, which the owning type compares.
impl PartialEq for CelRules {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
