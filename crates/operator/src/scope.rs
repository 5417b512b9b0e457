//! Which namespaces' `NodeOp`s and `NodeOpUpgrade`s the operator acts on
//! (`--operation-namespaces`). Pure: no I/O.
//!
//! Decision: the operator's own namespace is always allowed, whatever the flag says: the
//! `NodeOp`s of per-node upgrades (`KairosNode.spec.version`) are created there, and an operator
//! that refused its own work would be a misconfiguration nobody asked for. The `NodeOp` of a
//! `NodeOpUpgrade` is created in the upgrade's namespace, so it is allowed whenever its upgrade
//! is.

use std::collections::BTreeSet;

/// The namespaces the operator acts on: all, or a set that includes its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OperationNamespaces {
    /// `None`: every namespace.
    only: Option<BTreeSet<String>>,
}

impl OperationNamespaces {
    /// From the flag's values (blank entries ignored; none at all means every namespace) and
    /// the operator's own namespace, which is always included.
    pub(crate) fn new(listed: &[String], operator_namespace: &str) -> Self {
        let mut only: BTreeSet<String> = listed
            .iter()
            .map(|ns| ns.trim())
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned)
            .collect();
        if only.is_empty() {
            return Self { only: None };
        }
        only.insert(operator_namespace.to_owned());
        Self { only: Some(only) }
    }

    /// Whether the operator acts on objects in `namespace`.
    pub(crate) fn allows(&self, namespace: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.contains(namespace))
    }
}

impl std::fmt::Display for OperationNamespaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.only {
            None => f.write_str("all namespaces"),
            Some(only) => {
                let names: Vec<&str> = only.iter().map(String::as_str).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_list_allows_every_namespace() {
        for listed in [list(&[]), list(&[""]), list(&[" ", ""])] {
            let scope = OperationNamespaces::new(&listed, "kairos-system");
            assert!(scope.allows("anything"), "{listed:?}");
            assert_eq!(scope.to_string(), "all namespaces");
        }
    }

    #[test]
    fn a_list_allows_its_namespaces_and_the_operators_own() {
        let scope = OperationNamespaces::new(&list(&["ops", " maintenance "]), "kairos-system");
        assert!(scope.allows("ops"));
        assert!(scope.allows("maintenance"));
        assert!(
            scope.allows("kairos-system"),
            "per-node upgrades live there"
        );
        assert!(!scope.allows("default"));
        assert!(!scope.allows("op"), "whole names only");
        assert_eq!(scope.to_string(), "kairos-system, maintenance, ops");
    }
}
