//! Quoting for the `sh` scripts the engine's Jobs run. Pure.

/// `text` in single quotes for `sh`: taken literally, a `'` inside closed, escaped and reopened
/// (`'\''`).
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `--source` of an image the node pulls itself: `'oci:<image>'`, quoted.
pub(crate) fn oci_source(image: &str) -> String {
    quote(&format!("oci:{image}"))
}
