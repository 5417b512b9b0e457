//! Short hex digests of text, for derived names and for noticing a change. Pure: no I/O.

use sha2::{Digest, Sha256};

/// First `len` hex digits of the SHA-256 of `parts` joined by NUL bytes.
pub fn short_hash(parts: &[&str], len: usize) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0u8]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    hex[..len.min(hex.len())].to_owned()
}
