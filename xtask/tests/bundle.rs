//! The Kairos bundle's `bundle/run.sh`: `sh -n`, and runs against a fake root (`ROOT`) with a
//! stub `kairos-agent` that answers `config get` from a table, for k3s, k0s, a configured
//! `manifest_dir`, image overrides, and no configuration at all. The bundle's manifest is the
//! operator's Deployment and the agent's DaemonSet from deploy/, once as written there and once
//! as `kubectl kustomize` prints them. Test-only I/O: temp dirs and `sh`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

fn run_sh() -> PathBuf {
    repo().join("bundle/run.sh")
}

/// The operator's Deployment and the agent's DaemonSet as deploy/ holds them.
fn source_manifest() -> String {
    let read = |p: &str| std::fs::read_to_string(repo().join(p)).expect("a deploy/ file");
    format!(
        "{}---\n{}",
        read("deploy/operator/deployment.yaml"),
        read("deploy/node-agent/daemonset.yaml")
    )
}

/// One workload with one container as `kubectl kustomize` prints it (keys sorted, list items
/// at their key's indentation), trimmed to what matters here.
fn rendered_workload(kind: &str, name: &str, env: &str, image: &str, container: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: kairos-system\n\
         spec:\n  template:\n    spec:\n      containers:\n      - env:\n{env}        image: {image}\n\
         \x20       name: {container}\n"
    )
}

/// The operator's Deployment and the agent's DaemonSet as `kubectl kustomize deploy/default`
/// prints them (tags set).
fn rendered() -> String {
    format!(
        "{}---\n{}",
        rendered_workload(
            "Deployment",
            "kairos-operator",
            "        - name: KAIROS_LOG_FORMAT\n          value: json\n",
            "ghcr.io/kairos-io/kairos-operator-rs/operator:0.1.0",
            "operator",
        ),
        rendered_workload(
            "DaemonSet",
            "kairos-node-agent",
            "        - name: NODE_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: spec.nodeName\n",
            "ghcr.io/kairos-io/kairos-operator-rs/node-agent:0.1.0",
            "agent",
        )
    )
}

/// A fake node: the extracted bundle, a root to install into, and a `bin/` with the stub
/// `kairos-agent` (plus `k3s`/`k0s` when asked).
struct Node {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    root: PathBuf,
    bin: PathBuf,
}

fn executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("written");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A node whose configuration answers `config` (`key=value` pairs), with the bundle's assets
/// holding `manifest`.
fn node(config: &[(&str, &str)], manifest: &str) -> Node {
    let dir = tempfile::tempdir().expect("a temp dir");
    let node = Node {
        bundle: dir.path().join("bundle"),
        root: dir.path().join("root"),
        bin: dir.path().join("bin"),
        _dir: dir,
    };
    for d in [&node.bundle.join("assets"), &node.root, &node.bin] {
        std::fs::create_dir_all(d).expect("created");
    }
    std::fs::copy(run_sh(), node.bundle.join("run.sh")).expect("copied");
    std::fs::write(node.bundle.join("assets/kairos-operator.yaml"), manifest).expect("written");
    let table: String = config.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(node.bin.join("config"), table).expect("written");
    // Prints the value of a key, or `null` as kairos-agent does for an unset one.
    executable(
        &node.bin.join("kairos-agent"),
        "#!/bin/sh\n\
         [ \"$1 $2\" = 'config get' ] || { echo \"unexpected: $*\" >&2; exit 2; }\n\
         while IFS='=' read -r key value; do\n\
           [ \"$key\" = \"$3\" ] && { echo \"$value\"; exit 0; }\n\
         done < \"$(dirname \"$0\")/config\"\n\
         echo null\n",
    );
    node
}

impl Node {
    fn command_on_path(&self, name: &str) {
        executable(&self.bin.join(name), "#!/bin/sh\nexit 0\n");
    }

    /// Runs the bundle as kairos-agent does: `./run.sh` in the extracted directory, with
    /// CONTAINERDIR set. Its output is printed for the failing test's report.
    #[allow(
        clippy::print_stdout,
        reason = "cargo test shows a failing test's output"
    )]
    fn run(&self) -> Output {
        let out = Command::new("sh")
            .arg("./run.sh")
            .current_dir(&self.bundle)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("ROOT", &self.root)
            .env("CONTAINERDIR", &self.bundle)
            .env("BUNDLE_TARGET", "run://example/kairos-operator-bundle:test")
            .output()
            .expect("sh runs");
        println!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every file under the fake root, relative to it.
    fn installed(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).expect("listed") {
                let p = e.expect("an entry").path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    let rel = p.strip_prefix(root).expect("under the root");
                    out.push(rel.display().to_string());
                }
            }
        }
        let mut out = vec![];
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).expect("installed")
    }
}

const K3S: &str = "var/lib/rancher/k3s/server/manifests/kairos-operator.yaml";
const K0S: &str = "var/lib/k0s/manifests/kairos-operator/kairos-operator.yaml";

fn objects(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn container(objects: &[Value], kind: &str) -> Value {
    let o = objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind}"));
    o["spec"]["template"]["spec"]["containers"][0].clone()
}

fn env(container: &Value, name: &str) -> Option<String> {
    container["env"]
        .as_sequence()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().expect("a value").to_owned())
}

#[test]
fn run_sh_is_valid_sh() {
    let out = Command::new("sh")
        .arg("-n")
        .arg(run_sh())
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn k3s_enabled_installs_the_manifest_unchanged_where_k3s_applies_manifests() {
    let n = node(&[("k3s.enabled", "true")], &rendered());
    assert!(n.run().status.success());
    assert_eq!(n.installed(), [K3S]);
    assert_eq!(n.read(K3S), rendered());
}

#[test]
fn k0s_enabled_installs_into_its_own_manifest_directory_before_k3s() {
    let n = node(
        &[("k0s.enabled", "true"), ("k3s.enabled", "true")],
        &rendered(),
    );
    assert!(n.run().status.success());
    assert_eq!(n.installed(), [K0S]);
}

#[test]
fn a_k3s_command_on_path_is_enough() {
    let n = node(&[], &rendered());
    n.command_on_path("k3s");
    assert!(n.run().status.success());
    assert_eq!(n.installed(), [K3S]);
}

#[test]
fn a_configured_manifest_dir_wins_over_the_distribution() {
    let n = node(
        &[
            ("kairosOperator.manifest_dir", "/custom/manifests/"),
            ("k3s.enabled", "true"),
        ],
        &rendered(),
    );
    assert!(n.run().status.success());
    assert_eq!(n.installed(), ["custom/manifests/kairos-operator.yaml"]);
}

#[test]
fn image_overrides_replace_the_images_and_set_the_operators_environment() {
    let overrides = [
        ("k3s.enabled", "true"),
        (
            "kairosOperator.images.operator",
            "registry.local:5000/kairos/operator:v9",
        ),
        (
            "kairosOperator.images.nodeAgent",
            "registry.local:5000/kairos/node-agent@sha256:0123",
        ),
        (
            "kairosOperator.images.sentinel",
            "registry.local:5000/busybox:1.37",
        ),
        (
            "kairosOperator.images.nodeOpDefault",
            "registry.local:5000/busybox:latest",
        ),
    ];
    for manifest in [rendered(), source_manifest()] {
        let n = node(&overrides, &manifest);
        assert!(n.run().status.success());
        let objs = objects(&n.read(K3S));
        assert_eq!(objs.len(), 2);
        let operator = container(&objs, "Deployment");
        assert_eq!(operator["image"], "registry.local:5000/kairos/operator:v9");
        assert_eq!(
            env(&operator, "KAIROS_REBOOT_IMAGE").as_deref(),
            Some("registry.local:5000/busybox:1.37")
        );
        assert_eq!(
            env(&operator, "NODEOP_DEFAULT_IMAGE").as_deref(),
            Some("registry.local:5000/busybox:latest")
        );
        assert_eq!(
            env(&operator, "KAIROS_LOG_FORMAT").as_deref(),
            Some("json"),
            "the existing environment stays"
        );
        let agent = container(&objs, "DaemonSet");
        assert_eq!(
            agent["image"],
            "registry.local:5000/kairos/node-agent@sha256:0123"
        );
        assert_eq!(env(&agent, "KAIROS_REBOOT_IMAGE"), None);
    }
}

#[test]
fn an_override_that_matches_no_container_fails_without_installing() {
    let n = node(
        &[
            ("k3s.enabled", "true"),
            ("kairosOperator.images.operator", "x/op:1"),
        ],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    );
    let out = n.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("image overrides"));
    assert_eq!(n.installed(), Vec::<String>::new());
}

#[test]
fn without_k3s_k0s_or_a_manifest_dir_it_exits_1_naming_the_keys() {
    let n = node(&[("kairosOperator.images.operator", "x/op:1")], &rendered());
    let out = n.run();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in ["k0s.enabled", "k3s.enabled", "kairosOperator.manifest_dir"] {
        assert!(stderr.contains(key), "{stderr}");
    }
    assert_eq!(n.installed(), Vec::<String>::new());
}
