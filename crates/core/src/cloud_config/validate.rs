//! The check a declared cloud-config passes before anything runs: a UTF-8 `#cloud-config`
//! YAML document. Pure: no I/O.

/// The header line every cloud-config document starts with.
pub const HEADER: &str = "#cloud-config";

/// The largest document accepted (a Secret or ConfigMap holds at most 1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why `content` is not a cloud-config document: `Ok` when it is UTF-8, at most
/// [`MAX_DOCUMENT_BYTES`], starts with the line `#cloud-config`, and is one YAML document
/// whose top level is a mapping (or empty).
///
/// # Errors
/// A message saying what is wrong, for the `ConfigApplied` condition.
pub fn check(content: &[u8]) -> Result<(), String> {
    if content.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document has {} bytes, more than {MAX_DOCUMENT_BYTES}",
            content.len()
        ));
    }
    let text = std::str::from_utf8(content).map_err(|_| "the document is not UTF-8".to_owned())?;
    let first = text.lines().next().unwrap_or_default();
    if first.trim_end() != HEADER {
        return Err(format!(
            "the first line must be {HEADER:?}, not {:?}",
            first.chars().take(40).collect::<String>()
        ));
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("the document is not valid YAML: {e}"))?;
    match value {
        serde_yaml::Value::Mapping(_) | serde_yaml::Value::Null => Ok(()),
        other => Err(format!(
            "the document's top level must be a mapping, not {}",
            kind(&other)
        )),
    }
}

fn kind(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}
