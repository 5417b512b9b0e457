//! `kubectl kairos` (the `kubectl-kairos` binary) against the cluster: `status`, `upgrade`,
//! `pause`/`resume` and `logs`, each asserting the printed output against a golden text (ages
//! normalised) and reading back through the API what it wrote. The objects are written as the
//! operator would write them, so the outputs are exact on either backend. Runs processes and
//! does API I/O.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use kairos_e2e::harness::{Cluster, PluginRun, locate};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An age as kubectl writes it (`45s`, `12m`, `3h`, `2d`) becomes `<age>`, keeping the columns
/// after it where they were (an age's width varies, its column's does not).
fn normalise(text: &str) -> String {
    let is_age = |t: &str| {
        let digits = t.trim_end_matches(['s', 'm', 'h', 'd']);
        t.len() == digits.len() + 1
            && !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit())
    };
    let mut out = String::new();
    for line in text.lines() {
        let mut rest = line;
        while !rest.is_empty() {
            let spaces = rest.len() - rest.trim_start_matches(' ').len();
            out.push_str(&rest[..spaces]);
            rest = &rest[spaces..];
            let token = rest.split(' ').next().unwrap_or_default();
            rest = &rest[token.len()..];
            if is_age(token) {
                let pad = rest.len() - rest.trim_start_matches(' ').len();
                out.push_str("<age>");
                if pad > 0 && !rest.trim_start().is_empty() {
                    out.push_str(&" ".repeat((token.len() + pad).saturating_sub(5).max(1)));
                    rest = &rest[pad..];
                }
            } else {
                out.push_str(token);
            }
        }
        out.push('\n');
    }
    out
}

/// A cluster of its own (so the fleet-wide outputs are exact) with the namespace `ops`.
async fn plugin_cluster(test: &str) -> (Cluster, String) {
    let (c, _) = cluster(test).await;
    c.ensure_namespace(OPS).await.expect("namespace");
    (c, OPS.to_owned())
}

/// The namespace of the tests' operations.
const OPS: &str = "ops";

async fn plugin(c: &Cluster, args: &[&str]) -> PluginRun {
    c.kubectl_kairos(args).await.expect("kubectl-kairos runs")
}

/// Runs the plugin and expects success; its standard output, ages normalised.
async fn ok(c: &Cluster, args: &[&str]) -> String {
    let run = plugin(c, args).await;
    assert!(run.success, "{args:?} failed: {}{}", run.stdout, run.stderr);
    normalise(&run.stdout)
}

/// Runs the plugin and expects failure; its standard error.
async fn fails(c: &Cluster, args: &[&str]) -> String {
    let run = plugin(c, args).await;
    assert!(!run.success, "{args:?} succeeded: {}", run.stdout);
    run.stderr
}

fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("valid object")
}

fn ago(minutes: i64) -> String {
    (Timestamp::now() - SignedDuration::from_mins(minutes)).to_string()
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": ago(60)})
}

/// A Node with `labels`, cordoned by `cordoned_by` when given.
async fn node(c: &Cluster, name: &str, labels: Value, cordoned_by: Option<&str>) {
    let mut n = json!({"metadata": {"name": name, "labels": labels}});
    if let Some(by) = cordoned_by {
        n["metadata"]["annotations"] = json!({"operator.kairos.io/cordoned-by": by});
        n["spec"] = json!({"unschedulable": true});
    }
    Api::<Node>::all(c.client())
        .create(&PostParams::default(), &from(n))
        .await
        .expect("node created");
}

/// A KairosNode with `spec` and the reported `status` (version, image, boot state, conditions).
async fn kairos_node(c: &Cluster, name: &str, version: &str, spec: Value, status: Value) {
    let mut st = json!({
        "kairos": {"version": version, "imageRepo": "quay.io/kairos/ubuntu",
            "imageLabel": format!("24.04-standard-amd64-generic-{version}-k3sv1.33.1-k3s1")},
        "bootState": "active", "lastSeen": ago(1),
        "conditions": [condition("Reporting", "True", "Reported", "the agent reports")],
    });
    if let (Some(s), Some(extra)) = (st.as_object_mut(), status.as_object()) {
        s.extend(extra.clone());
    }
    let kn = json!({"kind": "KairosNode", "metadata": {"name": name}, "spec": spec});
    create_with_status(Api::<KairosNode>::all(c.client()), kn, st).await;
}

/// A NodeOp in `ns` with `labels` and `status`.
async fn nodeop(c: &Cluster, ns: &str, name: &str, labels: Value, status: Value) {
    let op = json!({"kind": "NodeOp", "metadata": {"name": name, "labels": labels},
        "spec": {"command": ["sh", "-c", "true"]}});
    create_with_status(Api::<NodeOp>::namespaced(c.client(), ns), op, status).await;
}

/// A NodeOpUpgrade in `ns` to v3.6.1 with `status`.
async fn nodeop_upgrade(c: &Cluster, ns: &str, name: &str, status: Value) {
    let up = json!({"kind": "NodeOpUpgrade", "metadata": {"name": name},
        "spec": {"image": "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1"}});
    create_with_status(Api::<NodeOpUpgrade>::namespaced(c.client(), ns), up, status).await;
}

/// Creates the `operator.kairos.io/v1alpha1` object `object` (kind, metadata, spec), then
/// writes its `status`, as the operator would.
async fn create_with_status<K>(api: Api<K>, mut object: Value, status: Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + DeserializeOwned,
{
    object["apiVersion"] = json!("operator.kairos.io/v1alpha1");
    let name = object["metadata"]["name"]
        .as_str()
        .expect("a name")
        .to_owned();
    api.create(&PostParams::default(), &from(object))
        .await
        .expect("object created");
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("status written");
}

#[tokio::test]
async fn plugin_status_shows_versions_boot_states_problems_operations_and_cordons() {
    let (c, ns) = plugin_cluster("plugin-status").await;
    let managed = json!({"kairos.io/managed": "true"});
    node(&c, "cp1", managed.clone(), None).await;
    node(&c, "n2", managed.clone(), None).await;
    node(&c, "n3", managed.clone(), Some(&format!("{ns}/fw@uid-1"))).await;
    node(&c, "n4", managed, Some("other/gone@uid-2")).await;
    kairos_node(&c, "cp1", "v3.6.1", json!({}), json!({})).await;
    kairos_node(
        &c,
        "n2",
        "v3.5.0",
        json!({}),
        json!({"lastSeen": ago(180),
        "conditions": [condition("Reporting", "False", "Silent", "no report for an hour")]}),
    )
    .await;
    kairos_node(
        &c,
        "n3",
        "v3.5.0",
        json!({}),
        json!({"bootState": "passive",
        "upgrade": {"state": "RolledBack", "message": "booted the passive system", "attempts": 1}}),
    )
    .await;
    kairos_node(&c, "n4", "v3.5.0", json!({}), json!({})).await;
    nodeop(
        &c,
        &ns,
        "fw",
        json!({}),
        json!({"phase": "Running", "total": 3, "completed": 1, "skipped": 1,
        "failed": 1, "held": "Window",
        "nodeStatuses": {"n3": {"phase": "Failed", "message": "Job failed: exit code 1"}},
        "conditions": [condition("Held", "True", "Window", "window closed until 22:00 UTC")]}),
    )
    .await;
    nodeop(
        &c,
        &ns,
        "done",
        json!({}),
        json!({"phase": "Completed", "total": 1, "completed": 1}),
    )
    .await;
    nodeop(
        &c,
        &ns,
        "to-v3-6-1-abc",
        json!({"operator.kairos.io/nodeopupgrade": "to-v3-6-1"}),
        json!({"phase": "Running", "total": 2, "completed": 1}),
    )
    .await;
    nodeop_upgrade(
        &c,
        &ns,
        "to-v3-6-1",
        json!({"phase": "Running", "total": 3, "completed": 1,
        "skipped": 1, "failed": 0, "nodeOpName": "to-v3-6-1-abc"}),
    )
    .await;

    let out = ok(&c, &["status"]).await;
    let want = "\
Kairos nodes: 4

VERSION   NODES
v3.5.0    3
v3.6.1    1

BOOT      NODES
active    3
passive   1

Not reporting or degraded: 2
NODE   LAST SEEN   PROBLEM
n2     <age>       not reporting: no report for an hour
n3     <age>       upgrade RolledBack: booted the passive system

Operations in flight: 2
OPERATION       KIND            PHASE     DONE   SKIPPED   FAILED   HELD
ops/fw          NodeOp          Running   0/3    1         1        Window: window closed until 22:00 UTC
ops/to-v3-6-1   NodeOpUpgrade   Running   1/3    1         0

Cordoned by the operator: 2
NODE   BY           WHY
n3     ops/fw       Failed: Job failed: exit code 1
n4     other/gone   its operation no longer exists
";
    assert_eq!(out, want, "got:\n{out}");

    // The same through kubectl, which finds `kubectl-kairos` on PATH (the kubeconfig from
    // KUBECONFIG, as kubectl hands its environment to plugins).
    if kairos_e2e::harness::kubectl_available() {
        let bin = locate("kubectl-kairos", "KAIROS_PLUGIN_BIN").expect("plugin built");
        let dir = bin.parent().expect("a directory");
        let path = std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .expect("PATH");
        let via = tokio::process::Command::new("kubectl")
            .args(["kairos", "status"])
            .env("PATH", path)
            .env("KUBECONFIG", c.kubeconfig_path())
            .output()
            .await
            .expect("kubectl runs");
        let text = String::from_utf8_lossy(&via.stdout);
        assert!(
            via.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&via.stderr)
        );
        assert_eq!(normalise(&text), want);
    }
}

/// Nodes cp1 (control plane), n2, n3 (`tier=edge`) on v3.5.0 and n4 on v3.6.1, all reporting.
async fn upgrade_fleet(c: &Cluster) {
    for (name, labels, version) in [
        (
            "cp1",
            json!({"kairos.io/managed": "true", "node-role.kubernetes.io/control-plane": ""}),
            "v3.5.0",
        ),
        ("n2", json!({"kairos.io/managed": "true"}), "v3.5.0"),
        (
            "n3",
            json!({"kairos.io/managed": "true", "tier": "edge"}),
            "v3.5.0",
        ),
        ("n4", json!({"kairos.io/managed": "true"}), "v3.6.1"),
    ] {
        node(c, name, labels, None).await;
        kairos_node(c, name, version, json!({}), json!({})).await;
    }
}

#[tokio::test]
async fn plugin_upgrade_prints_the_plan_then_creates_the_nodeopupgrade() {
    let (c, ns) = plugin_cluster("plugin-upgrade").await;
    upgrade_fleet(&c).await;
    let upgrades = Api::<NodeOpUpgrade>::namespaced(c.client(), &ns);

    let out = ok(&c, &["upgrade", "-n", &ns, "--to", "v3.6.1", "--dry-run"]).await;
    assert_eq!(
        out,
        "\
NodeOpUpgrade ops/upgrade-to-v3-6-1
  image:        quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1
  nodeSelector: kairos.io/managed=true
  concurrency:  1
3 of 4 target node(s) to upgrade
NODE   VERSION   ACTION
cp1    v3.5.0    upgrade to v3.6.1
n2     v3.5.0    upgrade to v3.6.1
n3     v3.5.0    upgrade to v3.6.1
n4     v3.6.1    skip: already runs v3.6.1
dry run: nothing written
"
    );
    assert!(
        upgrades
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "a dry run writes nothing"
    );

    let args = [
        "upgrade",
        "-n",
        &ns,
        "--to",
        "v3.6.1",
        "-l",
        "tier=edge",
        "--concurrency",
        "2",
    ];
    let out = ok(&c, &args).await;
    assert_eq!(
        out,
        "\
NodeOpUpgrade ops/upgrade-to-v3-6-1
  image:        quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1
  nodeSelector: tier=edge
  concurrency:  2
1 of 1 target node(s) to upgrade
NODE   VERSION   ACTION
n3     v3.5.0    upgrade to v3.6.1
nodeopupgrade.operator.kairos.io/upgrade-to-v3-6-1 created
"
    );
    let created = upgrades.get("upgrade-to-v3-6-1").await.expect("created");
    assert_eq!(
        created.spec.image,
        "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1"
    );
    assert_eq!(created.spec.concurrency, 2);
    assert_eq!(
        serde_json::to_value(&created.spec.node_selector).expect("json"),
        json!({"matchLabels": {"tier": "edge"}})
    );

    let err = fails(&c, &args).await;
    assert!(
        err.contains("cannot create the NodeOpUpgrade (pass --name to choose another name)")
            && err.contains("already exists"),
        "{err}"
    );
    let err = fails(&c, &["upgrade", "-n", &ns, "--to", "latest"]).await;
    assert_eq!(
        err,
        "error: --to \"latest\" is not a Kairos version (v3.6.1, v3.6.1-rc1, ...)\n"
    );
}

#[tokio::test]
async fn plugin_upgrade_of_named_nodes_sets_their_kairosnode_versions() {
    let (c, _ns) = plugin_cluster("plugin-upgrade-nodes").await;
    upgrade_fleet(&c).await;
    let out = ok(&c, &["upgrade", "--to", "v3.6.1", "n2", "n4"]).await;
    assert_eq!(
        out,
        "\
KairosNode spec.version on 2 node(s)
1 of 2 target node(s) to upgrade
NODE   VERSION   ACTION
n2     v3.5.0    set spec.version v3.6.1: upgrade
n4     v3.6.1    set spec.version v3.6.1: already runs it
kairosnode.operator.kairos.io/n2 patched
kairosnode.operator.kairos.io/n4 patched
"
    );
    let api = Api::<KairosNode>::all(c.client());
    for (name, want) in [("n2", Some("v3.6.1")), ("n4", Some("v3.6.1")), ("n3", None)] {
        let kn = api.get(name).await.expect("kairos node");
        assert_eq!(kn.spec.version.as_deref(), want, "{name}");
    }
    let err = fails(
        &c,
        &["upgrade", "--to", "v3.6.1", "n2", "--concurrency", "2"],
    )
    .await;
    assert!(
        err.contains("--concurrency applies to a fleet upgrade"),
        "{err}"
    );
    let err = fails(&c, &["upgrade", "--to", "v3.6.1", "ghost"]).await;
    assert!(err.contains("no KairosNode ghost"), "{err}");
}

#[tokio::test]
async fn plugin_pause_and_resume_a_node_an_operation_and_an_upgrade() {
    let (c, ns) = plugin_cluster("plugin-pause").await;
    node(&c, "n1", json!({"kairos.io/managed": "true"}), None).await;
    kairos_node(&c, "n1", "v3.5.0", json!({}), json!({})).await;
    nodeop(&c, &ns, "fw", json!({}), json!({"phase": "Running"})).await;
    nodeop(&c, &ns, "n1", json!({}), json!({"phase": "Running"})).await;
    nodeop(
        &c,
        &ns,
        "up-abc",
        json!({"operator.kairos.io/nodeopupgrade": "up"}),
        json!({"phase": "Running"}),
    )
    .await;
    nodeop_upgrade(
        &c,
        &ns,
        "up",
        json!({"phase": "Running", "nodeOpName": "up-abc"}),
    )
    .await;
    nodeop_upgrade(&c, &ns, "fresh", json!({"phase": "Pending"})).await;
    let nodes = Api::<KairosNode>::all(c.client());
    let ops = Api::<NodeOp>::namespaced(c.client(), &ns);
    let paused_node = || async { nodes.get("n1").await.expect("n1").spec.paused };
    let paused_op = |name: &'static str| {
        let ops = ops.clone();
        async move { ops.get(name).await.expect("nodeop").spec.paused }
    };

    let err = fails(&c, &["pause", "n1", "-n", &ns]).await;
    assert_eq!(
        err,
        "error: n1 names a kairosnode.operator.kairos.io and a nodeop.operator.kairos.io: say which, e.g. kairosnode/n1\n"
    );
    assert_eq!(
        ok(&c, &["pause", "node/n1", "-n", &ns]).await,
        "kairosnode.operator.kairos.io/n1 paused: no upgrade of the node starts; one in flight finishes\n"
    );
    assert_eq!(paused_node().await, Some(true));
    assert_eq!(
        ok(&c, &["resume", "kn/n1"]).await,
        "kairosnode.operator.kairos.io/n1 resumed: new starts may go on\n"
    );
    assert_eq!(paused_node().await, None);

    assert_eq!(
        ok(&c, &["pause", "fw", "-n", &ns]).await,
        "nodeop.operator.kairos.io/fw paused: no new node starts; nodes in flight finish\n"
    );
    assert_eq!(paused_op("fw").await, Some(true));
    assert_eq!(paused_op("n1").await, None, "only the named operation");

    assert_eq!(
        ok(&c, &["pause", "up", "-n", &ns]).await,
        "nodeopupgrade.operator.kairos.io/up paused (through its NodeOp ops/up-abc): no new node starts; nodes in flight finish\n"
    );
    assert_eq!(paused_op("up-abc").await, Some(true));
    assert_eq!(
        ok(&c, &["resume", "nou/up", "-n", &ns]).await,
        "nodeopupgrade.operator.kairos.io/up resumed (through its NodeOp ops/up-abc): new starts may go on\n"
    );
    assert_eq!(paused_op("up-abc").await, None);

    let err = fails(&c, &["pause", "fresh", "-n", &ns]).await;
    assert_eq!(
        err,
        "error: NodeOpUpgrade ops/fresh has no NodeOp yet: nothing runs to pause or resume\n"
    );
    let err = fails(&c, &["pause", "ghost", "-n", &ns]).await;
    assert_eq!(
        err,
        "error: no KairosNode, NodeOpUpgrade or NodeOp named ghost (in namespace ops)\n"
    );
}

/// A Job of the engine on `node` for NodeOp `nodeop`, with `active` pods, in `ns`.
async fn engine_job(c: &Cluster, ns: &str, name: &str, node: &str, nodeop: &str) -> Job {
    let labels = json!({"operator.kairos.io/node": node, "operator.kairos.io/role": "job",
        "operator.kairos.io/nodeop": nodeop});
    let job: Job = from(json!({"metadata": {"name": name, "labels": labels},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": labels},
            "spec": {"restartPolicy": "Never",
                "containers": [{"name": "run", "image": "busybox:latest"}]}}}}));
    let api = Api::<Job>::namespaced(c.client(), ns);
    api.create(&PostParams::default(), &job)
        .await
        .expect("job created");
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"active": 1}})),
    )
    .await
    .expect("job status")
}

#[tokio::test]
async fn plugin_logs_reads_the_latest_job_of_the_node() {
    let (c, ns) = plugin_cluster("plugin-logs").await;
    let err = fails(&c, &["logs", "n1", "--operator-namespace", &ns]).await;
    assert_eq!(err, "error: no Job of node n1 in namespace ops\n");

    engine_job(&c, &ns, "z-older", "n1", "fw").await;
    engine_job(&c, &ns, "y-other-node", "n2", "fw").await;
    // creationTimestamp has a resolution of one second: the next Job is the latest by time,
    // though not by name.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let job = engine_job(&c, &ns, "a-latest", "n1", "up").await;
    let out = ok(&c, &["logs", "n1", "--operator-namespace", &ns]).await;
    assert_eq!(
        out,
        "Job ops/a-latest of NodeOp up on node n1: Running\nPod: none yet\n"
    );

    let pod: Pod = from(json!({"metadata": {"name": "a-latest-x1",
        "labels": {"batch.kubernetes.io/job-name": "a-latest"},
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "a-latest",
            "uid": job.metadata.uid, "controller": true}]},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox:latest"}]}}));
    Api::<Pod>::namespaced(c.client(), &ns)
        .create(&PostParams::default(), &pod)
        .await
        .expect("pod created");
    // No kubelet serves this pod's logs (on either backend): the header names the pod, then
    // the API server's refusal is the error.
    let run = plugin(&c, &["logs", "n1", "--operator-namespace", &ns]).await;
    assert_eq!(
        normalise(&run.stdout),
        "Job ops/a-latest of NodeOp up on node n1: Running\nPod a-latest-x1: Pending\n"
    );
    assert!(
        !run.success
            && run
                .stderr
                .contains("cannot read the logs of pod a-latest-x1"),
        "{run:?}"
    );
}
