//! The metadata fields the API server always sets (name, namespace, uid), read for a planner
//! with one error, [`MissingField`], for an object that lacks one. Pure: no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// An object lacks a metadata field the API server always sets, so it cannot be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed to plan {what}: missing field {field}")]
pub struct MissingField {
    /// What could not be planned: `the NodeOp`, `the upgrade`, `the node upgrade`.
    pub what: &'static str,
    /// The missing field: `.metadata.name`, `.metadata.namespace` or `.metadata.uid`.
    pub field: &'static str,
}

/// The required metadata of an object a planner reads; `what` names the plan in errors.
#[derive(Clone, Copy, Debug)]
pub struct Required<'a> {
    meta: &'a ObjectMeta,
    what: &'static str,
}

impl<'a> Required<'a> {
    /// Reads `meta` for the plan of `what` (`the NodeOp`, `the upgrade`, ...).
    pub fn new(meta: &'a ObjectMeta, what: &'static str) -> Self {
        Self { meta, what }
    }

    /// `metadata.name`.
    ///
    /// # Errors
    /// [`MissingField`] when it is not set.
    pub fn name(&self) -> Result<&'a str, MissingField> {
        self.field(self.meta.name.as_deref(), ".metadata.name")
    }

    /// `metadata.namespace`.
    ///
    /// # Errors
    /// [`MissingField`] when it is not set.
    pub fn namespace(&self) -> Result<&'a str, MissingField> {
        self.field(self.meta.namespace.as_deref(), ".metadata.namespace")
    }

    /// `metadata.uid`.
    ///
    /// # Errors
    /// [`MissingField`] when it is not set.
    pub fn uid(&self) -> Result<&'a str, MissingField> {
        self.field(self.meta.uid.as_deref(), ".metadata.uid")
    }

    fn field(&self, value: Option<&'a str>, field: &'static str) -> Result<&'a str, MissingField> {
        value.ok_or(MissingField {
            what: self.what,
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_named_with_what_could_not_be_planned() {
        let meta = ObjectMeta {
            name: Some("n1".to_owned()),
            ..ObjectMeta::default()
        };
        let m = Required::new(&meta, "the upgrade");
        assert_eq!(m.name(), Ok("n1"));
        let err = m.uid().unwrap_err();
        assert_eq!(
            err,
            MissingField {
                what: "the upgrade",
                field: ".metadata.uid"
            }
        );
        assert_eq!(
            err.to_string(),
            "failed to plan the upgrade: missing field .metadata.uid"
        );
        assert_eq!(m.namespace().unwrap_err().field, ".metadata.namespace");
    }
}
