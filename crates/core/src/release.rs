//! Parsing of `os-release(5)`-style files (`/etc/os-release`, `/etc/kairos-release`) and typed
//! views of them. Pure: takes file contents as `&str`, performs no I/O and never panics.
//!
//! The grammar follows os-release(5), which is a subset of shell variable assignment:
//!
//! - one `KEY=VALUE` assignment per line; keys match `[A-Z0-9_]+`;
//! - blank lines and lines starting with `#` are ignored;
//! - a value is either unquoted (no whitespace, no unescaped `"`, `'`, `$` or `` ` ``; a
//!   backslash escapes the next character), enclosed in double quotes (where `\\`, `\"`, `\$` and
//!   `` \` `` are escapes and any other backslash is kept), or enclosed in single quotes (no
//!   escapes at all);
//! - nothing but whitespace or a `#` comment may follow the closing quote (concatenation of
//!   several quoted strings is not supported, as the man page says);
//! - control characters and U+FFFD (what invalid UTF-8 becomes) are not allowed in values;
//! - values are at most [`MAX_VALUE_LEN`] bytes (no real release file comes close; the bound
//!   keeps reports small).
//!
//! # Guarantees
//!
//! An invalid line becomes a [`LineError`] and is never taken: when the line still names a
//! valid key, that key is dropped from [`ParsedRelease::fields`] altogether, even if an earlier
//! line assigned it, so a malformed `KAIROS_VERSION` can never surface as a (wrong) version.

use std::collections::BTreeMap;
use std::fmt;

use kairos_api::v1alpha1::{KairosInfo, OsInfo};
use serde::{Deserialize, Serialize};

/// The result of parsing one release file: the valid assignments and the invalid lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedRelease {
    /// The valid assignments, by key. When a key is assigned twice, the last assignment wins.
    pub fields: BTreeMap<String, String>,
    /// The lines that could not be parsed, in file order.
    pub errors: Vec<LineError>,
}

/// One line of a release file that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {kind}", key_suffix(.key.as_deref()))]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// The key the line assigns, when the key itself is valid.
    pub key: Option<String>,
    /// What is wrong with the line.
    pub kind: LineErrorKind,
}

fn key_suffix(key: Option<&str>) -> String {
    key.map(|k| format!(" ({k})")).unwrap_or_default()
}

/// What is wrong with a line of a release file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineErrorKind {
    /// The line is neither blank, a comment, nor contains `=`.
    #[error("not a KEY=VALUE assignment")]
    MissingEquals,
    /// The key is empty or has characters outside `[A-Z0-9_]`.
    #[error("invalid key {0:?}: keys are made of A-Z, 0-9 and _")]
    InvalidKey(String),
    /// A quoted value has no closing quote on the same line.
    #[error("unterminated {0} quote")]
    UnterminatedQuote(QuoteStyle),
    /// Something other than whitespace or a comment follows the closing quote.
    #[error("unexpected characters after the closing quote")]
    TrailingCharacters,
    /// An unquoted value contains whitespace or a shell special character.
    #[error("unquoted value contains {0:?}: quote the value")]
    UnquotedSpecial(char),
    /// The value ends with a lone backslash.
    #[error("value ends with a lone backslash")]
    TrailingBackslash,
    /// The value contains a control character or invalid UTF-8.
    #[error("value contains a control character or invalid UTF-8")]
    ControlCharacter,
    /// The value is longer than [`MAX_VALUE_LEN`] bytes.
    #[error("value is {0} bytes long, more than {MAX_VALUE_LEN}")]
    ValueTooLong(usize),
}

/// The longest value [`parse`] accepts, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;

/// How much of an invalid key a [`LineErrorKind::InvalidKey`] keeps, in characters.
const MAX_REPORTED_KEY_CHARS: usize = 64;

/// The two quoting styles of os-release(5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuoteStyle {
    /// `"..."`: backslash escapes `\`, `"`, `$` and `` ` ``.
    Double,
    /// `'...'`: no escapes.
    Single,
}

impl fmt::Display for QuoteStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Double => "double",
            Self::Single => "single",
        })
    }
}

/// Parses the contents of an os-release(5)-style file.
///
/// # Guarantees
///
/// Never panics, whatever the input. Every line is either ignored (blank, comment), taken into
/// [`ParsedRelease::fields`], or reported in [`ParsedRelease::errors`]; see the module
/// documentation for what happens to the key of an invalid line.
pub fn parse(input: &str) -> ParsedRelease {
    let mut fields = BTreeMap::new();
    let mut errors = Vec::new();
    // A key named by an invalid line is never trusted, not even from another line.
    let mut poisoned: Vec<String> = Vec::new();
    for (index, raw) in input.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok((key, value)) => {
                fields.insert(key.to_owned(), value);
            }
            Err((key, kind)) => {
                if let Some(k) = key {
                    poisoned.push(k.to_owned());
                }
                errors.push(LineError {
                    line: index + 1,
                    key: key.map(str::to_owned),
                    kind,
                });
            }
        }
    }
    for key in &poisoned {
        fields.remove(key);
    }
    ParsedRelease { fields, errors }
}

type LineResult<'a> = Result<(&'a str, String), (Option<&'a str>, LineErrorKind)>;

fn parse_line(line: &str) -> LineResult<'_> {
    let Some((key, value)) = line.split_once('=') else {
        return Err((None, LineErrorKind::MissingEquals));
    };
    if !is_valid_key(key) {
        let shown = key.chars().take(MAX_REPORTED_KEY_CHARS).collect();
        return Err((None, LineErrorKind::InvalidKey(shown)));
    }
    match parse_value(value) {
        Ok(v) => Ok((key, v)),
        Err(kind) => Err((Some(key), kind)),
    }
}

/// Whether `key` is a valid release-file key: non-empty, made of `A-Z`, `0-9` and `_`.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_forbidden(c: char) -> bool {
    (c.is_control() && c != '\t') || c == char::REPLACEMENT_CHARACTER
}

fn parse_value(value: &str) -> Result<String, LineErrorKind> {
    let mut chars = value.chars();
    let mut out = String::with_capacity(value.len());
    match value.chars().next() {
        Some('"') => {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(LineErrorKind::UnterminatedQuote(QuoteStyle::Double)),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('\\' | '"' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err(LineErrorKind::UnterminatedQuote(QuoteStyle::Double)),
                    },
                    Some(c) => out.push(c),
                }
            }
            check_rest(chars.as_str())?;
        }
        Some('\'') => {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(LineErrorKind::UnterminatedQuote(QuoteStyle::Single)),
                    Some('\'') => break,
                    Some(c) => out.push(c),
                }
            }
            check_rest(chars.as_str())?;
        }
        _ => {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some(escaped) => out.push(escaped),
                        None => return Err(LineErrorKind::TrailingBackslash),
                    },
                    // A comment may follow an unquoted value after whitespace, as in shell.
                    c if c.is_whitespace() => {
                        let rest = chars.as_str().trim_start();
                        if rest.is_empty() || rest.starts_with('#') {
                            break;
                        }
                        return Err(LineErrorKind::UnquotedSpecial(c));
                    }
                    '"' | '\'' | '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                        return Err(LineErrorKind::UnquotedSpecial(c));
                    }
                    c => out.push(c),
                }
            }
        }
    }
    if out.chars().any(is_forbidden) {
        return Err(LineErrorKind::ControlCharacter);
    }
    if out.len() > MAX_VALUE_LEN {
        return Err(LineErrorKind::ValueTooLong(out.len()));
    }
    Ok(out)
}

fn check_rest(rest: &str) -> Result<(), LineErrorKind> {
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err(LineErrorKind::TrailingCharacters)
    }
}

/// Quotes `value` for a release file: double quotes, with `\`, `"`, `$` and `` ` `` escaped.
/// [`parse`] reads the result back as `value` (when `value` has no control characters).
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Typed view of `/etc/kairos-release` (or, on Kairos releases older than v3, of the `KAIROS_*`
/// keys of `/etc/os-release`). Empty values are treated as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KairosRelease {
    /// `KAIROS_VERSION`, e.g. `v3.6.0`.
    pub version: Option<String>,
    /// `KAIROS_FLAVOR`, e.g. `ubuntu`.
    pub flavor: Option<String>,
    /// `KAIROS_FLAVOR_RELEASE`, e.g. `24.04` or `leap-15.6`.
    pub flavor_release: Option<String>,
    /// `KAIROS_VARIANT`: `core` or `standard`.
    pub variant: Option<String>,
    /// `KAIROS_MODEL`, e.g. `generic` or `rpi4`.
    pub model: Option<String>,
    /// `KAIROS_ARCH`, or `KAIROS_TARGETARCH` when absent, e.g. `amd64`.
    pub arch: Option<String>,
    /// `KAIROS_FAMILY`, e.g. `ubuntu`, `alpine`, `opensuse`.
    pub family: Option<String>,
    /// `KAIROS_SOFTWARE_VERSION`, e.g. `v1.33.1+k3s1`; absent on `core` images.
    pub software_version: Option<String>,
    /// `KAIROS_SOFTWARE_VERSION_PREFIX`: `k3s` or `k0s`; absent on `core` images.
    pub software_version_prefix: Option<String>,
    /// `KAIROS_IMAGE_REPO`, e.g. `quay.io/kairos/ubuntu`.
    pub image_repo: Option<String>,
    /// `KAIROS_IMAGE_LABEL`, the image tag.
    pub image_label: Option<String>,
    /// `KAIROS_RELEASE`, e.g. `v3.6.0`.
    pub release: Option<String>,
    /// `KAIROS_ID`, normally `kairos`.
    pub id: Option<String>,
    /// `KAIROS_ID_LIKE`, e.g. `kairos-standard-ubuntu-24.04`.
    pub id_like: Option<String>,
    /// `KAIROS_NAME`, e.g. `kairos-standard-ubuntu-24.04`.
    pub name: Option<String>,
    /// `KAIROS_INIT_VERSION`: version of the kairos-init that built the image.
    pub init_version: Option<String>,
    /// `KAIROS_BUG_REPORT_URL`.
    pub bug_report_url: Option<String>,
    /// `KAIROS_HOME_URL`.
    pub home_url: Option<String>,
    /// `KAIROS_TRUSTED_BOOT`: `true` or `false`.
    pub trusted_boot: Option<String>,
    /// `KAIROS_FIPS`: `true` or `false`.
    pub fips: Option<String>,
}

/// The `KAIROS_*` keys [`KairosRelease`] reads, in the order of its fields (`KAIROS_ARCH` stands
/// for itself and `KAIROS_TARGETARCH`).
pub const KAIROS_KEYS: [&str; 20] = [
    "KAIROS_VERSION",
    "KAIROS_FLAVOR",
    "KAIROS_FLAVOR_RELEASE",
    "KAIROS_VARIANT",
    "KAIROS_MODEL",
    "KAIROS_ARCH",
    "KAIROS_FAMILY",
    "KAIROS_SOFTWARE_VERSION",
    "KAIROS_SOFTWARE_VERSION_PREFIX",
    "KAIROS_IMAGE_REPO",
    "KAIROS_IMAGE_LABEL",
    "KAIROS_RELEASE",
    "KAIROS_ID",
    "KAIROS_ID_LIKE",
    "KAIROS_NAME",
    "KAIROS_INIT_VERSION",
    "KAIROS_BUG_REPORT_URL",
    "KAIROS_HOME_URL",
    "KAIROS_TRUSTED_BOOT",
    "KAIROS_FIPS",
];

fn field(fields: &BTreeMap<String, String>, key: &str) -> Option<String> {
    fields.get(key).filter(|v| !v.is_empty()).cloned()
}

// === impl KairosRelease ===

impl KairosRelease {
    /// Reads the `KAIROS_*` keys of a parsed release file; other keys are ignored.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Self {
        let f = |key: &str| field(fields, key);
        Self {
            version: f("KAIROS_VERSION"),
            flavor: f("KAIROS_FLAVOR"),
            flavor_release: f("KAIROS_FLAVOR_RELEASE"),
            variant: f("KAIROS_VARIANT"),
            model: f("KAIROS_MODEL"),
            arch: f("KAIROS_ARCH").or_else(|| f("KAIROS_TARGETARCH")),
            family: f("KAIROS_FAMILY"),
            software_version: f("KAIROS_SOFTWARE_VERSION"),
            software_version_prefix: f("KAIROS_SOFTWARE_VERSION_PREFIX"),
            image_repo: f("KAIROS_IMAGE_REPO"),
            image_label: f("KAIROS_IMAGE_LABEL"),
            release: f("KAIROS_RELEASE"),
            id: f("KAIROS_ID"),
            id_like: f("KAIROS_ID_LIKE"),
            name: f("KAIROS_NAME"),
            init_version: f("KAIROS_INIT_VERSION"),
            bug_report_url: f("KAIROS_BUG_REPORT_URL"),
            home_url: f("KAIROS_HOME_URL"),
            trusted_boot: f("KAIROS_TRUSTED_BOOT"),
            fips: f("KAIROS_FIPS"),
        }
    }

    /// Whether any `KAIROS_*` key of [`KAIROS_KEYS`] (or `KAIROS_TARGETARCH`) is set in `fields`.
    pub fn any_in(fields: &BTreeMap<String, String>) -> bool {
        KAIROS_KEYS
            .iter()
            .chain(std::iter::once(&"KAIROS_TARGETARCH"))
            .any(|k| field(fields, k).is_some())
    }

    fn values(&self) -> [&Option<String>; 20] {
        [
            &self.version,
            &self.flavor,
            &self.flavor_release,
            &self.variant,
            &self.model,
            &self.arch,
            &self.family,
            &self.software_version,
            &self.software_version_prefix,
            &self.image_repo,
            &self.image_label,
            &self.release,
            &self.id,
            &self.id_like,
            &self.name,
            &self.init_version,
            &self.bug_report_url,
            &self.home_url,
            &self.trusted_boot,
            &self.fips,
        ]
    }

    /// The set fields as `KAIROS_*` keys, the inverse of [`KairosRelease::from_fields`]
    /// (the architecture is written as `KAIROS_ARCH`).
    pub fn to_fields(&self) -> BTreeMap<String, String> {
        KAIROS_KEYS
            .iter()
            .zip(self.values())
            .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }

    /// The KairosNode status view of this release.
    pub fn to_info(&self) -> KairosInfo {
        KairosInfo {
            version: self.version.clone(),
            flavor: self.flavor.clone(),
            flavor_release: self.flavor_release.clone(),
            variant: self.variant.clone(),
            model: self.model.clone(),
            arch: self.arch.clone(),
            family: self.family.clone(),
            software_version: self.software_version.clone(),
            software_version_prefix: self.software_version_prefix.clone(),
            image_repo: self.image_repo.clone(),
            image_label: self.image_label.clone(),
            release: self.release.clone(),
            id: self.id.clone(),
            trusted_boot: self.trusted_boot.clone(),
            fips: self.fips.clone(),
        }
    }
}

impl From<&KairosRelease> for KairosInfo {
    fn from(release: &KairosRelease) -> Self {
        release.to_info()
    }
}

/// Typed view of `/etc/os-release`: the keys that identify the operating system.
/// Empty values are treated as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsRelease {
    /// `ID`, e.g. `ubuntu`.
    pub id: Option<String>,
    /// `NAME`, e.g. `Ubuntu`.
    pub name: Option<String>,
    /// `VERSION_ID`, e.g. `24.04`.
    pub version_id: Option<String>,
    /// `PRETTY_NAME`, e.g. `Ubuntu 24.04.2 LTS`.
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, e.g. `debian`.
    pub id_like: Option<String>,
}

/// The keys [`OsRelease`] reads, in the order of its fields.
pub const OS_KEYS: [&str; 5] = ["ID", "NAME", "VERSION_ID", "PRETTY_NAME", "ID_LIKE"];

// === impl OsRelease ===

impl OsRelease {
    /// Reads the identifying keys of a parsed os-release file; other keys are ignored.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Self {
        let f = |key: &str| field(fields, key);
        Self {
            id: f("ID"),
            name: f("NAME"),
            version_id: f("VERSION_ID"),
            pretty_name: f("PRETTY_NAME"),
            id_like: f("ID_LIKE"),
        }
    }

    /// The set fields as os-release keys, the inverse of [`OsRelease::from_fields`].
    pub fn to_fields(&self) -> BTreeMap<String, String> {
        let values = [
            &self.id,
            &self.name,
            &self.version_id,
            &self.pretty_name,
            &self.id_like,
        ];
        OS_KEYS
            .iter()
            .zip(values)
            .filter_map(|(k, v)| v.as_ref().map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }

    /// The KairosNode status view of this os-release.
    pub fn to_info(&self) -> OsInfo {
        OsInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            version_id: self.version_id.clone(),
            pretty_name: self.pretty_name.clone(),
        }
    }
}

impl From<&OsRelease> for OsInfo {
    fn from(os: &OsRelease) -> Self {
        os.to_info()
    }
}

/// Whether a node runs Kairos: it has a kairos-release (even a malformed one: the node is Kairos
/// and its report carries the errors), or its os-release `ID` contains `kairos` (Kairos releases
/// older than v3 wrote no kairos-release).
pub fn is_kairos(kairos_release: Option<&KairosRelease>, os: Option<&OsRelease>) -> bool {
    kairos_release.is_some()
        || os
            .and_then(|o| o.id.as_deref())
            .is_some_and(|id| id.to_ascii_lowercase().contains("kairos"))
}

#[cfg(test)]
mod tests;
