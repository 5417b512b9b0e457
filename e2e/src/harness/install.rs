//! The operator as installed: renders the Kustomize tree `deploy/default` (the subset of
//! Kustomize it uses: `resources`, `namespace`, `labels`, `images`), applies its identities and
//! permissions (ServiceAccounts, Roles, ClusterRoles, bindings, admission policies) to the
//! backend, and writes kubeconfigs that authenticate as a service account with a token from the
//! TokenRequest API, so the operator runs with exactly the rights it ships with. Does file and API
//! I/O.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::Cluster;

pub use super::cluster::INSTALL_NAMESPACE;

/// The field manager of the harness's install.
const MANAGER: &str = "kairos-e2e-install";

/// Kinds that make up the operator's identity and permissions: what the harness applies. The
/// workloads (Deployment, DaemonSet, Service) are left out: the tests run the binaries as
/// processes, and no controller would run those pods anyway.
pub const IDENTITY_KINDS: &[&str] = &[
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

/// `deploy/default` of this repository.
pub fn default_install_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/default")
}

/// Renders the Kustomize directory `dir` into its objects, in order, as `kubectl kustomize`
/// would for the features this repository's tree uses (anything else in a kustomization is an
/// error, so the rendering cannot silently drift from Kustomize's).
pub fn render(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let file = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let k: Value = serde_yaml::from_str(&text)
        .with_context(|| format!("failed to parse {}", file.display()))?;
    let known = [
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
    ];
    if let Some(extra) = k
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .find(|key| !known.contains(&key.as_str()))
    {
        anyhow::bail!(
            "{}: unsupported kustomization field {extra:?}",
            file.display()
        );
    }
    let mut out = vec![];
    for r in k["resources"].as_array().into_iter().flatten() {
        let r = r.as_str().context("a resource entry is not a string")?;
        let path = dir.join(r);
        if path.is_dir() {
            out.extend(render(&path)?);
        } else {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .with_context(|| format!("failed to parse {}", path.display()))?;
                if !v.is_null() {
                    out.push(v);
                }
            }
        }
    }
    if let Some(ns) = k["namespace"].as_str() {
        out.iter_mut().for_each(|o| set_namespace(o, ns));
    }
    for l in k["labels"].as_array().into_iter().flatten() {
        let templates = l["includeTemplates"].as_bool().unwrap_or(false);
        for (key, value) in l["pairs"].as_object().into_iter().flatten() {
            for o in &mut out {
                o["metadata"]["labels"][key] = value.clone();
                if templates && o["spec"]["template"].is_object() {
                    o["spec"]["template"]["metadata"]["labels"][key] = value.clone();
                }
            }
        }
    }
    for img in k["images"].as_array().into_iter().flatten() {
        let (Some(name), Some(tag)) = (img["name"].as_str(), img["newTag"].as_str()) else {
            anyhow::bail!("{}: an image needs name and newTag", file.display());
        };
        for o in &mut out {
            set_image_tag(o, name, tag);
        }
    }
    Ok(out)
}

/// Kinds whose objects have no namespace (of those the install tree holds).
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
    )
}

/// Kustomize's namespace transformer: namespaced objects move to `ns`, and so do the service
/// accounts that bindings name in the namespace they moved from.
fn set_namespace(o: &mut Value, ns: &str) {
    let kind = o["kind"].as_str().unwrap_or_default().to_owned();
    if kind == "RoleBinding" || kind == "ClusterRoleBinding" {
        let from = o["metadata"]["namespace"].as_str().map(str::to_owned);
        for s in o["subjects"].as_array_mut().into_iter().flatten() {
            if s["kind"] == "ServiceAccount"
                && (s["namespace"].as_str() == from.as_deref()
                    || s["namespace"] == INSTALL_NAMESPACE)
            {
                s["namespace"] = json!(ns);
            }
        }
    }
    if !cluster_scoped(&kind) {
        o["metadata"]["namespace"] = json!(ns);
    }
}

fn set_image_tag(o: &mut Value, name: &str, tag: &str) {
    let Some(spec) = o.pointer_mut("/spec/template/spec") else {
        return;
    };
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let image = c["image"].as_str().unwrap_or_default();
            if image == name || image.split_once(':').is_some_and(|(n, _)| n == name) {
                c["image"] = json!(format!("{name}:{tag}"));
            }
        }
    }
}

/// The identity and permission objects of the install tree, moved to namespace `ns`.
pub fn identity_objects(ns: &str) -> anyhow::Result<Vec<Value>> {
    let mut objs = render(&default_install_dir())?;
    objs.retain(|o| IDENTITY_KINDS.contains(&o["kind"].as_str().unwrap_or_default()));
    if ns != INSTALL_NAMESPACE {
        for o in &mut objs {
            if o["kind"] == "Namespace" {
                o["metadata"]["name"] = json!(ns);
            }
            set_namespace(o, ns);
        }
    }
    Ok(objs)
}

impl Cluster {
    /// Applies the install tree's identities and permissions with the operator in namespace `ns`
    /// (server-side apply as admin; idempotent).
    pub async fn install_permissions(&self, ns: &str) -> anyhow::Result<()> {
        self.install_permissions_with(ns, |_| {}).await
    }

    /// Like [`Cluster::install_permissions`], with `edit` applied to the objects first (a test
    /// that takes a permission away). Operators spawned later in `ns` keep what was installed.
    pub async fn install_permissions_with(
        &self,
        ns: &str,
        edit: impl FnOnce(&mut Vec<Value>),
    ) -> anyhow::Result<()> {
        let mut objs = identity_objects(ns)?;
        edit(&mut objs);
        for o in &objs {
            self.apply_object(o).await?;
        }
        std::fs::write(self.installed_marker(ns), b"")?;
        Ok(())
    }

    fn installed_marker(&self, ns: &str) -> PathBuf {
        self.dir().join(format!("installed-{ns}"))
    }

    /// Server-side applies one object given as JSON (any kind the API server serves).
    pub async fn apply_object(&self, o: &Value) -> anyhow::Result<()> {
        let api_version = o["apiVersion"].as_str().unwrap_or_default();
        let kind = o["kind"].as_str().unwrap_or_default();
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = kube::discovery::pinned_kind(&self.client(), &gvk)
            .await
            .with_context(|| format!("the API server does not serve {api_version} {kind}"))?;
        let api: Api<DynamicObject> = match o["metadata"]["namespace"].as_str() {
            Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
                Api::namespaced_with(self.client(), ns, &ar)
            }
            _ => Api::all_with(self.client(), &ar),
        };
        api.patch(name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(o))
            .await
            .with_context(|| format!("failed to apply {kind} {name}"))?;
        Ok(())
    }

    /// Writes (once per service account) a kubeconfig of this cluster that authenticates as
    /// service account `ns/name` with a token from the TokenRequest API (valid two hours, longer
    /// than any test), and returns its path.
    pub async fn service_account_kubeconfig(
        &self,
        ns: &str,
        name: &str,
    ) -> anyhow::Result<PathBuf> {
        let path = self.dir().join(format!("kubeconfig-{ns}-{name}"));
        if path.exists() {
            return Ok(path);
        }
        let sas: Api<ServiceAccount> = Api::namespaced(self.client(), ns);
        let req: TokenRequest = serde_json::from_value(json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": 7200},
        }))?;
        let answer: TokenRequest = sas
            .create_subresource("token", name, &PostParams::default(), &req)
            .await
            .with_context(|| {
                format!("failed to request a token for service account {ns}/{name}")
            })?;
        let token = answer.status.context("TokenRequest without status")?.token;
        let admin = std::fs::read_to_string(self.kubeconfig_path())?;
        let yaml = with_token(&admin, &format!("{ns}-{name}"), &token)?;
        std::fs::write(&path, yaml)
            .with_context(|| format!("failed to write {}", path.display()))?;
        Ok(path)
    }

    /// The kubeconfig an operator in namespace `ns` runs with: the install tree's permissions are
    /// applied (unless they already were), and it authenticates as the service account
    /// `kairos-operator` of `ns`.
    pub async fn operator_kubeconfig(&self, ns: &str) -> anyhow::Result<PathBuf> {
        if !self.installed_marker(ns).exists() {
            self.install_permissions(ns).await?;
        }
        self.service_account_kubeconfig(ns, kairos_api::names::OPERATOR_SERVICE_ACCOUNT)
            .await
    }
}

/// `kubeconfig` (YAML) with its user replaced by one that presents `token`.
pub fn with_token(kubeconfig: &str, user: &str, token: &str) -> anyhow::Result<String> {
    let mut kc: Value = serde_yaml::from_str(kubeconfig).context("malformed kubeconfig")?;
    kc["users"] = json!([{"name": user, "user": {"token": token}}]);
    for c in kc["contexts"].as_array_mut().into_iter().flatten() {
        c["context"]["user"] = json!(user);
    }
    Ok(serde_yaml::to_string(&kc)?)
}

/// A check that the install tree renders what `kubectl kustomize` renders is in
/// `e2e/tests/install.rs`; these tests cover the transformations alone.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_install_tree_with_namespace_and_labels() {
        let objs = render(&default_install_dir()).expect("renders");
        let role = objs
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "kairos-operator")
            .expect("the operator's Role");
        assert_eq!(role["metadata"]["namespace"], INSTALL_NAMESPACE);
        assert_eq!(
            role["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "kairos-operator"
        );
        let crb = objs
            .iter()
            .find(|o| o["kind"] == "ClusterRoleBinding")
            .expect("a ClusterRoleBinding");
        assert!(crb["metadata"]["namespace"].is_null());
    }

    #[test]
    fn identity_objects_move_to_another_namespace_with_their_subjects() {
        let objs = identity_objects("ops").expect("renders");
        assert!(
            objs.iter()
                .all(|o| IDENTITY_KINDS.contains(&o["kind"].as_str().unwrap()))
        );
        assert!(
            objs.iter()
                .any(|o| o["kind"] == "Namespace" && o["metadata"]["name"] == "ops")
        );
        for o in &objs {
            assert_ne!(o["metadata"]["namespace"], INSTALL_NAMESPACE, "{o}");
            for s in o["subjects"].as_array().into_iter().flatten() {
                assert_eq!(s["namespace"], "ops", "{o}");
            }
        }
    }

    #[test]
    fn with_token_replaces_the_user() {
        let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://x\n\
                  users:\n- name: admin\n  user:\n    token: admin-token\ncontexts:\n- name: c\n  context:\n    \
                  cluster: c\n    user: admin\ncurrent-context: c\n";
        let out = with_token(kc, "ns-sa", "sa-token").expect("rewrites");
        let v: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(v["users"][0]["user"]["token"], "sa-token");
        assert_eq!(v["users"].as_array().unwrap().len(), 1);
        assert_eq!(v["contexts"][0]["context"]["user"], "ns-sa");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "http://x");
    }
}
