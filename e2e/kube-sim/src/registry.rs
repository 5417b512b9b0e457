//! The resource types the simulator serves: the built-in kinds and those registered from CRDs.
//! No I/O.

use std::sync::Arc;

use serde_json::Value;

use super::cel::CelRules;

/// A printer column of a custom resource (`additionalPrinterColumns`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type (`string`, `integer`, `date`, ...).
    pub type_: String,
    /// A simple dotted JSON path such as `.status.phase`.
    pub json_path: String,
    /// Priority (0 = shown by default).
    pub priority: i64,
}

/// One served resource (one group/version/plural).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name (the URL segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether `/status` is a subresource (main writes then ignore `status`).
    pub status_subresource: bool,
    /// Whether `metadata.generation` is maintained.
    pub generation: bool,
    /// Extra subresources beyond `status` (`eviction`, `token`).
    pub extra_subresources: Vec<&'static str>,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories for kubectl.
    pub categories: Vec<String>,
    /// CRD printer columns (empty for built-ins).
    pub printer_columns: Vec<PrinterColumn>,
    /// CRD `openAPIV3Schema` (None for built-ins).
    pub schema: Option<Arc<Value>>,
    /// The schema's CEL rules, compiled when the CRD was registered.
    pub cel: CelRules,
    /// Only `create` is allowed (token and access reviews).
    pub create_only: bool,
}

impl ResourceType {
    /// `apiVersion` string of this type.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Key of the object store: group and plural (versions share storage). The Events of
    /// `events.k8s.io` are the core Events seen through another API, so they share its store.
    pub(crate) fn store_key(&self) -> String {
        let group = if self.group == "events.k8s.io" && self.plural == "events" {
            ""
        } else {
            &self.group
        };
        format!("{group}/{}", self.plural)
    }

    /// Whether this is a custom resource.
    pub(crate) fn is_custom(&self) -> bool {
        self.schema.is_some() || !self.printer_columns.is_empty()
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    status: bool,
    generation: bool,
    extra: &'static [&'static str],
    short: &'static [&'static str],
}

const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    status: bool,
    generation: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        status,
        generation,
        extra: &[],
        short: &[],
    }
}

const BUILTINS: &[Builtin] = &[
    b("", "v1", "Namespace", "namespaces", false, true, false).short(&["ns"]),
    b("", "v1", "Node", "nodes", false, true, false).short(&["no"]),
    b("", "v1", "Pod", "pods", true, true, false)
        .short(&["po"])
        .extra(&["binding", "eviction"]),
    b(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        false,
        false,
    )
    .short(&["sa"])
    .extra(&["token"]),
    b("", "v1", "Secret", "secrets", true, false, false),
    b("", "v1", "ConfigMap", "configmaps", true, false, false).short(&["cm"]),
    b("", "v1", "Event", "events", true, false, false).short(&["ev"]),
    b("", "v1", "Service", "services", true, true, false).short(&["svc"]),
    b("events.k8s.io", "v1", "Event", "events", true, false, false).short(&["ev"]),
    b("batch", "v1", "Job", "jobs", true, true, true),
    b(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        true,
        true,
    )
    .short(&["pdb"]),
    b(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        false,
        false,
    ),
    b("apps", "v1", "DaemonSet", "daemonsets", true, true, true).short(&["ds"]),
    b("apps", "v1", "Deployment", "deployments", true, true, true).short(&["deploy"]),
    b(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        false,
        false,
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        false,
        false,
    ),
    b(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
        false,
        false,
    ),
    b(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        true,
        true,
    )
    .short(&["crd", "crds"]),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        false,
        false,
    ),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        false,
        false,
    ),
    // Stored only: the simulator evaluates no admission policy.
    b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
        true,
        true,
    ),
    b(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
        false,
        true,
    ),
];

impl Builtin {
    const fn short(mut self, s: &'static [&'static str]) -> Self {
        self.short = s;
        self
    }
    const fn extra(mut self, e: &'static [&'static str]) -> Self {
        self.extra = e;
        self
    }
}

/// The built-in resource types.
pub(crate) fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.into(),
            version: b.version.into(),
            kind: b.kind.into(),
            plural: b.plural.into(),
            singular: b.kind.to_lowercase(),
            namespaced: b.namespaced,
            status_subresource: b.status,
            generation: b.generation,
            extra_subresources: b.extra.to_vec(),
            short_names: b.short.iter().map(|s| s.to_string()).collect(),
            // The real `all` category (of the kinds served here).
            categories: if matches!(
                b.plural,
                "pods" | "services" | "daemonsets" | "deployments" | "jobs"
            ) {
                vec!["all".into()]
            } else {
                vec![]
            },
            printer_columns: vec![],
            schema: None,
            cel: CelRules::default(),
            create_only: matches!(
                b.plural,
                "tokenreviews" | "selfsubjectaccessreviews" | "subjectaccessreviews"
            ),
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types (one per served version) of a `CustomResourceDefinition` object.
pub(crate) fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    let singular = names["singular"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut out = vec![];
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let cols = v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: c["name"].as_str().unwrap_or_default().into(),
                type_: c["type"].as_str().unwrap_or("string").into(),
                json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                priority: c["priority"].as_i64().unwrap_or(0),
            })
            .collect();
        out.push(ResourceType {
            group: group.into(),
            version: v["name"].as_str().unwrap_or_default().into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            status_subresource: v["subresources"].get("status").is_some(),
            generation: true,
            extra_subresources: vec![],
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            printer_columns: cols,
            schema: Some(Arc::new(v["schema"]["openAPIV3Schema"].clone())),
            cel: CelRules::compile(&v["schema"]["openAPIV3Schema"]),
            create_only: false,
        });
    }
    out
}

/// The set of served types: built-ins plus registered CRDs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// A registry holding the built-in types.
    pub(crate) fn with_builtins() -> Self {
        Self { types: builtins() }
    }

    /// Registers (or replaces) the versions of a CRD.
    pub(crate) fn register_crd(&mut self, crd: &Value) {
        let new = from_crd(crd);
        if let Some(first) = new.first() {
            let (g, p) = (first.group.clone(), first.plural.clone());
            self.types.retain(|t| !(t.group == g && t.plural == p));
        }
        self.types.extend(new);
    }

    /// Removes the versions of a CRD.
    pub(crate) fn unregister(&mut self, group: &str, plural: &str) {
        self.types
            .retain(|t| !(t.group == group && t.plural == plural));
    }

    /// Finds a type by group, version and plural.
    pub(crate) fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// All served types.
    pub(crate) fn all(&self) -> &[ResourceType] {
        &self.types
    }
}

impl Registry {
    /// Finds a type by its store key (`group/plural`).
    pub(crate) fn by_store_key(&self, key: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.store_key() == key)
    }
}

#[cfg(test)]
mod tests;
