//! Matching of a Kubernetes `LabelSelector` against a node's labels. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` satisfy `selector` (Kubernetes semantics: every `matchLabels` pair and every
/// `matchExpressions` requirement must hold; an empty selector matches everything).
///
/// # Errors
/// A message naming the requirement when an operator is unknown or its `values` are malformed
/// (`In`/`NotIn` need values, `Exists`/`DoesNotExist` take none).
pub(crate) fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let mut all = labels_ok;
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let value = labels.get(&req.key);
        let ok = match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "invalid nodeSelector: operator {} on key {:?} needs values",
                    req.operator, req.key
                ));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!(
                    "invalid nodeSelector: operator {} on key {:?} takes no values",
                    req.operator, req.key
                ));
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => {
                return Err(format!(
                    "invalid nodeSelector: unknown operator {other:?} on key {:?}",
                    req.key
                ));
            }
        };
        all &= ok;
    }
    Ok(all)
}
