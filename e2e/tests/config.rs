//! End to end: declarative node configuration (`KairosNode.spec.config`) with the real
//! `kairos-operator` and real `kairos-node-agent`s against the API server (the simulator in
//! CI). The kubelet stand-in runs each config Job's own script with `sh` against the simulated
//! node's host root, with the referenced Secret or ConfigMap key where the Job's pod mounts it;
//! the node's agent then reports the file's hash. Every assertion reads objects through the
//! API or the node's host root, so the tests hold on a real kube-apiserver too.

mod common;
mod ops;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kairos_api::names::{LABEL_KAIROSNODE_CONFIG, LABEL_NODEOP_CONFIG, NODEOPCONFIG_FINALIZER};
use kairos_api::v1alpha1::{ConfigState, KairosNode, NodePhase, OperationPhase};
use kairos_api::{NodeOp, NodeOpConfig};
use kairos_e2e::harness::{AutoAction, Cluster, NodeHandle, Policy, RebootChange, wait_for};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use ops::*;

const PATH: &str = "/oem/90_kairos-operator.yaml";
const DOC: &str =
    "#cloud-config\nhostname: configured\nk3s:\n  args: [\"--node-label=tier=edge\"]\n";
const EDITED: &str = "#cloud-config\nhostname: edited\n";

fn sha(text: &str) -> String {
    kairos_core::report::sha256_hex(text.as_bytes())
}

/// The documents the test put in Secrets and ConfigMaps, by object name: what the kubelet
/// mounts into a config Job's pod.
type Sources = Arc<Mutex<BTreeMap<String, String>>>;

/// The name of the Secret or ConfigMap a config Job's pod mounts, if it is one.
fn mounted_source(job: &Job) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    pod.volumes.iter().flatten().find_map(|v| {
        v.secret
            .as_ref()
            .and_then(|s| s.secret_name.clone())
            .or_else(|| v.config_map.as_ref().map(|c| c.name.clone()))
    })
}

/// The kubelet stand-in for config Jobs on `nodes`: runs the Job's script (its `args` under
/// the engine's boot-ID wrapper, else its `command`) with `sh` on the node's host root, the
/// source document at `CONFIG_SOURCE`; succeeds with the boot ID when the script does (what the
/// wrapper appends), fails with its error otherwise. Reboot pods reboot the node; other Jobs
/// succeed.
fn config_policy(c: &Cluster, nodes: &[&str], sources: Sources) -> Policy {
    let handles: BTreeMap<String, NodeHandle> = nodes
        .iter()
        .map(|n| ((*n).to_owned(), c.node(n).expect("sim node")))
        .collect();
    node_policy(
        Duration::from_millis(100),
        move |job, node, _| {
            let handle = handles.get(node)?;
            // The operator's config NodeOps are named `kncfg-<node>-...` (a KairosNode's) and
            // `nocfg-<name>-...` (a NodeOpConfig's).
            let op = job.labels().get(kairos_api::names::LABEL_NODEOP)?;
            if !op.starts_with("kncfg-") && !op.starts_with("nocfg-") {
                return None;
            }
            let c = job
                .spec
                .as_ref()?
                .template
                .spec
                .as_ref()?
                .containers
                .first()?;
            let argv = c.args.clone().or_else(|| c.command.clone())?;
            let doc = mounted_source(job)
                .and_then(|source| {
                    let sources = sources.lock().unwrap_or_else(|e| e.into_inner());
                    sources.get(&source).cloned()
                })
                .unwrap_or_default();
            Some(run_script(
                &argv,
                handle.host_root(),
                &doc,
                &handle.boot_id(),
            ))
        },
        |_| RebootChange::default(),
    )
}

/// Runs a Job's `argv` (`/bin/sh -c <script>`) against `host_root` with `doc` as the mounted
/// source.
fn run_script(argv: &[String], host_root: &Path, doc: &str, boot_id: &str) -> AutoAction {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cloud-config.yaml");
    std::fs::write(&file, doc).expect("source written");
    let out = std::process::Command::new("sh")
        .args(argv.iter().skip(1))
        .env("HOST_DIR", host_root)
        .env("CONFIG_SOURCE", &file)
        .output()
        .expect("sh runs");
    if out.status.success() {
        AutoAction::Succeed(Some(boot_id.to_owned()))
    } else {
        AutoAction::Fail(Some(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

/// Creates or replaces the Secret (`secret: true`) or ConfigMap `name` in `ns` holding `doc`
/// under the key `cloud-config.yaml`, and records the document in `sources`.
async fn put_source(c: &Cluster, ns: &str, secret: bool, name: &str, doc: &str, sources: &Sources) {
    sources
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_owned(), doc.to_owned());
    let (kind, data) = if secret {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(doc);
        ("Secret", json!({"data": {"cloud-config.yaml": encoded}}))
    } else {
        ("ConfigMap", json!({"data": {"cloud-config.yaml": doc}}))
    };
    let mut object = json!({
        "apiVersion": "v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns},
    });
    object["data"] = data["data"].clone();
    let params = PatchParams::apply("e2e-test").force();
    let applied = if secret {
        let api: Api<Secret> = Api::namespaced(c.client(), ns);
        api.patch(name, &params, &Patch::Apply(&object))
            .await
            .map(drop)
    } else {
        let api: Api<ConfigMap> = Api::namespaced(c.client(), ns);
        api.patch(name, &params, &Patch::Apply(&object))
            .await
            .map(drop)
    };
    applied.expect("source applied");
}

/// Merge-patches KairosNode `node`'s spec with `spec`.
async fn patch_spec(c: &Cluster, node: &str, spec: serde_json::Value) {
    Api::<KairosNode>::all(c.client())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .expect("KairosNode patched");
}

/// `(status, reason, message)` of `kn`'s `ConfigApplied` condition.
fn config_applied(kn: &KairosNode) -> Option<(String, String, String)> {
    kn.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "ConfigApplied")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until `node`'s KairosNode passes `done`, and returns it (panics with the operator's
/// logs after `secs`).
async fn wait_kn(
    c: &Cluster,
    op: &Operator,
    node: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&KairosNode) -> bool,
) -> KairosNode {
    wait_object(c, op, Api::all(c.client()), node, secs, what, done).await
}

/// Waits until the object `name` of `api` passes `done`, and returns it (panics with the
/// object and the operator's logs after `secs`).
async fn wait_object<K>(
    c: &Cluster,
    op: &Operator,
    api: Api<K>,
    name: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&K) -> bool,
) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let r = wait_for(Duration::from_secs(secs), || async {
        let obj = api.get(name).await.ok()?;
        done(&obj).then_some(obj)
    })
    .await;
    match r {
        Ok(obj) => obj,
        Err(e) => {
            let obj = api.get(name).await.ok();
            let logs = op.logs(c);
            let tail = &logs[logs.len().saturating_sub(6000)..];
            panic!("{name}: {what}: {e}\n{obj:#?}\n{tail}")
        }
    }
}

/// `kn`'s `status.config`.
fn config_of(kn: &KairosNode) -> kairos_api::v1alpha1::ConfigStatus {
    kn.status
        .as_ref()
        .and_then(|s| s.config.clone())
        .expect("status.config")
}

fn applied_with(kn: &KairosNode, hash: &str) -> bool {
    let Some(config) = kn.status.as_ref().and_then(|s| s.config.as_ref()) else {
        return false;
    };
    config.state == ConfigState::Applied
        && config.observed_hash.as_deref() == Some(hash)
        && config_applied(kn).is_some_and(|(s, r, _)| s == "True" && r == "Applied")
}

/// The files under the node's `/oem`, with their contents.
fn oem(c: &Cluster, node: &str) -> BTreeMap<String, String> {
    let dir = c.node(node).expect("sim node").host_root().join("oem");
    std::fs::read_dir(&dir)
        .expect("oem")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap_or_default())
        })
        .collect()
}

/// The NodeOps in `ns` carrying the label `label` (per-node config NodeOps carry
/// [`LABEL_KAIROSNODE_CONFIG`], a NodeOpConfig's [`LABEL_NODEOP_CONFIG`]).
async fn labelled_nodeops(c: &Cluster, ns: &str, label: &str) -> Vec<NodeOp> {
    Api::<NodeOp>::namespaced(c.client(), ns)
        .list(&ListParams::default().labels(label))
        .await
        .expect("nodeops")
        .items
}

/// Config NodeOps of KairosNodes in the operator's namespace.
async fn config_nodeops(c: &Cluster, ns: &str) -> Vec<NodeOp> {
    labelled_nodeops(c, ns, LABEL_KAIROSNODE_CONFIG).await
}

/// The NodeOpConfigs' NodeOps in `ns` (the writes and the removal).
async fn fleet_nodeops(c: &Cluster, ns: &str) -> Vec<NodeOp> {
    labelled_nodeops(c, ns, LABEL_NODEOP_CONFIG).await
}

#[tokio::test]
async fn config_secret_is_written_applied_rolled_on_edit_and_drift_is_shown() {
    let (c, _ns) = common::cluster("config-secret").await;
    let (op, sources, _kubelet) = config_fleet(&c, &[("n1", true), ("n2", false)]).await;
    let sys = op.opts.namespace.clone();
    let before_n2 = oem(&c, "n2");
    let before_n1 = oem(&c, "n1");
    put_source(&c, &sys, true, "edge-config", DOC, &sources).await;
    patch_spec(
        &c,
        "n2",
        json!({"config": {"secretRef": {"name": "edge-config", "key": "cloud-config.yaml"}}}),
    )
    .await;

    // The file lands on the node, the agent reports its hash, ConfigApplied is True.
    let kn = wait_kn(&c, &op, "n2", 40, "config applied", |kn| {
        applied_with(kn, &sha(DOC))
    })
    .await;
    let config = config_of(&kn);
    assert_eq!(
        config.desired_hash.as_deref(),
        Some(sha(DOC).as_str()),
        "{config:#?}"
    );
    assert_eq!(config.path.as_deref(), Some(PATH));
    let reported = &kn.status.as_ref().expect("status").cloud_config_files;
    assert_eq!(
        reported.get(PATH).map(String::as_str),
        Some(sha(DOC).as_str())
    );
    let root = c.node("n2").expect("sim node").host_root().to_path_buf();
    let file = root.join(PATH.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(&file).expect("managed file"), DOC);
    let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Other /oem files untouched, no temporary file left, the other node untouched.
    let mut expected = before_n2.clone();
    expected.insert("90_kairos-operator.yaml".to_owned(), DOC.to_owned());
    assert_eq!(oem(&c, "n2"), expected);
    assert_eq!(oem(&c, "n1"), before_n1);
    // A reboot was asked (the default): the node rebooted once and was uncordoned.
    assert_eq!(c.node("n2").expect("sim node").boots(), 2);
    assert_eq!(c.node("n1").expect("sim node").boots(), 1);
    let n2 = Api::<k8s_openapi::api::core::v1::Node>::all(c.client())
        .get("n2")
        .await
        .expect("node");
    assert!(!unschedulable(&n2), "n2 left cordoned");
    // The document reached the node through a mounted Secret, never through the Job's spec.
    let jobs = engine_jobs(&c, &sys).await;
    assert_eq!(jobs.len(), 1, "one Job");
    assert_eq!(mounted_source(&jobs[0]).as_deref(), Some("edge-config"));
    let job_text = serde_json::to_string(&jobs[0]).expect("json");
    assert!(
        !job_text.contains("configured"),
        "the document is in the Job: {job_text}"
    );

    // `kubectl get kn -o wide` shows it.
    if let Some((ok, out)) = c.kubectl(&["get", "kn", "n2", "-o", "wide"]).await {
        assert!(ok, "{out}");
        let header = out.lines().next().unwrap_or_default();
        assert!(header.contains("CONFIG"), "{out}");
        assert!(
            out.lines().nth(1).is_some_and(|l| l.contains("Applied")),
            "{out}"
        );
    }

    // Editing the Secret rolls the change.
    put_source(&c, &sys, true, "edge-config", EDITED, &sources).await;
    wait_kn(&c, &op, "n2", 40, "edited config applied", |kn| {
        applied_with(kn, &sha(EDITED))
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&file).expect("managed file"),
        EDITED
    );
    assert_eq!(c.node("n2").expect("sim node").boots(), 3);
    let ops = config_nodeops(&c, &sys).await;
    assert_eq!(ops.len(), 1, "the earlier operation was replaced: {ops:#?}");

    // A hand edit on the node shows as drift, and is not overwritten by itself.
    std::fs::write(&file, "#cloud-config\nhostname: by-hand\n").expect("hand edit");
    let kn = wait_kn(&c, &op, "n2", 30, "drift shown", |kn| {
        config_applied(kn).is_some_and(|(s, r, _)| s == "False" && r == "Drifted")
    })
    .await;
    let config = config_of(&kn);
    assert_eq!(config.state, ConfigState::Drifted);
    assert_eq!(
        config.observed_hash.as_deref(),
        Some(sha("#cloud-config\nhostname: by-hand\n").as_str())
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        std::fs::read_to_string(&file).expect("managed file"),
        "#cloud-config\nhostname: by-hand\n"
    );
}

/// A worker `n1` reporting to a started operator, and the config kubelet stand-in.
async fn one_node(c: &Cluster) -> (Operator, Sources, kairos_e2e::harness::AutoKubelet) {
    config_fleet(c, &[("n1", false)]).await
}

/// The nodes `(name, control plane)` on v3.5.0 reporting to a started operator, and the config
/// kubelet stand-in for all of them.
async fn config_fleet(
    c: &Cluster,
    nodes: &[(&str, bool)],
) -> (Operator, Sources, kairos_e2e::harness::AutoKubelet) {
    let fleet: Vec<(String, bool, &str)> = nodes
        .iter()
        .map(|(n, cp)| ((*n).to_owned(), *cp, "v3.5.0"))
        .collect();
    let op = fleet_of(c, &fleet).await;
    let names: Vec<&str> = nodes.iter().map(|(n, _)| *n).collect();
    let sources = Sources::default();
    let kubelet = c
        .kubelet()
        .run_auto(config_policy(c, &names, sources.clone()));
    (op, sources, kubelet)
}

#[tokio::test]
async fn config_invalid_document_is_refused_before_any_job() {
    let (c, _ns) = common::cluster("config-invalid").await;
    let (op, sources, _kubelet) = one_node(&c).await;
    let sys = op.opts.namespace.clone();
    let before = oem(&c, "n1");
    for (name, doc, why) in [
        ("no-header", "hostname: x\n", "first line"),
        (
            "broken-yaml",
            "#cloud-config\nhostname: [x\n",
            "not valid YAML",
        ),
    ] {
        put_source(&c, &sys, true, name, doc, &sources).await;
        patch_spec(
            &c,
            "n1",
            json!({"config": {"secretRef": {"name": name, "key": "cloud-config.yaml"}}}),
        )
        .await;
        let kn = wait_kn(&c, &op, "n1", 20, "refused", |kn| {
            config_applied(kn)
                .is_some_and(|(s, r, m)| s == "False" && r == "InvalidConfig" && m.contains(name))
        })
        .await;
        let (_, _, msg) = config_applied(&kn).expect("condition");
        assert!(
            msg.contains(why) && msg.contains("nothing is written"),
            "{msg}"
        );
    }
    // A path outside /oem never reaches the operator: the API server refuses it.
    let refused = Api::<KairosNode>::all(c.client())
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"config": {
                "secretRef": {"name": "x", "key": "k"}, "path": "/etc/shadow"}}})),
        )
        .await;
    let (code, _) = common::api_err(refused);
    assert_eq!(code, 422);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(config_nodeops(&c, &sys).await.is_empty(), "no NodeOp");
    assert!(engine_jobs(&c, &sys).await.is_empty(), "no Job");
    assert_eq!(oem(&c, "n1"), before);
}

#[tokio::test]
async fn config_removal_deletes_only_the_managed_file_without_reboot() {
    let (c, _ns) = common::cluster("config-removal").await;
    let (op, sources, _kubelet) = one_node(&c).await;
    let sys = op.opts.namespace.clone();
    let before = oem(&c, "n1");
    put_source(&c, &sys, false, "plain-config", DOC, &sources).await;
    patch_spec(
        &c,
        "n1",
        json!({"config": {
            "configMapRef": {"name": "plain-config", "key": "cloud-config.yaml"},
            "reboot": false,
        }}),
    )
    .await;
    wait_kn(&c, &op, "n1", 40, "config applied", |kn| {
        applied_with(kn, &sha(DOC))
    })
    .await;
    assert_eq!(
        c.node("n1").expect("sim node").boots(),
        1,
        "no reboot asked"
    );

    // Removing spec.config removes the file, says so, and leaves every other /oem file.
    patch_spec(&c, "n1", json!({"config": null})).await;
    let kn = wait_kn(&c, &op, "n1", 40, "file removed", |kn| {
        kn.status
            .as_ref()
            .and_then(|s| s.config.as_ref())
            .is_some_and(|cfg| cfg.state == ConfigState::Removed)
    })
    .await;
    let (status, reason, msg) = config_applied(&kn).expect("condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Removed"),
        "{msg}"
    );
    assert!(msg.contains(PATH) && msg.contains("deleted"), "{msg}");
    assert!(
        !kn.status
            .as_ref()
            .expect("status")
            .cloud_config_files
            .contains_key(PATH)
    );
    assert_eq!(oem(&c, "n1"), before);
    assert_eq!(
        c.node("n1").expect("sim node").boots(),
        1,
        "no reboot to remove"
    );
}

/// Creates NodeOpConfig `name` in `ns` with `spec`.
async fn create_fleet_config(c: &Cluster, ns: &str, name: &str, spec: serde_json::Value) {
    let cfg: NodeOpConfig = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOpConfig",
        "metadata": {"name": name}, "spec": spec,
    }))
    .expect("valid NodeOpConfig");
    Api::<NodeOpConfig>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &cfg)
        .await
        .expect("NodeOpConfig created");
}

#[tokio::test]
async fn config_fleet_over_six_nodes_goes_control_plane_first_with_its_concurrency() {
    let (c, _ns) = common::cluster("config-fleet").await;
    let cp = ["cp1", "cp2", "cp3"];
    let workers = ["w1", "w2", "w3"];
    let names: Vec<&str> = cp.iter().chain(&workers).copied().chain(["w4"]).collect();
    let nodes: Vec<(&str, bool)> = names.iter().map(|n| (*n, n.starts_with("cp"))).collect();
    let (op, sources, _kubelet) = config_fleet(&c, &nodes).await;
    let sys = op.opts.namespace.clone();
    let before: BTreeMap<&str, BTreeMap<String, String>> =
        names.iter().map(|n| (*n, oem(&c, n))).collect();

    // w4 declares the same file itself: the fleet leaves it to the per-node declaration.
    const OWN: &str = "#cloud-config\nhostname: w4-own\n";
    put_source(&c, &sys, true, "w4-own", OWN, &sources).await;
    patch_spec(
        &c,
        "w4",
        json!({"config": {"secretRef": {"name": "w4-own", "key": "cloud-config.yaml"}}}),
    )
    .await;
    wait_kn(&c, &op, "w4", 40, "w4's own config applied", |kn| {
        applied_with(kn, &sha(OWN))
    })
    .await;

    let rec = Recorder::start(c.client(), &sys);
    put_source(&c, &sys, true, "fleet-config", DOC, &sources).await;
    create_fleet_config(
        &c,
        &sys,
        "edge",
        json!({
            "nodeSelector": {"matchLabels": {"kairos.io/managed": "true"}},
            "config": {"secretRef": {"name": "fleet-config", "key": "cloud-config.yaml"}},
            "concurrency": 2,
            "stopOnFailure": true,
        }),
    )
    .await;
    let configs: Api<NodeOpConfig> = Api::namespaced(c.client(), &sys);
    let done = wait_object(&c, &op, configs, "edge", 150, "applied", |cfg| {
        cfg.status
            .as_ref()
            .is_some_and(|s| s.phase == Some(OperationPhase::Completed) && s.applied == 6)
    })
    .await;
    let st = done.status.clone().expect("status");
    assert_eq!(
        (st.total, st.applied, st.skipped, st.failed, st.drifted),
        (7, 6, 1, 0, 0),
        "{st:#?}"
    );
    assert_eq!(st.desired_hash.as_deref(), Some(sha(DOC).as_str()));
    let w4 = st.node_statuses.get("w4").expect("w4 listed");
    assert_eq!(w4.phase, NodePhase::Skipped, "{w4:?}");
    assert!(
        w4.message
            .as_deref()
            .is_some_and(|m| m.contains("per-node declaration wins")),
        "{w4:?}"
    );
    assert!(
        done.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == NODEOPCONFIG_FINALIZER),
        "{:?}",
        done.metadata.finalizers
    );
    let applied = done
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "ConfigApplied"))
        .map(|c| (c.status.clone(), c.reason.clone()));
    assert_eq!(applied, Some(("True".to_owned(), "Applied".to_owned())));

    // `kubectl get noc` shows the counts.
    if let Some((ok, out)) = c.kubectl(&["get", "noc", "-n", &sys]).await {
        assert!(ok, "{out}");
        let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let header = words(out.lines().next().unwrap_or_default());
        let row = words(out.lines().nth(1).unwrap_or_default());
        assert_eq!(
            header,
            [
                "NAME", "PHASE", "NODES", "APPLIED", "SKIPPED", "FAILED", "DRIFTED", "AGE"
            ],
            "{out}"
        );
        assert_eq!(
            row[..7],
            ["edge", "Completed", "7", "6", "1", "0", "0"],
            "{out}"
        );
    }

    // One NodeOp for the six nodes, at the NodeOpConfig's pace.
    let fleet_ops = fleet_nodeops(&c, &sys).await;
    assert_eq!(fleet_ops.len(), 1, "{fleet_ops:#?}");
    let fleet_op = &fleet_ops[0];
    assert_eq!(
        st.node_op_name.as_deref(),
        Some(fleet_op.name_any().as_str())
    );
    assert_eq!(fleet_op.spec.concurrency, 2);
    let mut targets = fleet_op.spec.target_nodes.clone().unwrap_or_default();
    targets.sort();
    assert_eq!(targets, ["cp1", "cp2", "cp3", "w1", "w2", "w3"]);

    // Control plane first, one at a time; then the workers, never more than 2 at a time.
    // (The recorder also lists w4's finished Job of its own declaration.)
    let t = rec.timeline();
    let order: Vec<&str> = t
        .job_sequence
        .iter()
        .filter(|(_, job)| job.starts_with("nocfg-"))
        .map(|(node, _)| node.as_str())
        .collect();
    assert_eq!(order.len(), 6, "one Job per node: {t:#?}");
    let mut first = order[..3].to_vec();
    first.sort_unstable();
    assert_eq!(first, cp, "{t:#?}");
    assert_eq!(t.max_in_flight, 2, "{t:#?}");
    assert!(t.max_control_plane_in_flight <= 1, "{t:#?}");
    let times = fleet_op
        .status
        .as_ref()
        .map(|s| s.node_statuses.clone())
        .unwrap_or_default();
    let cp_done = cp
        .iter()
        .map(|n| times[*n].finished_at.clone().expect("finishedAt").0)
        .max()
        .expect("cp");
    for w in workers {
        let started = times[w].started_at.clone().expect("startedAt").0;
        assert!(
            started >= cp_done,
            "worker {w} started before the control plane finished: {times:#?}"
        );
    }

    // Every node carries the document and reports its hash; nothing else under /oem changed;
    // w4 keeps its own.
    let kns: Api<KairosNode> = Api::all(c.client());
    for n in cp.iter().chain(&workers) {
        let mut expected = before[n].clone();
        expected.insert("90_kairos-operator.yaml".to_owned(), DOC.to_owned());
        assert_eq!(oem(&c, n), expected, "{n}");
        let kn = kns.get(n).await.expect("kn");
        let reported = kn.status.as_ref().map(|s| s.cloud_config_files.clone());
        assert_eq!(
            reported.and_then(|f| f.get(PATH).cloned()).as_deref(),
            Some(sha(DOC).as_str()),
            "{n}"
        );
        assert_eq!(c.node(n).expect("sim node").boots(), 2, "{n} rebooted once");
    }
    let mut own = before["w4"].clone();
    own.insert("90_kairos-operator.yaml".to_owned(), OWN.to_owned());
    assert_eq!(oem(&c, "w4"), own);

    // Deleting the NodeOpConfig removes the file from the six nodes, then lets the object go.
    Api::<NodeOpConfig>::namespaced(c.client(), &sys)
        .delete("edge", &DeleteParams::default())
        .await
        .expect("deleted");
    let gone = wait_for(Duration::from_secs(60), || async {
        let api = Api::<NodeOpConfig>::namespaced(c.client(), &sys);
        api.get_opt("edge").await.ok()?.is_none().then_some(())
    })
    .await;
    if let Err(e) = gone {
        let left = Api::<NodeOpConfig>::namespaced(c.client(), &sys)
            .get_opt("edge")
            .await
            .ok()
            .flatten();
        panic!(
            "the NodeOpConfig did not go: {e}\n{:#?}\n{}",
            left.and_then(|l| l.status),
            op.logs(&c)
        );
    }
    for n in cp.iter().chain(&workers) {
        assert_eq!(
            oem(&c, n),
            before[n],
            "{n}: the managed file was not removed"
        );
    }
    assert_eq!(oem(&c, "w4"), own, "w4's own file stays");

    // Events on the NodeOpConfig said what happened (published from a queue after the status).
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(c.client(), &sys);
    let reasons = wait_for(Duration::from_secs(10), || async {
        let reasons: Vec<String> = events
            .list(&Default::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().is_some_and(|r| {
                    r.kind.as_deref() == Some("NodeOpConfig") && r.name.as_deref() == Some("edge")
                })
            })
            .filter_map(|e| e.reason)
            .collect();
        reasons.iter().any(|r| r == "Removed").then_some(reasons)
    })
    .await
    .expect("a Removed Event on the NodeOpConfig");
    for r in ["Applying", "Applied", "Removing", "Removed"] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no {r}: {reasons:?}\n{}",
            op.logs(&c)
                .lines()
                .filter(|l| l.contains("nodeopconfig"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[tokio::test]
async fn config_fleet_outside_the_operator_namespace_is_refused_and_creates_nothing() {
    let (c, ns) = common::cluster("config-fleet-ns").await;
    let (op, sources, _kubelet) = one_node(&c).await;
    let sys = op.opts.namespace.clone();
    put_source(&c, &sys, true, "fleet-config", DOC, &sources).await;
    create_fleet_config(
        &c,
        &ns,
        "elsewhere",
        json!({"config": {"secretRef": {"name": "fleet-config", "key": "cloud-config.yaml"}}}),
    )
    .await;
    let configs: Api<NodeOpConfig> = Api::namespaced(c.client(), &ns);
    let cfg = wait_object(&c, &op, configs, "elsewhere", 20, "refused", |cfg| {
        cfg.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "SpecApplied" && c.reason == "WrongNamespace")
        })
    })
    .await;
    let st = cfg.status.expect("status");
    assert_eq!(st.phase, Some(OperationPhase::Failed), "{st:#?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for namespace in [&ns, &sys] {
        let ops = fleet_nodeops(&c, namespace).await;
        assert!(ops.is_empty(), "{ops:#?}");
    }
    assert!(engine_jobs(&c, &sys).await.is_empty(), "no Job");
}

#[tokio::test]
async fn config_fleet_edit_rolls_the_nodes_again_and_a_hand_edit_counts_as_drift() {
    let (c, _ns) = common::cluster("config-fleet-edit").await;
    let (op, sources, _kubelet) = config_fleet(&c, &[("n1", false), ("n2", false)]).await;
    let sys = op.opts.namespace.clone();
    put_source(&c, &sys, false, "fleet-plain", DOC, &sources).await;
    create_fleet_config(
        &c,
        &sys,
        "plain",
        json!({"config": {
            "configMapRef": {"name": "fleet-plain", "key": "cloud-config.yaml"},
            "reboot": false,
        }}),
    )
    .await;
    let configs: Api<NodeOpConfig> = Api::namespaced(c.client(), &sys);
    let carries = |doc: &'static str| {
        move |cfg: &NodeOpConfig| {
            cfg.status.as_ref().is_some_and(|s| {
                s.phase == Some(OperationPhase::Completed)
                    && s.applied == 2
                    && s.desired_hash.as_deref() == Some(sha(doc).as_str())
            })
        }
    };
    wait_object(
        &c,
        &op,
        configs.clone(),
        "plain",
        60,
        "applied",
        carries(DOC),
    )
    .await;
    let file = |n: &str| {
        c.node(n)
            .expect("sim node")
            .host_root()
            .join(PATH.trim_start_matches('/'))
    };
    for n in ["n1", "n2"] {
        assert_eq!(std::fs::read_to_string(file(n)).expect("file"), DOC);
        assert_eq!(c.node(n).expect("sim node").boots(), 1, "no reboot asked");
    }

    // Editing the ConfigMap writes the new document to both nodes with a new NodeOp; the
    // finished one of the earlier document goes.
    let first = fleet_nodeops(&c, &sys).await;
    assert_eq!(first.len(), 1, "{first:#?}");
    put_source(&c, &sys, false, "fleet-plain", EDITED, &sources).await;
    wait_object(
        &c,
        &op,
        configs.clone(),
        "plain",
        60,
        "edited",
        carries(EDITED),
    )
    .await;
    for n in ["n1", "n2"] {
        assert_eq!(std::fs::read_to_string(file(n)).expect("file"), EDITED);
    }
    let replaced = wait_for(Duration::from_secs(20), || async {
        let ops = fleet_nodeops(&c, &sys).await;
        (ops.len() == 1 && ops[0].name_any() != first[0].name_any()).then_some(ops)
    })
    .await;
    assert!(replaced.is_ok(), "{:#?}", fleet_nodeops(&c, &sys).await);

    // A hand edit on n1 counts as drift once the verify timeout passed, and is not overwritten.
    let by_hand = "#cloud-config\nhostname: by-hand\n";
    std::fs::write(file("n1"), by_hand).expect("hand edit");
    let drifted = wait_object(&c, &op, configs, "plain", 60, "drift counted", |cfg| {
        cfg.status.as_ref().is_some_and(|s| s.drifted == 1)
    })
    .await;
    let st = drifted.status.expect("status");
    assert_eq!((st.applied, st.drifted), (1, 1), "{st:#?}");
    let n1 = st.node_statuses.get("n1").expect("n1 listed");
    assert!(
        n1.message
            .as_deref()
            .is_some_and(|m| m.contains(&sha(by_hand)) && m.contains("changed on the node")),
        "{n1:?}"
    );
    let condition = st
        .conditions
        .iter()
        .find(|c| c.type_ == "ConfigApplied")
        .map(|c| (c.status.clone(), c.reason.clone()));
    assert_eq!(condition, Some(("False".to_owned(), "Drifted".to_owned())));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(std::fs::read_to_string(file("n1")).expect("file"), by_hand);
}
