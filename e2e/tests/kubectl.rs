//! kubectl against the cluster (the simulator in CI): `get nodes`, `apply -f` of the seed's
//! NodeOp example unchanged, `get nodeops`, `get nodeopupgrades` and `get kn -o wide` with the
//! CRDs' printer columns, and `describe` showing Events recorded through `events.k8s.io` (as the
//! operator records them). Skips, saying why,
//! when kubectl is not installed or the seeds are not beside the repository. Runs processes.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use kairos_e2e::harness::{ReleaseFixture, SimNode};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::json;

fn seed_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds/000_74343175d1bdd906.txt")
}

/// The YAML block of the seed's `example-nodeop`, unchanged.
fn seed_nodeop_yaml(seed: &str) -> String {
    seed.split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("kind: NodeOp\n") && b.contains("name: example-nodeop"))
        .expect("the seed has the example-nodeop block")
        .to_string()
}

#[tokio::test]
async fn kubectl_get_nodes_apply_seed_nodeop_and_printer_columns() {
    if !kairos_e2e::harness::kubectl_available() {
        println!(
            "skipping kubectl_get_nodes_apply_seed_nodeop_and_printer_columns: kubectl is not on PATH"
        );
        return;
    }
    let Ok(seed) = std::fs::read_to_string(seed_file()) else {
        println!(
            "skipping kubectl_get_nodes_apply_seed_nodeop_and_printer_columns: seed {} not found",
            seed_file().display()
        );
        return;
    };
    let (c, _ns) = cluster("kubectl").await;
    c.add_node(SimNode::control_plane(
        "kubectl-cp1",
        ReleaseFixture::ubuntu_k3s("v3.5.0"),
    ))
    .await
    .unwrap();
    c.add_node(SimNode::worker(
        "kubectl-w1",
        ReleaseFixture::alpine_k3s("v3.5.0"),
    ))
    .await
    .unwrap();

    let (ok, out) = c.kubectl(&["get", "nodes"]).await.expect("kubectl runs");
    assert!(ok, "{out}");
    let cp = out
        .lines()
        .find(|l| l.starts_with("kubectl-cp1"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        cp.contains("Ready") && cp.contains("control-plane"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("kubectl-w1") && l.contains("Ready")),
        "{out}"
    );

    let file = c.dir().join("example-nodeop.yaml");
    std::fs::write(&file, seed_nodeop_yaml(&seed)).unwrap();
    let (ok, out) = c
        .kubectl(&["apply", "-f", file.to_str().unwrap()])
        .await
        .expect("kubectl runs");
    assert!(
        ok && out.contains("nodeop.operator.kairos.io/example-nodeop created"),
        "{out}"
    );
    let (ok, out) = c
        .kubectl(&["apply", "-f", file.to_str().unwrap()])
        .await
        .expect("kubectl runs");
    assert!(ok && out.contains("unchanged"), "{out}");

    let api: Api<DynamicObject> = Api::namespaced_with(c.client(), "default", &nodeop_resource());
    let status = json!({"status": {"phase": "Running", "total": 2, "completed": 1, "failed": 0}});
    api.patch_status(
        "example-nodeop",
        &PatchParams::default(),
        &Patch::Merge(&status),
    )
    .await
    .unwrap();
    let (ok, out) = c
        .kubectl(&["get", "nodeops", "-n", "default"])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "PHASE", "NODES", "DONE", "FAILED", "HELD", "UPGRADE", "AGE"
        ],
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..5],
        ["example-nodeop", "Running", "2", "1", "0"],
        "{out}"
    );

    let (ok, out) = c
        .kubectl(&[
            "get",
            "nop",
            "example-nodeop",
            "-o",
            "jsonpath={.spec.image}",
        ])
        .await
        .expect("kubectl runs");
    assert!(ok && out == "busybox:latest", "{out}");
}

#[tokio::test]
async fn kubectl_cordon_and_drain_respect_pod_disruption_budgets() {
    if !kairos_e2e::harness::kubectl_available() {
        println!(
            "skipping kubectl_cordon_and_drain_respect_pod_disruption_budgets: kubectl is not on PATH"
        );
        return;
    }
    let (c, ns) = cluster("kubectl-drain").await;
    c.add_node(SimNode::worker(
        "kubectl-d1",
        ReleaseFixture::ubuntu_k3s("v3.5.0"),
    ))
    .await
    .unwrap();
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.client(), &ns);
    for (name, app) in [("web-0", "web"), ("db-0", "db")] {
        pods.create(
            &kube::api::PostParams::default(),
            &pod(name, json!({"app": app}), Some("kubectl-d1")),
        )
        .await
        .unwrap();
        c.kubelet().run_pod(&ns, name).await.unwrap();
    }
    let pdb = json!({"metadata": {"name": "db"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}});
    Api::<k8s_openapi::api::policy::v1::PodDisruptionBudget>::namespaced(c.client(), &ns)
        .create(
            &kube::api::PostParams::default(),
            &serde_json::from_value(pdb).unwrap(),
        )
        .await
        .unwrap();
    let _auto = c.kubelet().run_auto(kairos_e2e::harness::default_policy());

    let (ok, out) = c
        .kubectl(&[
            "drain",
            "kubectl-d1",
            "--force",
            "--timeout=3s",
            "--grace-period=1",
        ])
        .await
        .expect("kubectl runs");
    assert!(!ok, "the budget blocks the drain: {out}");
    assert!(out.contains("disruption budget"), "{out}");
    let (_, nodes) = c
        .kubectl(&["get", "node", "kubectl-d1"])
        .await
        .expect("kubectl runs");
    assert!(
        nodes.contains("SchedulingDisabled"),
        "drain cordons first: {nodes}"
    );
    assert!(
        pods.get_opt("web-0").await.unwrap().is_none(),
        "the unguarded pod was evicted"
    );
    assert!(
        pods.get_opt("db-0").await.unwrap().is_some(),
        "the guarded pod stays"
    );

    let (ok, out) = c
        .kubectl(&["uncordon", "kubectl-d1"])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    let (_, nodes) = c
        .kubectl(&["get", "node", "kubectl-d1"])
        .await
        .expect("kubectl runs");
    assert!(!nodes.contains("SchedulingDisabled"), "{nodes}");
}

#[tokio::test]
async fn kubectl_explain_and_strict_field_validation() {
    if !kairos_e2e::harness::kubectl_available() {
        println!("skipping kubectl_explain_and_strict_field_validation: kubectl is not on PATH");
        return;
    }
    let (c, ns) = cluster("kubectl-explain").await;
    let (ok, out) = c
        .kubectl(&["explain", "nodeop.spec.concurrency"])
        .await
        .expect("kubectl runs");
    assert!(ok && out.contains("FIELD: concurrency <integer>"), "{out}");
    let (ok, out) = c
        .kubectl(&["explain", "kairosnodes.status.upgrade"])
        .await
        .expect("kubectl runs");
    assert!(ok && out.contains("state"), "{out}");
    let bad = c.dir().join("bad-nodeop.yaml");
    std::fs::write(
        &bad,
        format!(
            "apiVersion: operator.kairos.io/v1alpha1\nkind: NodeOp\nmetadata:\n  name: bad\n  namespace: {ns}\n\
             spec:\n  command: [\"true\"]\n  notAField: 1\n"
        ),
    )
    .unwrap();
    let (ok, out) = c
        .kubectl(&["apply", "-f", bad.to_str().unwrap()])
        .await
        .expect("kubectl runs");
    assert!(
        !ok && out.contains("unknown field \"spec.notAField\""),
        "{out}"
    );
    let (ok, out) = c
        .kubectl(&["apply", "--validate=false", "-f", bad.to_str().unwrap()])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    let (_, out) = c
        .kubectl(&["get", "nodeop", "bad", "-n", &ns, "-o", "jsonpath={.spec}"])
        .await
        .expect("kubectl runs");
    assert!(
        !out.contains("notAField"),
        "pruned when not validated strictly: {out}"
    );
}

#[tokio::test]
async fn kubectl_describe_shows_events_recorded_through_events_k8s_io() {
    if !kairos_e2e::harness::kubectl_available() {
        println!(
            "skipping kubectl_describe_shows_events_recorded_through_events_k8s_io: kubectl is not on PATH"
        );
        return;
    }
    let (c, ns) = cluster("kubectl-events").await;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.client(), &ns);
    let cm = cms
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "described"}})).expect("cm"),
        )
        .await
        .expect("configmap created");
    // Recorded as the operator records its Events: through events.k8s.io/v1.
    let ev: k8s_openapi::api::events::v1::Event = serde_json::from_value(json!({
        "metadata": {"name": "described.1", "namespace": ns},
        "eventTime": "2026-01-02T03:04:05.000000Z",
        "regarding": {"apiVersion": "v1", "kind": "ConfigMap", "name": "described",
            "namespace": ns, "uid": cm.metadata.uid},
        "note": "recorded through events.k8s.io",
        "reason": "RecordedForDescribe",
        "action": "Record",
        "type": "Normal",
        "reportingController": "kairos.io/e2e",
        "reportingInstance": "e2e-1",
    }))
    .expect("event");
    Api::<k8s_openapi::api::events::v1::Event>::namespaced(c.client(), &ns)
        .create(&Default::default(), &ev)
        .await
        .expect("event created");
    let (ok, out) = c
        .kubectl(&["describe", "configmap", "described", "-n", &ns])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    assert!(out.contains("RecordedForDescribe"), "{out}");
    assert!(out.contains("recorded through events.k8s.io"), "{out}");
    let (ok, out) = c
        .kubectl(&[
            "get",
            "events",
            "-n",
            &ns,
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .await
        .expect("kubectl runs");
    assert!(ok && out.contains("RecordedForDescribe"), "{out}");
}

/// kubectl's table of `args`: the header's titles and the rows by title.
async fn table(
    c: &kairos_e2e::harness::Cluster,
    args: &[&str],
) -> (Vec<String>, Vec<std::collections::BTreeMap<String, String>>) {
    let (ok, out) = c.kubectl(args).await.expect("kubectl runs");
    assert!(ok, "{out}");
    (kubectl_header(&out), kubectl_rows(&out))
}

#[tokio::test]
async fn kubectl_get_shows_skipped_nodes_upgrade_nodeops_and_wide_kairosnode_columns() {
    if !kairos_e2e::harness::kubectl_available() {
        println!(
            "skipping kubectl_get_shows_skipped_nodes_upgrade_nodeops_and_wide_kairosnode_columns: kubectl is not on PATH"
        );
        return;
    }
    let (c, ns) = cluster("kubectl-columns").await;
    let upgrade = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("operator.kairos.io", "v1alpha1", "NodeOpUpgrade"),
        "nodeopupgrades",
    );
    let upgrades: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &upgrade);
    upgrades
        .create(
            &PostParams::default(),
            &dynamic(json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOpUpgrade",
                "metadata": {"name": "nothing-to-do"},
                "spec": {"image": "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1"}})),
        )
        .await
        .unwrap();
    let status = json!({"status": {"phase": "Completed", "total": 1, "completed": 0, "skipped": 1, "failed": 0}});
    upgrades
        .patch_status(
            "nothing-to-do",
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    let (header, rows) = table(&c, &["get", "nodeopupgrades", "-n", &ns]).await;
    assert_eq!(
        header,
        [
            "NAME", "PHASE", "NODES", "DONE", "SKIPPED", "FAILED", "HELD", "AGE"
        ]
    );
    let cells: Vec<&str> = ["NAME", "PHASE", "NODES", "DONE", "SKIPPED", "FAILED"]
        .iter()
        .map(|t| rows[0][*t].as_str())
        .collect();
    assert_eq!(cells, ["nothing-to-do", "Completed", "1", "0", "1", "0"]);

    let nodeops: Api<DynamicObject> = Api::namespaced_with(c.client(), &ns, &nodeop_resource());
    for (name, labels) in [
        ("by-hand", json!({})),
        (
            "to-v3-6-1-abc",
            json!({"operator.kairos.io/nodeopupgrade": "to-v3-6-1"}),
        ),
    ] {
        let mut op = nodeop(name);
        op.metadata.labels = serde_json::from_value(labels).unwrap();
        nodeops.create(&PostParams::default(), &op).await.unwrap();
    }
    let (header, rows) = table(&c, &["get", "nodeops", "-n", &ns]).await;
    assert!(header.contains(&"UPGRADE".to_owned()), "{header:?}");
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["NAME"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))["UPGRADE"]
            .clone()
    };
    assert_eq!(by_name("by-hand"), "");
    assert_eq!(by_name("to-v3-6-1-abc"), "to-v3-6-1");

    let kns: Api<DynamicObject> = Api::all_with(c.client(), &kairosnode_resource());
    kns.create(
        &PostParams::default(),
        &dynamic(
            json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
            "metadata": {"name": "kn-wide"}, "spec": {"version": "v3.6.1", "paused": true}}),
        ),
    )
    .await
    .unwrap();
    // Ten days ago: kubectl writes `10d` (and would write years after two of them).
    let ten_days_ago =
        k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_hours(240);
    let status = json!({"status": {"kairos": {"version": "v3.5.0"}, "lastSeen": ten_days_ago.to_string(),
        "upgrade": {"state": "Pending", "nodeOp": "kairos-system/kn-wide-up", "message": "paused: spec.paused holds the upgrade", "attempts": 0}}});
    kns.patch_status("kn-wide", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let (header, rows) = table(&c, &["get", "kn", "-o", "wide"]).await;
    assert_eq!(
        header,
        [
            "NAME",
            "VERSION",
            "DESIRED",
            "STATE",
            "BOOT",
            "TRUSTED",
            "OS",
            "AGE",
            "PAUSED",
            "OPERATION",
            "LAST SEEN",
            "MESSAGE",
            "CONFIG"
        ]
    );
    let row = &rows[0];
    assert_eq!(row["NAME"], "kn-wide");
    assert_eq!(row["PAUSED"], "true");
    assert_eq!(row["OPERATION"], "kairos-system/kn-wide-up");
    assert_eq!(row["LAST SEEN"], "10d", "{row:?}");
    assert_eq!(row["MESSAGE"], "paused: spec.paused holds the upgrade");
}
