//! Derivation of a node's upgrade image from its reported repo and label. Pure: no I/O.
//!
//! Inputs: `KAIROS_IMAGE_REPO`, `KAIROS_IMAGE_LABEL`, `KAIROS_VERSION` and a target version.

use kairos_api::v1alpha1::KairosInfo;

/// Why the upgrade image of a node cannot be derived. Every message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// The node reports no `KAIROS_IMAGE_REPO`.
    #[error(
        "failed to derive the upgrade image: the node reports no KAIROS_IMAGE_REPO; set spec.image"
    )]
    MissingImageRepo,
    /// The node reports no `KAIROS_IMAGE_LABEL`.
    #[error(
        "failed to derive the upgrade image: the node reports no KAIROS_IMAGE_LABEL; set spec.image"
    )]
    MissingImageLabel,
    /// The node reports no `KAIROS_VERSION`, so there is nothing to replace in the label.
    #[error(
        "failed to derive the upgrade image: the node reports no KAIROS_VERSION; set spec.image"
    )]
    MissingVersion,
    /// The reported label does not contain the reported version as a dash-separated field.
    #[error(
        "failed to derive the upgrade image: image label {label:?} does not contain the node's version {version:?}; set spec.image"
    )]
    LabelWithoutVersion {
        /// The reported `KAIROS_IMAGE_LABEL`.
        label: String,
        /// The reported `KAIROS_VERSION`.
        version: String,
    },
    /// The target version cannot be part of an image tag.
    #[error(
        "failed to derive the upgrade image: version {version:?} is not valid in an image tag (letters, digits, '.', '_' and '-' only, at most 128 characters in all); set spec.image"
    )]
    InvalidTag {
        /// The requested version.
        version: String,
    },
}

impl DeriveError {
    /// A bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::MissingImageRepo => "MissingImageRepo",
            Self::MissingImageLabel => "MissingImageLabel",
            Self::MissingVersion => "MissingVersion",
            Self::LabelWithoutVersion { .. } => "LabelWithoutVersion",
            Self::InvalidTag { .. } => "InvalidTag",
        }
    }
}

/// The image `<repo>:<label>` with the node's current version in the label replaced by
/// `target_version`.
///
/// For example repo `quay.io/kairos/ubuntu`, label
/// `24.04-standard-amd64-generic-v3.5.0-k3sv1.32.1-k3s1`, version `v3.5.0` and target `v3.6.0`
/// give `quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.32.1-k3s1`.
///
/// The version is only replaced where it stands as a whole dash-separated field (so `v1.3.0`
/// never matches inside `k3sv1.3.0`); the first such occurrence is replaced. When the label
/// writes versions with a leading `v` and the target has none, one is added (`3.6.0` ->
/// `v3.6.0`), and the other way round.
///
/// # Errors
/// A [`DeriveError`] when the repo, label or version is missing or blank, when the label does
/// not contain the version, or when the resulting tag would not be a valid image tag.
pub fn derive_image(reported: &KairosInfo, target_version: &str) -> Result<String, DeriveError> {
    let repo = non_blank(reported.image_repo.as_deref()).ok_or(DeriveError::MissingImageRepo)?;
    let label = non_blank(reported.image_label.as_deref()).ok_or(DeriveError::MissingImageLabel)?;
    let current = non_blank(reported.version.as_deref()).ok_or(DeriveError::MissingVersion)?;
    let start = find_field(label, current).ok_or_else(|| DeriveError::LabelWithoutVersion {
        label: label.to_owned(),
        version: current.to_owned(),
    })?;
    let target = target_version.trim();
    if super::version::normalize(target).is_none() {
        return Err(DeriveError::InvalidTag {
            version: target_version.to_owned(),
        });
    }
    let target = match (current.starts_with('v'), target.strip_prefix('v')) {
        (true, None) => format!("v{target}"),
        (false, Some(bare)) => bare.to_owned(),
        _ => target.to_owned(),
    };
    let tag = format!(
        "{}{}{}",
        &label[..start],
        target,
        &label[start + current.len()..]
    );
    if !is_valid_tag(&tag) {
        return Err(DeriveError::InvalidTag {
            version: target_version.to_owned(),
        });
    }
    Ok(format!("{repo}:{tag}"))
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Byte offset of the first occurrence of `needle` in `label` that is a whole dash-separated
/// field (preceded by the start or `-`, followed by the end or `-`).
fn find_field(label: &str, needle: &str) -> Option<usize> {
    label.match_indices(needle).map(|(i, _)| i).find(|&i| {
        let before_ok = i == 0 || label[..i].ends_with('-');
        let after_ok =
            label[i + needle.len()..].is_empty() || label[i + needle.len()..].starts_with('-');
        before_ok && after_ok
    })
}

/// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    first_ok
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
