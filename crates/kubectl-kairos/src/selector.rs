//! Reads a `-l` label selector as kubectl writes it (`a=b,c!=d,e in (x,y),f notin (z),g,!h`)
//! into the `LabelSelector` a NodeOpUpgrade carries. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kairos_core::k8s_names::is_label_value;

/// Why a selector was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {selector:?}: {problem}")]
pub(crate) struct SelectorError {
    selector: String,
    problem: String,
}

/// Parses `text` into a `LabelSelector`: `k=v` and `k==v` become `matchLabels`; `k!=v`,
/// `k in (..)`, `k notin (..)`, `k` and `!k` become `matchExpressions` (`NotIn`, `In`, `NotIn`,
/// `Exists`, `DoesNotExist`).
///
/// # Errors
/// A [`SelectorError`] naming the requirement that is empty, has an empty key, a value that is
/// not a valid label value, an unclosed or empty set, or two different values for one key.
pub(crate) fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
    let fail = |problem: String| SelectorError {
        selector: text.to_owned(),
        problem,
    };
    let mut labels = BTreeMap::new();
    let mut expressions = Vec::new();
    for part in split_top_level(text).map_err(fail)? {
        let part = part.trim();
        if part.is_empty() {
            return Err(fail("empty requirement".to_owned()));
        }
        let requirement = requirement(part).map_err(fail)?;
        match requirement {
            Requirement::Equals(key, value) => {
                if let Some(old) = labels.insert(key.clone(), value.clone())
                    && old != value
                {
                    return Err(fail(format!("{key} cannot be both {old} and {value}")));
                }
            }
            Requirement::Expression(e) => expressions.push(e),
        }
    }
    Ok(LabelSelector {
        match_labels: (!labels.is_empty()).then_some(labels),
        match_expressions: (!expressions.is_empty()).then_some(expressions),
    })
}

enum Requirement {
    Equals(String, String),
    Expression(LabelSelectorRequirement),
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0u32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced ')'")?,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '('".to_owned());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    let expression = |key: &str, operator: &str, values: Option<Vec<String>>| {
        let key = checked_key(key)?;
        Ok(Requirement::Expression(LabelSelectorRequirement {
            key,
            operator: operator.to_owned(),
            values,
        }))
    };
    if let Some(key) = part.strip_prefix('!') {
        return expression(key, "DoesNotExist", None);
    }
    if let Some((key, value)) = part.split_once("!=") {
        return expression(key, "NotIn", Some(vec![checked_value(value)?]));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(
            checked_key(key)?,
            checked_value(value)?,
        ));
    }
    for (word, operator) in [(" notin ", "NotIn"), (" in ", "In")] {
        if let Some((key, set)) = part.split_once(word) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| format!("{part:?}: the values of {operator} go in parentheses"))?;
            let values = inner
                .split(',')
                .map(checked_value)
                .collect::<Result<Vec<_>, _>>()?;
            if values.iter().all(String::is_empty) {
                return Err(format!("{part:?}: {operator} needs at least one value"));
            }
            return expression(key, operator, Some(values));
        }
    }
    expression(part, "Exists", None)
}

fn checked_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key.len() <= 316
        && !key.contains(char::is_whitespace)
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    if valid {
        Ok(key.to_owned())
    } else {
        Err(format!("{key:?} is not a label key"))
    }
}

fn checked_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    if is_label_value(value) {
        Ok(value.to_owned())
    } else {
        Err(format!("{value:?} is not a label value"))
    }
}

/// The selector as kubectl writes it, for messages (`matchLabels` first, then expressions).
pub(crate) fn display(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.as_deref().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            _ => format!("{} in ({values})", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests;
