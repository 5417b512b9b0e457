//! Kairos version comparison and extraction from image references. Pure: no I/O.

/// Whether two Kairos versions are the same release.
///
/// # Guarantees
/// - An unknown version (`None`, empty or blank) is never equal to anything, not even to another
///   unknown version: "we do not know" must never read as "up to date".
/// - Surrounding whitespace and one leading `v`/`V` are ignored, so `v3.6.0` equals `3.6.0`.
/// - Everything else is compared exactly (`v3.6.0` differs from `v3.6.0-rc1`).
pub fn versions_equal(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.and_then(normalize), b.and_then(normalize)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The version without surrounding whitespace and without one leading `v`, or `None` when
/// nothing is left.
pub fn normalize(version: &str) -> Option<&str> {
    let v = version.trim();
    let v = v
        .strip_prefix('v')
        .or_else(|| v.strip_prefix('V'))
        .unwrap_or(v);
    (!v.is_empty()).then_some(v)
}

/// The Kairos version carried by a Kairos image tag, with its leading `v`.
///
/// Kairos tags look like `24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1` (the version is
/// the first dash-separated field of the form `vMAJOR.MINOR.PATCH`; a directly following
/// pre-release field such as `rc1`, `beta2` or `alpha1` is kept: `v3.6.0-rc1`) or simply
/// `v3.6.0`. The registry part may carry a port (`localhost:5000/kairos:v3.6.0`) and the
/// reference a digest (`...:v3.6.0@sha256:...`).
///
/// # Guarantees
/// Returns `None` when the reference has no tag or the tag names no version (`latest`, a
/// digest only). Never panics on any input.
pub fn target_version_from_image(image: &str) -> Option<String> {
    let tag = image_tag(image)?;
    let fields: Vec<&str> = tag.split('-').collect();
    let index = fields.iter().position(|f| is_release_field(f))?;
    let mut version = fields[index].to_owned();
    if let Some(next) = fields.get(index + 1).filter(|f| is_prerelease_field(f)) {
        version.push('-');
        version.push_str(next);
    }
    Some(version)
}

/// Whether `version` is a Kairos version as the CRDs accept it
/// ([`KAIROS_VERSION_PATTERN`](kairos_api::names::KAIROS_VERSION_PATTERN)): `MAJOR.MINOR.PATCH`
/// with decimal numbers and an optional leading `v`, optionally followed by `-` and a
/// pre-release (`alpha`, `beta` or `rc`, optionally followed by a number, itself optionally
/// after a `.`: `v3.6.0-rc1`, `v3.6.0-beta.2`). Nothing else, not even surrounding whitespace.
///
/// # Guarantees
/// Accepts exactly what the pattern matches; every version [`target_version_from_image`]
/// returns is accepted. Never panics.
pub fn is_kairos_version(version: &str) -> bool {
    let (release, pre) = match version.split_once('-') {
        Some((release, pre)) => (release, Some(pre)),
        None => (version, None),
    };
    let release = release.strip_prefix('v').unwrap_or(release);
    is_release_numbers(release) && pre.is_none_or(is_prerelease_field)
}

/// `vMAJOR.MINOR.PATCH` with decimal numbers.
fn is_release_field(field: &str) -> bool {
    field.strip_prefix('v').is_some_and(is_release_numbers)
}

/// `MAJOR.MINOR.PATCH` with decimal numbers.
fn is_release_numbers(release: &str) -> bool {
    let parts: Vec<&str> = release.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| is_number(p))
}

/// `alpha`, `beta` or `rc`, optionally followed by a number, itself optionally after a `.`
/// (`rc`, `rc1`, `beta.2`).
fn is_prerelease_field(field: &str) -> bool {
    ["alpha", "beta", "rc"].iter().any(|word| {
        field.strip_prefix(word).is_some_and(|rest| {
            let number = rest.strip_prefix('.').unwrap_or(rest);
            rest.is_empty() || is_number(number)
        })
    })
}

/// One or more ASCII digits.
fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether the image `image` certainly carries the release a node reports (`kairos`): the
/// tag's Kairos version equals `KAIROS_VERSION` and, when the node reports a Kubernetes
/// distribution (`KAIROS_SOFTWARE_VERSION`, e.g. `v1.33.1+k3s1` with prefix `k3s`), the tag
/// names the same one as a whole dash-separated run (`k3sv1.33.1-k3s1` or `k3s-v1.33.1-k3s1`).
///
/// # Guarantees
/// False whenever either side is unknown: it is used to skip nodes, and a node is only skipped
/// when it certainly runs what the image would install. Never panics.
pub fn image_matches_release(image: &str, kairos: &kairos_api::v1alpha1::KairosInfo) -> bool {
    let target = target_version_from_image(image);
    if !versions_equal(kairos.version.as_deref(), target.as_deref()) {
        return false;
    }
    let Some(software) = kairos
        .software_version
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return true;
    };
    let tag = image_tag(image).unwrap_or_default();
    let software = software.replace('+', "-");
    let prefix = kairos
        .software_version_prefix
        .as_deref()
        .unwrap_or_default()
        .trim();
    let forms = [
        format!("{prefix}{software}"),
        format!("{prefix}-{software}"),
    ];
    forms.iter().any(|form| contains_field(tag, form))
}

/// The tag of an image reference, if it has one.
fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or_default();
    let last_component = without_digest.rsplit('/').next().unwrap_or_default();
    last_component.split_once(':').map(|(_, tag)| tag)
}

/// Whether `needle` occurs in `haystack` preceded by the start or `-` and followed by the end
/// or `-`.
fn contains_field(haystack: &str, needle: &str) -> bool {
    !needle.is_empty()
        && haystack.match_indices(needle).any(|(i, _)| {
            let end = i + needle.len();
            (i == 0 || haystack[..i].ends_with('-'))
                && (end == haystack.len() || haystack[end..].starts_with('-'))
        })
}
