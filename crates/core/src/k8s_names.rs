//! Kubernetes names, labels and annotations: the validity rules of object names (DNS-1123
//! labels and subdomains), label keys and label values, the one sanitiser of label values, the one
//! generator of object names, label selector matching, and reading an annotation. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::hash::short_hash;

/// Longest label value.
pub const MAX_LABEL_VALUE_LEN: usize = 63;
/// Longest DNS-1123 label (the names of Jobs, pods and most objects that name a host).
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Longest DNS-1123 subdomain (the names of most other objects).
pub const MAX_DNS_SUBDOMAIN_LEN: usize = 253;

/// Longest readable head [`label_value`] keeps of a value it must change.
const LABEL_HEAD_LEN: usize = 50;
/// Hex digits of the hash [`label_value`] appends to a value it changed.
const LABEL_HASH_LEN: usize = 8;

/// Whether `value` is a valid label value: empty, or at most 63 characters of
/// `[A-Za-z0-9._-]` beginning and ending with a letter or digit.
pub fn is_label_value(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() <= MAX_LABEL_VALUE_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_none_or(u8::is_ascii_alphanumeric)
        && b.last().is_none_or(u8::is_ascii_alphanumeric)
}

/// Whether `key` is a valid label key (a qualified name): a name of at most 63 characters of
/// `[A-Za-z0-9._-]` beginning and ending with a letter or digit, optionally after a DNS-1123
/// subdomain prefix and `/` (`app`, `kairos.io/version`).
pub fn is_label_key(key: &str) -> bool {
    let (prefix, name) = key
        .split_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    !name.is_empty() && is_label_value(name) && prefix.is_none_or(is_dns_subdomain)
}

/// Whether `name` is a DNS-1123 label: at most 63 lower-case letters, digits and `-`,
/// beginning and ending with a letter or digit.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= MAX_DNS_LABEL_LEN && is_label_part(name)
}

/// Whether `name` is a DNS-1123 subdomain: at most 253 characters of DNS-1123 label parts
/// joined by `.`.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= MAX_DNS_SUBDOMAIN_LEN && name.split('.').all(is_label_part)
}

/// Lower-case letters, digits and `-`, beginning and ending with a letter or digit (any length).
fn is_label_part(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A valid label value standing for `value`, for labels that find objects again (selectors
/// compare them with this function's result).
///
/// # Guarantees
/// - A valid label value is returned unchanged (see [`is_label_value`]).
/// - Anything else becomes its first 50 characters of `[A-Za-z0-9._-]` (without non-alphanumeric
///   ends), `-`, and 8 hex digits of its SHA-256: always valid, and distinct values stay
///   distinct (but for hash collisions).
pub fn label_value(value: &str) -> String {
    if is_label_value(value) {
        return value.to_owned();
    }
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(LABEL_HEAD_LEN)
        .collect();
    let head = kept.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let hash = short_hash(&[value], LABEL_HASH_LEN);
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// A DNS-1123 label naming an object after the readable `parts`, ending in `tag`:
/// `<part>-<part>-...-<tag>`.
///
/// Each part is lower-cased, every run of characters other than ASCII letters and digits
/// becomes one `-` (none at either end), and it is cut to its share of the room `tag` leaves in
/// 63 characters: each part at most an even share of what the parts before it left, so the
/// last part takes what the others did not use. Parts left empty are dropped. `tag` is kept
/// whole: it is what keeps names distinct when parts are cut, so it is usually a short hash of
/// everything that identifies the object, and must itself be a short DNS-1123 label.
///
/// # Guarantees
/// For any `parts` and a non-empty DNS-1123 label `tag` of at most `62 - parts.len()`
/// characters, the result is a DNS-1123 label that ends with `tag`; the same inputs always
/// give the same name.
pub fn object_name(parts: &[&str], tag: &str) -> String {
    let room = MAX_DNS_LABEL_LEN.saturating_sub(tag.len() + parts.len());
    let mut used = 0;
    let mut words = Vec::with_capacity(parts.len() + 1);
    for (i, part) in parts.iter().enumerate() {
        let share = (room - used) / (parts.len() - i);
        let word = truncate(&dns_label(part), share);
        used += word.len();
        words.push(word);
    }
    words.push(tag.to_owned());
    words.retain(|w| !w.is_empty());
    words.join("-")
}

/// Lower-case letters, digits and single dashes, no dash at either end.
fn dns_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// At most `max` characters of an ASCII label, without a trailing dash.
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned()
}

/// The value of the annotation `key` of an object, if it has one.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// What is wrong with a `matchExpressions` requirement of a label selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectorProblem {
    /// `In` or `NotIn` without values.
    NeedsValues,
    /// `Exists` or `DoesNotExist` with values.
    TakesNoValues,
    /// An operator label selectors do not have.
    UnknownOperator,
}

/// An invalid `matchExpressions` requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.key, .operator, *.problem))]
pub struct SelectorError {
    /// The requirement's key.
    pub key: String,
    /// The requirement's operator.
    pub operator: String,
    /// What is wrong with it.
    pub problem: SelectorProblem,
}

fn describe(key: &str, operator: &str, problem: SelectorProblem) -> String {
    match problem {
        SelectorProblem::NeedsValues => format!("operator {operator} on key {key:?} needs values"),
        SelectorProblem::TakesNoValues => {
            format!("operator {operator} on key {key:?} takes no values")
        }
        SelectorProblem::UnknownOperator => {
            format!("unknown operator {operator:?} on key {key:?}")
        }
    }
}

/// Whether `labels` match `selector`, with Kubernetes semantics: every `matchLabels` pair and
/// every `matchExpressions` requirement must hold, and an empty selector matches everything.
///
/// # Errors
/// [`SelectorError`] for the first requirement that apimachinery's `LabelSelectorAsSelector`
/// refuses, whatever the labels: `In`/`NotIn` without values, `Exists`/`DoesNotExist` with
/// values, or an unknown operator.
pub fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    let mut all = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        let invalid = |problem| SelectorError {
            key: req.key.clone(),
            operator: req.operator.clone(),
            problem,
        };
        let holds = match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(invalid(SelectorProblem::NeedsValues));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(invalid(SelectorProblem::TakesNoValues));
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => return Err(invalid(SelectorProblem::UnknownOperator)),
        };
        all &= holds;
    }
    Ok(all)
}

#[cfg(test)]
mod tests;
