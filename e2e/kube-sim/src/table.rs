//! Server-side `Table` output (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) as kubectl
//! requests it: CRD `additionalPrinterColumns`, node and pod columns, NAME/AGE otherwise. Reads the
//! clock only.

use serde_json::{Value, json};

use super::registry::ResourceType;

/// A Kubernetes-style short age (`45s`, `3m20s`, `5h`, `2d3h`).
pub(crate) fn human_age(ts: &str) -> Value {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return Value::Null;
    };
    let s = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let out = match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10800 => format!("{}m", s / 60),
        10800..28800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        28800..172800 => format!("{}h", s / 3600),
        172800..691200 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        _ => format!("{}d", s / 86400),
    };
    json!(out)
}

/// Value at a simple dotted JSON path such as `.status.phase` (no filters or wildcards); `\.`
/// is a dot inside a field name, as in `.metadata.labels.example\.com/name`.
fn at_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = path.trim_start_matches('.').chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            '.' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
        .iter()
        .filter(|s| !s.is_empty())
        .fold(obj, |cur, k| &cur[k.as_str()])
}

fn node_cells(o: &Value) -> Vec<Value> {
    let ready = o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let mut status = match ready.map(|c| c["status"].as_str().unwrap_or_default()) {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
        .collect();
    roles.sort();
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };
    vec![
        json!(status),
        json!(roles),
        human_age(
            o["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or_default(),
        ),
        o["status"]["nodeInfo"]["kubeletVersion"].clone(),
    ]
}

/// Builds a `Table` of `items`; `include` is `includeObject` (`None`, `Metadata` or `Object`).
pub(crate) fn table(rt: &ResourceType, items: &[Value], rv: &str, include: &str) -> Value {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    let kind = (rt.group.as_str(), rt.plural.as_str());
    if !rt.printer_columns.is_empty() {
        for c in &rt.printer_columns {
            cols.push(json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority}));
        }
    } else if kind == ("", "nodes") {
        for n in ["Status", "Roles", "Age", "Version"] {
            cols.push(json!({"name": n, "type": "string", "format": "", "description": "", "priority": 0}));
        }
    } else if kind == ("", "pods") {
        for n in ["Status", "Node", "Age"] {
            cols.push(json!({"name": n, "type": "string", "format": "", "description": "", "priority": 0}));
        }
    } else {
        cols.push(
            json!({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0}),
        );
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            if !rt.printer_columns.is_empty() {
                for c in &rt.printer_columns {
                    let v = at_path(o, &c.json_path);
                    cells.push(if c.type_ == "date" { human_age(v.as_str().unwrap_or_default()) } else { v.clone() });
                }
            } else if kind == ("", "nodes") {
                cells.extend(node_cells(o));
            } else if kind == ("", "pods") {
                let status = if o["metadata"]["deletionTimestamp"].is_null() { o["status"]["phase"].clone() } else { json!("Terminating") };
                cells.extend([status, o["spec"]["nodeName"].clone(), human_age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default())]);
            } else {
                cells.push(human_age(o["metadata"]["creationTimestamp"].as_str().unwrap_or_default()));
            }
            let mut row = json!({"cells": cells});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "columnDefinitions": cols, "rows": rows})
}

#[cfg(test)]
mod tests;
