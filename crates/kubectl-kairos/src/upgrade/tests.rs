use serde_json::json;

use super::*;

fn node(name: &str, labels: Value) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("node")
}

fn kn(name: &str, repo: &str, version: &str, spec: Value) -> KairosNode {
    serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": name}, "spec": spec,
        "status": {"kairos": {"version": version, "imageRepo": repo,
            "imageLabel": format!("24.04-standard-amd64-generic-{version}-k3sv1.33.1-k3s1")}},
    }))
    .expect("kairos node")
}

const UBUNTU: &str = "quay.io/kairos/ubuntu";

fn cluster() -> (Vec<Node>, Vec<KairosNode>) {
    let managed = json!({"kairos.io/managed": "true"});
    let nodes = vec![
        node(
            "cp1",
            json!({"kairos.io/managed": "true", "node-role.kubernetes.io/control-plane": ""}),
        ),
        node("n2", managed.clone()),
        node("n3", managed.clone()),
        node("n4", json!({"kairos.io/managed": "true", "tier": "edge"})),
        node("plain", json!({})),
    ];
    let kns = vec![
        kn("cp1", UBUNTU, "v3.5.0", json!({})),
        kn("n2", UBUNTU, "v3.6.1", json!({})),
        kn("n3", UBUNTU, "v3.5.0", json!({"version": "v3.5.2"})),
        kn("n4", UBUNTU, "v3.5.0", json!({"paused": true})),
    ];
    (nodes, kns)
}

fn request(to: &str) -> Request {
    Request {
        to: to.to_owned(),
        namespace: "default".to_owned(),
        ..Request::default()
    }
}

#[test]
fn a_fleet_upgrade_targets_every_kairos_node_and_says_who_is_skipped() {
    let (nodes, kns) = cluster();
    let plan = plan(&request("v3.6.1"), &nodes, &kns).expect("plans");
    let Plan::Fleet { upgrade, .. } = &plan else {
        panic!("a fleet upgrade expected");
    };
    assert_eq!(upgrade.metadata.name.as_deref(), Some("upgrade-to-v3-6-1"));
    assert_eq!(upgrade.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(upgrade.spec.concurrency, 1);
    assert_eq!(
        describe(&plan, false),
        "\
NodeOpUpgrade default/upgrade-to-v3-6-1
  image:        quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1
  nodeSelector: kairos.io/managed=true
  concurrency:  1
2 of 4 target node(s) to upgrade
NODE   VERSION   ACTION
cp1    v3.5.0    upgrade to v3.6.1
n2     v3.6.1    skip: already runs v3.6.1
n3     v3.5.0    skip: its KairosNode pins v3.5.2
n4     v3.5.0    upgrade to v3.6.1
"
    );
}

#[test]
fn a_selector_narrows_the_fleet_and_is_carried_to_the_upgrade() {
    let (nodes, kns) = cluster();
    let req = Request {
        selector: Some("tier=edge".to_owned()),
        concurrency: Some(3),
        name: Some("edge".to_owned()),
        ..request("3.6.1")
    };
    let plan = plan(&req, &nodes, &kns).expect("plans");
    let Plan::Fleet { upgrade, rows } = &plan else {
        panic!("a fleet upgrade expected");
    };
    assert_eq!(upgrade.metadata.name.as_deref(), Some("edge"));
    assert_eq!(upgrade.spec.concurrency, 3);
    assert_eq!(
        upgrade.spec.image,
        "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1"
    );
    assert_eq!(
        upgrade.spec.node_selector.as_ref().map(display).as_deref(),
        Some("tier=edge")
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].node, "n4");
}

#[test]
fn named_nodes_get_spec_version_each() {
    let (nodes, kns) = cluster();
    let req = Request {
        nodes: vec!["n2".to_owned(), "n4".to_owned()],
        ..request("v3.6.1")
    };
    let plan = plan(&req, &nodes, &kns).expect("plans");
    let Plan::PerNode { patches, .. } = &plan else {
        panic!("per-node upgrades expected");
    };
    assert_eq!(
        patches,
        &[
            ("n2".to_owned(), json!({"spec": {"version": "v3.6.1"}})),
            ("n4".to_owned(), json!({"spec": {"version": "v3.6.1"}})),
        ]
    );
    assert_eq!(
        describe(&plan, false),
        "\
KairosNode spec.version on 2 node(s)
1 of 2 target node(s) to upgrade
NODE   VERSION   ACTION
n2     v3.6.1    set spec.version v3.6.1: already runs it
n4     v3.5.0    set spec.version v3.6.1: upgrade (paused: waits for resume)
"
    );
}

#[test]
fn bad_requests_are_refused_before_anything_is_written() {
    let (nodes, mut kns) = cluster();
    let fails = |req: Request, kns: &[KairosNode]| {
        plan(&req, &nodes, kns).expect_err("refused").to_string()
    };
    assert!(fails(request("latest"), &kns).contains("not a Kairos version"));
    let per_node = Request {
        nodes: vec!["n4".to_owned()],
        concurrency: Some(2),
        ..request("v3.6.1")
    };
    assert!(fails(per_node, &kns).contains("--concurrency applies to a fleet upgrade"));
    let unknown = Request {
        nodes: vec!["plain".to_owned()],
        ..request("v3.6.1")
    };
    assert_eq!(
        fails(unknown, &kns),
        "no KairosNode plain: its agent has not reported a Kairos release"
    );
    let image = Request {
        image: Some("quay.io/kairos/ubuntu:v3.6.0".to_owned()),
        ..request("v3.6.1")
    };
    assert!(fails(image, &kns).contains("names version v3.6.0, not v3.6.1"));
    let selector = Request {
        selector: Some("a in (".to_owned()),
        ..request("v3.6.1")
    };
    assert!(fails(selector, &kns).contains("invalid label selector"));
    kns[3] = kn("n4", "quay.io/kairos/alpine", "v3.5.0", json!({}));
    let mixed = fails(request("v3.6.1"), &kns);
    assert!(
        mixed.contains("different images")
            && mixed.contains("for cp1")
            && mixed.contains("alpine:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1 for n4"),
        "{mixed}"
    );
}

#[test]
fn an_explicit_image_is_used_as_given() {
    let (nodes, kns) = cluster();
    let req = Request {
        image: Some("registry.local/kairos:v3.6.1".to_owned()),
        ..request("v3.6.1")
    };
    let Plan::Fleet { upgrade, .. } = plan(&req, &nodes, &kns).expect("plans") else {
        panic!("a fleet upgrade expected");
    };
    assert_eq!(upgrade.spec.image, "registry.local/kairos:v3.6.1");
}

#[test]
fn default_names_are_object_names() {
    assert_eq!(default_name("v3.6.1"), "upgrade-to-v3-6-1");
    assert_eq!(default_name("V3.6.1-RC.1"), "upgrade-to-v3-6-1-rc-1");
}

/// `cluster()` with `names` reporting a trusted (UKI) boot.
fn trusted(names: &[&str]) -> (Vec<Node>, Vec<KairosNode>) {
    let (nodes, mut kns) = cluster();
    for kn in &mut kns {
        if names.contains(&kn.metadata.name.as_deref().unwrap_or_default()) {
            kn.status.get_or_insert_default().trusted_boot = Some(true);
        }
    }
    (nodes, kns)
}

#[test]
fn trusted_boot_nodes_need_an_image_and_get_a_trusted_boot_upgrade() {
    let (nodes, kns) = trusted(&["cp1", "n4"]);
    let req = Request {
        selector: Some("kairos.io/managed=true".to_owned()),
        ..request("v3.6.1")
    };
    let e = plan(&req, &nodes, &kns).expect_err("no image for a UKI node");
    assert!(e.to_string().starts_with("cp1 boots trusted (UKI)"), "{e}");
    let req = Request {
        image: Some("registry.local/edge/uki:v3.6.1".to_owned()),
        ..req
    };
    let Plan::Fleet { upgrade, .. } = plan(&req, &nodes, &kns).expect("plans") else {
        panic!("a fleet upgrade expected");
    };
    assert!(upgrade.spec.trusted_boot);
}

#[test]
fn trusted_boot_and_other_nodes_are_not_upgraded_together() {
    let (nodes, kns) = trusted(&["cp1"]);
    let req = Request {
        image: Some("registry.local/edge/uki:v3.6.1".to_owned()),
        ..request("v3.6.1")
    };
    let e = plan(&req, &nodes, &kns).expect_err("mixed boot kinds");
    assert_eq!(
        e.to_string(),
        "cp1 boot trusted (UKI) and n4 do not, so one image cannot upgrade them all; narrow the selector (-l) or name the nodes"
    );
}

#[test]
fn a_named_trusted_boot_node_gets_its_image_and_trusted_boot() {
    let (_, kns) = trusted(&["cp1"]);
    let req = Request {
        nodes: vec!["cp1".to_owned()],
        ..request("v3.6.1")
    };
    let e = plan(&req, &[], &kns).expect_err("no image");
    assert!(
        matches!(e, PlanError::TrustedBootNeedsImage(ref n) if n == "cp1"),
        "{e}"
    );
    let req = Request {
        image: Some("registry.local/edge/uki:v3.6.1".to_owned()),
        ..req
    };
    let Plan::PerNode { patches, .. } = plan(&req, &[], &kns).expect("plans") else {
        panic!("per-node upgrades expected");
    };
    assert_eq!(
        patches[0].1,
        json!({"spec": {"version": "v3.6.1", "image": "registry.local/edge/uki:v3.6.1", "trustedBoot": true}})
    );
}
