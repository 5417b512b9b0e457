//! Test support: loads the generated CRDs from `deploy/crds/` (what `kubectl apply -k` installs)
//! and validates objects against them the way the API server does: structural schema (with
//! unknown fields refused), defaults, then the CEL rules. Reads files: test-only I/O.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use kube::core::cel::{Validator, apply_defaults};
use serde_json::{Map, Value, json};

/// The repository root (two levels above this crate).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `CustomResourceDefinition` in `deploy/crds/*.yaml`, parsed, with the file it came from.
pub(crate) fn load_crds() -> Vec<(PathBuf, Value)> {
    let dir = repo_root().join("deploy/crds");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    let mut crds = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let value: Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        if value["kind"] == "CustomResourceDefinition" {
            crds.push((path, value));
        }
    }
    assert!(!crds.is_empty(), "no CRD found in {}", dir.display());
    crds
}

/// The generated CRD defining `kind`, e.g. `"NodeOp"`.
pub(crate) fn crd_for_kind(kind: &str) -> Value {
    load_crds()
        .into_iter()
        .map(|(_, crd)| crd)
        .find(|crd| crd["spec"]["names"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind} in deploy/crds"))
}

/// The generated CRDs as validators, one per served version.
pub(crate) struct Schemas {
    entries: Vec<Entry>,
}

struct Entry {
    api_version: String,
    kind: String,
    /// `openAPIV3Schema` exactly as generated (for defaults and CEL).
    schema: Value,
    /// The same schema made strict JSON Schema (draft 4) for the structural check.
    structural: jsonschema::Validator,
}

impl Schemas {
    /// Loads every CRD of `deploy/crds`.
    pub(crate) fn load() -> Self {
        let mut entries = Vec::new();
        for (path, crd) in load_crds() {
            let group = crd["spec"]["group"].as_str().expect("spec.group");
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .expect("spec.names.kind");
            let versions = crd["spec"]["versions"].as_array().expect("spec.versions");
            for version in versions {
                let name = version["name"].as_str().expect("version name");
                let schema = version["schema"]["openAPIV3Schema"].clone();
                assert!(
                    schema.is_object(),
                    "{}: version {name} has no openAPIV3Schema",
                    path.display()
                );
                let mut strict = to_strict_json_schema(&schema);
                // The API server always allows the object's own header at the root, whether or
                // not the schema lists it (kube-derive lists only `spec` and `status`).
                if let Some(Value::Object(props)) = strict.get_mut("properties") {
                    for (field, field_schema) in [
                        ("apiVersion", json!({ "type": "string" })),
                        ("kind", json!({ "type": "string" })),
                        ("metadata", json!({ "type": "object" })),
                    ] {
                        props.entry(field).or_insert(field_schema);
                    }
                }
                let structural = jsonschema::draft4::options()
                    .build(&strict)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{}: schema of {name} is not JSON Schema: {e}",
                            path.display()
                        )
                    });
                entries.push(Entry {
                    api_version: format!("{group}/{name}"),
                    kind: kind.to_owned(),
                    schema,
                    structural,
                });
            }
        }
        Self { entries }
    }

    /// Validates `object` as the API server would on create: the structural schema with unknown
    /// fields refused, the schema defaults, then the CEL rules (`x-kubernetes-validations`).
    /// Every error names the offending field (`spec.concurrency: ...`).
    pub(crate) fn validate(&self, object: &Value) -> Result<(), Vec<String>> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(entry) = self
            .entries
            .iter()
            .find(|e| e.api_version == api_version && e.kind == kind)
        else {
            return Err(vec![format!(
                "no CRD in deploy/crds serves kind {kind:?} in apiVersion {api_version:?}"
            )]);
        };

        // The API server defaults before it validates; so do we.
        let defaulted = apply_defaults(&entry.schema, object);
        let mut errors: Vec<String> = entry
            .structural
            .iter_errors(&defaulted)
            .map(|e| format!("{}: {e}", dotted(e.instance_path().as_str())))
            .collect();
        // CEL rules run only on a structurally valid object, as in the API server.
        if errors.is_empty()
            && let Err(cel) = Validator::new().validate(&entry.schema, object, None)
        {
            errors.extend(cel.as_slice().iter().map(|e| e.to_string()));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// `/spec/drainOptions/enabled` -> `spec.drainOptions.enabled` (`<root>` for the object itself).
fn dotted(pointer: &str) -> String {
    if pointer.is_empty() {
        return "<root>".to_owned();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Turns a Kubernetes structural schema into a JSON Schema (draft 4) that refuses what the API
/// server refuses:
/// - `nullable: true` allows `null` (added to `type` and to `enum`); without it, `null` is refused;
/// - an object that lists `properties` refuses any other field (`additionalProperties: false`),
///   unless it says `x-kubernetes-preserve-unknown-fields` or has its own `additionalProperties`:
///   the API server would reject such a field (`kubectl` validates strictly) or prune it, and a
///   typo pruned silently is worse than an error;
/// - `x-kubernetes-int-or-string` accepts an integer or a string.
///
/// Other `x-kubernetes-*` keys are not JSON Schema and are ignored by the validator (the CEL rules
/// are evaluated separately, on the original schema).
pub(crate) fn to_strict_json_schema(schema: &Value) -> Value {
    let Value::Object(node) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in node {
        let translated = match key.as_str() {
            "properties" | "patternProperties" | "definitions" => match value {
                Value::Object(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, sub)| (name.clone(), to_strict_json_schema(sub)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" => to_strict_json_schema(value),
            "anyOf" | "allOf" | "oneOf" => match value {
                Value::Array(subs) => {
                    Value::Array(subs.iter().map(to_strict_json_schema).collect())
                }
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), translated);
    }

    let flag = |name: &str| node.get(name).and_then(Value::as_bool).unwrap_or(false);
    if flag("nullable") {
        if let Some(Value::String(t)) = node.get("type") {
            out.insert("type".to_owned(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    if flag("x-kubernetes-int-or-string") && !node.contains_key("anyOf") {
        out.insert(
            "anyOf".to_owned(),
            json!([{ "type": "integer" }, { "type": "string" }]),
        );
    }
    if node.contains_key("properties")
        && !flag("x-kubernetes-preserve-unknown-fields")
        && !node.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    Value::Object(out)
}
