//! The CEL rules (`x-kubernetes-validations`) of a custom resource's schema, compiled once when
//! the CRD is registered (as the API server does) and evaluated on every write. No I/O.

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
pub(crate) struct CelRules(Option<Arc<CompiledSchema>>);

impl CelRules {
    /// Compiles the rules of `schema` (an `openAPIV3Schema`).
    pub(crate) fn compile(schema: &Value) -> Self {
        Self(Some(Arc::new(compile_schema(schema))))
    }

    /// The messages of the rules that `obj` breaks (`old` for transition rules).
    pub(crate) fn check(&self, obj: &Value, old: Option<&Value>) -> Vec<String> {
        let Some(compiled) = &self.0 else {
            return Vec::new();
        };
        VALIDATOR
            .with(|v| v.validate_compiled(compiled, obj, old))
            .err()
            .map(|errs| errs.into_vec().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
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
