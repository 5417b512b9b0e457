use serde_json::{Value, json};

use super::*;

fn now() -> Timestamp {
    "2026-12-06T12:00:00Z".parse().expect("time")
}

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("object")
}

fn kn(name: &str, version: &str, boot: &str, extra: Value) -> KairosNode {
    let mut status = json!({"kairos": {"version": version}, "bootState": boot,
        "lastSeen": "2026-12-06T11:58:00Z",
        "conditions": [{"type": "Reporting", "status": "True", "reason": "Reported", "message": "",
            "lastTransitionTime": "2026-12-06T10:00:00Z"}]});
    if let (Some(s), Some(e)) = (status.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    from(
        json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": name}, "spec": {}, "status": status}),
    )
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-12-06T10:00:00Z"})
}

fn fixtures() -> (Vec<KairosNode>, Vec<Node>, Vec<NodeOp>, Vec<NodeOpUpgrade>) {
    let kns = vec![
        kn("cp1", "v3.6.1", "active", json!({})),
        kn(
            "n2",
            "v3.5.0",
            "active",
            json!({
            "lastSeen": "2026-12-06T11:40:00Z",
            "conditions": [condition("Reporting", "False", "Silent", "no report for 20m")]}),
        ),
        kn(
            "n3",
            "v3.5.0",
            "passive",
            json!({
            "upgrade": {"state": "RolledBack", "message": "booted the passive system", "attempts": 1}}),
        ),
        kn(
            "n4",
            "v3.5.0",
            "recovery",
            json!({
            "conditions": [condition("Reporting", "True", "Reported", ""),
                condition("Degraded", "True", "ReportErrors", "malformed /etc/kairos-release")]}),
        ),
    ];
    let nodes = vec![
        from(json!({"metadata": {"name": "n4", "annotations": {
            "operator.kairos.io/cordoned-by": "default/to-v3-6-1-abc@uid-1"}},
            "spec": {"unschedulable": true}})),
        from(json!({"metadata": {"name": "n5"}, "spec": {"unschedulable": true}})),
        from(json!({"metadata": {"name": "n3", "annotations": {
            "operator.kairos.io/cordoned-by": "default/gone@uid-9"}},
            "spec": {"unschedulable": true}})),
    ];
    let nodeops = vec![
        from(
            json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "to-v3-6-1-abc", "namespace": "default",
                "labels": {"operator.kairos.io/nodeopupgrade": "to-v3-6-1"}},
            "spec": {"command": ["sh"]},
            "status": {"phase": "Running", "total": 3, "completed": 1, "failed": 0,
                "nodeStatuses": {"n4": {"phase": "Running", "message": "upgrade Job running"}}}}),
        ),
        from(
            json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "fw", "namespace": "ops"},
            "spec": {"command": ["sh"]},
            "status": {"phase": "Running", "total": 3, "completed": 1, "skipped": 1, "failed": 1,
                "held": "Window",
                "conditions": [condition("Held", "True", "Window", "window closed until 22:00 UTC")]}}),
        ),
        from(
            json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "old", "namespace": "ops"},
            "spec": {"command": ["sh"]},
            "status": {"phase": "Completed", "total": 2, "completed": 2}}),
        ),
        from(
            json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "kn-cp1-x", "namespace": "kairos-system",
                "labels": {"operator.kairos.io/kairosnode": "cp1"}},
            "spec": {"command": ["sh"]}}),
        ),
    ];
    let upgrades = vec![from(json!({"apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOpUpgrade",
        "metadata": {"name": "to-v3-6-1", "namespace": "default"},
        "spec": {"image": "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1"},
        "status": {"phase": "Running", "total": 3, "completed": 1, "skipped": 1, "failed": 0,
            "nodeOpName": "to-v3-6-1-abc"}}))];
    (kns, nodes, nodeops, upgrades)
}

fn fleet<'a>(
    kairos_nodes: &'a [KairosNode],
    nodes: &'a [Node],
    nodeops: &'a [NodeOp],
    upgrades: &'a [NodeOpUpgrade],
) -> Fleet<'a> {
    Fleet {
        kairos_nodes,
        nodes,
        nodeops,
        upgrades,
    }
}

#[test]
fn the_fleet_at_a_glance() {
    let (kns, nodes, nodeops, upgrades) = fixtures();
    let fleet = fleet(&kns, &nodes, &nodeops, &upgrades);
    let want = "\
Kairos nodes: 4

VERSION   NODES
v3.5.0    3
v3.6.1    1

BOOT       NODES
active     2
passive    1
recovery   1

Not reporting or degraded: 3
NODE   LAST SEEN   PROBLEM
n2     20m         not reporting: no report for 20m
n3     2m          upgrade RolledBack: booted the passive system
n4     2m          degraded: malformed /etc/kairos-release

Operations in flight: 3
OPERATION                KIND             PHASE     DONE   SKIPPED   FAILED   HELD
default/to-v3-6-1        NodeOpUpgrade    Running   1/3    1         0
kairos-system/kn-cp1-x   upgrade of cp1   Pending   0/0    0         0
ops/fw                   NodeOp           Running   0/3    1         1        Window: window closed until 22:00 UTC

Cordoned by the operator: 2
NODE   BY                      WHY
n3     default/gone            its operation no longer exists
n4     default/to-v3-6-1-abc   Running: upgrade Job running
";
    assert_eq!(render_status(fleet, now(), false), want);
}

#[test]
fn an_empty_cluster_says_none_everywhere() {
    let fleet = fleet(&[], &[], &[], &[]);
    assert_eq!(
        render_status(fleet, now(), false),
        "Kairos nodes: 0\n\nVERSION   NODES\n\nBOOT   NODES\n\nNot reporting or degraded: none\n\nOperations in flight: none\n\nCordoned by the operator: none\n"
    );
}

#[test]
fn colour_marks_failures_and_holds_only_when_asked() {
    let (kns, nodes, nodeops, upgrades) = fixtures();
    let fleet = fleet(&kns, &nodes, &nodeops, &upgrades);
    let coloured = render_status(fleet, now(), true);
    assert!(coloured.contains("\x1b[31mnot reporting"), "{coloured}");
    assert!(coloured.contains("\x1b[33mWindow: "), "{coloured}");
    assert!(!render_status(fleet, now(), false).contains('\x1b'));
}
