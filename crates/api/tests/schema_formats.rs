//! The generated CRD schemas use only `format`s the Kubernetes API server knows, so applying the
//! CRDs prints no `unrecognized format` warning and the server checks the ranges it implies
//! (an integer field always says `int32` or `int64`). Reads the generated files only.

use std::path::Path;

use serde_json::Value;

/// The formats of the API server's OpenAPI validation (k8s.io/kube-openapi `strfmt` defaults
/// plus the integer and number formats) that this project may use.
const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "date",
    "date-time",
    "duration",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "password",
    "binary",
];

fn walk(path: &str, v: &Value, problems: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(f) = m.get("format").and_then(Value::as_str)
                && !KNOWN_FORMATS.contains(&f)
            {
                problems.push(format!(
                    "{path}: format {f:?} is not one the API server knows"
                ));
            }
            if m.get("type").and_then(Value::as_str) == Some("integer")
                && !matches!(
                    m.get("format").and_then(Value::as_str),
                    Some("int32" | "int64")
                )
            {
                problems.push(format!("{path}: an integer without format int32 or int64"));
            }
            for (k, child) in m {
                walk(&format!("{path}.{k}"), child, problems);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                walk(&format!("{path}[{i}]"), child, problems);
            }
        }
        _ => {}
    }
}

#[test]
fn every_schema_format_is_known_to_the_api_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let mut problems = vec![];
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("deploy/crds") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".operator.kairos.io.yaml") {
            continue;
        }
        files += 1;
        let crd: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("YAML");
        for (i, v) in crd["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(&format!("{name}[{i}]"), &v["schema"], &mut problems);
        }
    }
    assert_eq!(files, kairos_api::crds().len(), "every CRD");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_an_unknown_format() {
    let mut problems = vec![];
    walk(
        "x",
        &serde_json::json!({"properties": {"a": {"type": "integer", "format": "uint32"}}}),
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}
