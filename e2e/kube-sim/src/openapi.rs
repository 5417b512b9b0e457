//! OpenAPI v3 documents for every served group-version (`/openapi/v3`,
//! `/openapi/v3/apis/<group>/<version>` and `/openapi/v3/api/v1`): custom kinds with their CRD
//! schemas (enough for `kubectl explain`), built-in kinds with an open schema. Either way kubectl
//! sees that the server validates fields (`fieldValidation`), so it leaves validation to the
//! server, as with a real one. No I/O.

use serde_json::{Map, Value, json};

use super::registry::{Registry, ResourceType};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn group_versions(reg: &Registry) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for t in reg.all() {
        let gv = (t.group.clone(), t.version.clone());
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out
}

/// `/openapi/v3`: the discovery document listing the served group-version documents.
pub(crate) fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (g, v) in group_versions(reg) {
        let path = prefix(&g, &v);
        paths.insert(
            path.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash=kube-sim")}),
        );
    }
    json!({"paths": paths})
}

/// The path of a group-version (`api/v1` for the core group, else `apis/<group>/<version>`).
fn prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The schema name of a kind (`io.kairos.operator.v1alpha1.NodeOp`, `io.k8s.api.core.v1.Pod`).
fn schema_name(t: &ResourceType) -> String {
    if !t.is_custom() {
        let group = t
            .group
            .split('.')
            .next()
            .filter(|g| !g.is_empty())
            .unwrap_or("core");
        return format!("io.k8s.api.{group}.{}.{}", t.version, t.kind);
    }
    let reversed: Vec<&str> = t.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), t.version, t.kind)
}

fn operation(t: &ResourceType, patch: bool) -> Value {
    let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let mut op = json!({
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", schema_name(t))}}}}},
    });
    if patch {
        // Strategic merge patch for built-in kinds only: kubectl sends a merge patch to custom ones.
        op["requestBody"] = json!({"content": {
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
        }});
        if !t.is_custom() {
            op["requestBody"]["content"]["application/strategic-merge-patch+json"] =
                json!({"schema": {"type": "object"}});
        }
    }
    op
}

/// `/openapi/v3/apis/<group>/<version>` (`group` empty: `/openapi/v3/api/<version>`), or None
/// for group-versions that are not served.
pub(crate) fn group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = reg
        .all()
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if types.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for t in types {
        let ns = if t.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let gv = prefix(group, version);
        paths.insert(
            format!("/{gv}/{ns}{}/{{name}}", t.plural),
            json!({"get": operation(t, false), "put": operation(t, false), "patch": operation(t, true)}),
        );
        paths.insert(
            format!("/{gv}/{ns}{}", t.plural),
            json!({"post": operation(t, false)}),
        );
        let mut s = match &t.schema {
            Some(s) => Value::clone(s),
            None if t.is_custom() => json!({"type": "object"}),
            // Built-in kinds: an open schema (the simulator knows their fields, not their docs).
            None => {
                json!({"type": "object", "properties": {}, "x-kubernetes-preserve-unknown-fields": true})
            }
        };
        if let Some(props) = s["properties"].as_object_mut() {
            props.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            props.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            props.insert("metadata".into(), json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "description": "Standard object's metadata."}));
        }
        s["x-kubernetes-group-version-kind"] =
            json!([{"group": t.group, "version": t.version, "kind": t.kind}]);
        schemas.insert(schema_name(t), s);
    }
    schemas.insert(
        OBJECT_META.into(),
        json!({"type": "object", "description": "ObjectMeta is metadata that all persisted resources must have.",
            "properties": {
                "name": {"type": "string", "description": "Name must be unique within a namespace."},
                "namespace": {"type": "string", "description": "Namespace defines the space within which each name must be unique."},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values that can be used to organize and categorize objects."},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Annotations is an unstructured key value map."},
                "generateName": {"type": "string", "description": "An optional prefix used by the server to generate a unique name."},
                "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Must be empty before the object is deleted from the registry."},
                "uid": {"type": "string", "description": "UID is the unique in time and space value for this object."},
                "resourceVersion": {"type": "string", "description": "An opaque value that represents the internal version of this object."},
                "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
                "creationTimestamp": {"type": "string", "format": "date-time", "description": "Time the object was created."},
                "deletionTimestamp": {"type": "string", "format": "date-time", "description": "Time at which this resource will be deleted."},
            }}),
    );
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

#[cfg(test)]
mod tests;
