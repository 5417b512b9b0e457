//! Table tests of the fleet planner: given nodes and an upgrade, when planned, then which
//! NodeOp is applied and what the status says.

use kairos_api::names::{LABEL_MANAGED, LABEL_NODEOP_UPGRADE, conditions};
use kairos_api::v1alpha1::{
    BootState, NodeOp, NodeOpUpgrade, NodePhase, OperationPhase, UpgradeState, UpgradeStatus,
};
use serde_json::json;

use super::fixtures::*;
use crate::conditions::find;
use crate::upgrade::fleet::{FleetObserved, FleetPlan, SPEC_APPLIED, plan_fleet};
use crate::upgrade::script::{ScriptOptions, render};
use crate::upgrade::{ANNOTATION_TARGET_VERSION, ANNOTATION_TARGETS_HASH, UPGRADE_BACKOFF_LIMIT};

fn plan(
    up: &NodeOpUpgrade,
    nodes: Vec<super::super::fleet::ObservedNode>,
    op: Option<NodeOp>,
) -> FleetPlan {
    let observed = FleetObserved { nodes, nodeop: op };
    plan_fleet(up, &observed, t(100)).unwrap()
}

fn skipped_message(p: &FleetPlan, node: &str) -> String {
    let st = &p.status.node_statuses[node];
    assert_eq!(st.phase, NodePhase::Skipped, "{node}");
    st.message.clone().unwrap()
}

fn targets(p: &FleetPlan) -> Vec<String> {
    p.nodeop_to_apply
        .as_ref()
        .unwrap()
        .spec
        .target_nodes
        .clone()
        .unwrap()
}

#[test]
fn a_fleet_upgrade_becomes_one_owned_nodeop_with_the_upgrade_script() {
    let up = upgrade(json!({"image": IMAGE_360, "concurrency": 2, "stopOnFailure": true}));
    let p = plan(&up, six("v3.5.0"), None);
    let op = p.nodeop_to_apply.as_ref().unwrap();
    assert_eq!(op.metadata.name.as_deref(), Some("up"));
    assert_eq!(op.metadata.namespace.as_deref(), Some("ops"));
    let owner = &op.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("NodeOpUpgrade", "uid-up", Some(true))
    );
    assert_eq!(
        op.metadata.labels.as_ref().unwrap()[LABEL_NODEOP_UPGRADE],
        "up"
    );
    assert_eq!(
        op.metadata.annotations.as_ref().unwrap()[ANNOTATION_TARGET_VERSION],
        "v3.6.0"
    );
    let s = &op.spec;
    assert_eq!(
        s.target_nodes.as_deref().unwrap(),
        ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    );
    assert_eq!(s.image, IMAGE_360);
    let opts = ScriptOptions {
        upgrade_active: true,
        ..ScriptOptions::default()
    };
    assert_eq!(
        s.command,
        vec!["/bin/sh".to_owned(), "-c".to_owned(), render(&opts)]
    );
    assert_eq!(s.host_mount_path, "/host");
    assert!(s.cordon() && s.drain() && s.reboot_on_success() && s.stop_on_failure());
    assert!(!s.uncordon_on_failure());
    let drain = s.drain_options.as_ref().unwrap();
    assert!(drain.ignore_daemon_sets && drain.delete_empty_dir_data && drain.force == Some(false));
    assert_eq!(
        (s.concurrency, s.backoff_limit),
        (2, Some(UPGRADE_BACKOFF_LIMIT))
    );
    assert!(
        s.preflight.is_some(),
        "an active-only upgrade skips up-to-date nodes in preflight"
    );
    assert!(
        s.node_selector.is_none(),
        "the computed target list replaces the selector"
    );

    assert_eq!(p.status.phase, Some(OperationPhase::Pending));
    assert_eq!(p.status.node_op_name.as_deref(), Some("up"));
    assert_eq!(
        (p.status.total, p.status.completed, p.status.failed),
        (6, 0, 0)
    );
    assert_eq!(p.status.observed_generation, Some(1));
    assert_eq!(
        find(&p.status.conditions, conditions::PROGRESSING)
            .unwrap()
            .status,
        "True"
    );
    assert_eq!(
        find(&p.status.conditions, SPEC_APPLIED).unwrap().status,
        "True"
    );
}

#[test]
fn nodes_already_at_the_target_are_skipped_unless_force() {
    let mut nodes = six("v3.5.0");
    nodes[1] = node("cp2", true, "v3.6.0");
    nodes[4] = node("w2", false, "v3.6.0");
    let p = plan(&upgrade(json!({"image": IMAGE_360})), nodes.clone(), None);
    assert_eq!(targets(&p), ["cp1", "cp3", "w1", "w3"]);
    assert_eq!(skipped_message(&p, "cp2"), "already runs v3.6.0");
    assert!(p.status.node_statuses["cp2"].control_plane);
    assert_eq!(
        (p.status.total, p.status.completed, p.status.skipped),
        (6, 0, 2)
    );

    // Same Kairos version, another Kubernetes version: not certainly up to date.
    let mut other_k8s = nodes.clone();
    let kn_w2 = other_k8s[4].kairos_node.as_mut().unwrap();
    let info = kn_w2.status.as_mut().unwrap().kairos.as_mut().unwrap();
    info.software_version = Some("v1.32.0+k3s1".into());
    let p = plan(&upgrade(json!({"image": IMAGE_360})), other_k8s, None);
    assert_eq!(targets(&p), ["cp1", "cp3", "w1", "w2", "w3"]);

    let forced = plan(
        &upgrade(json!({"image": IMAGE_360, "force": true})),
        nodes.clone(),
        None,
    );
    assert_eq!(targets(&forced).len(), 6);
    // Forced: the preflight only pulls the image before the cordon, it skips nothing.
    let preflight = forced.nodeop_to_apply.unwrap().spec.preflight.unwrap();
    assert_eq!(
        preflight.command[2],
        crate::upgrade::script::PULL_ONLY_PREFLIGHT
    );

    // The host's version says nothing about the recovery system: never skipped for it.
    let recovery = json!({"image": IMAGE_360, "upgradeRecovery": true});
    assert_eq!(
        targets(&plan(&upgrade(recovery), nodes.clone(), None)).len(),
        6
    );
    let recovery_only =
        json!({"image": IMAGE_360, "upgradeActive": false, "upgradeRecovery": true});
    let p = plan(&upgrade(recovery_only), nodes, None);
    let spec = &p.nodeop_to_apply.unwrap().spec;
    assert_eq!(spec.target_nodes.as_ref().unwrap().len(), 6);
    assert!(
        !spec.reboot_on_success(),
        "only a new active system needs a reboot"
    );
}

#[test]
fn a_node_booted_passive_or_unknown_at_the_target_version_is_not_skipped() {
    let nodes = vec![
        bare_node("n1", false, Some(kn("n1", "v3.6.0", BootState::Passive))),
        bare_node("n2", false, Some(kn("n2", "v3.6.0", BootState::Unknown))),
    ];
    assert_eq!(
        targets(&plan(&upgrade(json!({"image": IMAGE_360})), nodes, None)),
        ["n1", "n2"]
    );
}

#[test]
fn a_pinned_node_is_never_upgraded_by_the_fleet() {
    let mut nodes = six("v3.5.0");
    nodes[3].kairos_node = Some(pinned(kn("w1", "v3.5.0", BootState::Active), "v3.5.1"));
    nodes[4].kairos_node = Some(pinned(kn("w2", "v3.5.0", BootState::Active), "v3.6.0"));
    for force in [false, true] {
        let p = plan(
            &upgrade(json!({"image": IMAGE_360, "force": force})),
            nodes.clone(),
            None,
        );
        assert_eq!(targets(&p), ["cp1", "cp2", "cp3", "w3"]);
        assert_eq!(
            skipped_message(&p, "w1"),
            "pinned to v3.5.1 by KairosNode spec.version"
        );
        assert_eq!(
            skipped_message(&p, "w2"),
            "pinned to v3.6.0 by KairosNode spec.version"
        );
    }
}

#[test]
fn other_exclusions_are_reported_with_their_reason() {
    let mut busy = kn("busy", "v3.5.0", BootState::Active);
    busy.status.as_mut().unwrap().upgrade = Some(UpgradeStatus {
        state: UpgradeState::InProgress,
        node_op: Some("kairos-system/kn-busy-v3.5.1".into()),
        ..UpgradeStatus::default()
    });
    let mut ours = kn("ours", "v3.5.0", BootState::Active);
    ours.status.as_mut().unwrap().upgrade = Some(UpgradeStatus {
        state: UpgradeState::Pending,
        node_op: Some("ops/up".into()),
        ..UpgradeStatus::default()
    });
    let mut managed = bare_node("managed", false, None);
    managed.labels.insert(LABEL_MANAGED.into(), "true".into());
    let nodes = vec![
        bare_node("busy", false, Some(busy)),
        bare_node("ours", false, Some(ours)),
        bare_node("live", false, Some(kn("live", "v3.5.0", BootState::Livecd))),
        bare_node("plain", false, None),
        managed,
    ];
    let p = plan(&upgrade(json!({"image": IMAGE_360})), nodes.clone(), None);
    assert_eq!(targets(&p), ["managed", "ours"]);
    assert!(
        skipped_message(&p, "busy")
            .contains("another upgrade of this node is in flight (kairos-system/kn-busy-v3.5.1)")
    );
    assert!(skipped_message(&p, "live").contains("live medium"));
    assert!(skipped_message(&p, "plain").starts_with("not a Kairos node"));

    // Named explicitly, a node without KairosNode is upgraded; unknown names are reported.
    let named = json!({"image": IMAGE_360, "targetNodes": ["plain", "ghost"]});
    let p = plan(&upgrade(named), nodes, None);
    assert_eq!(targets(&p), ["plain"]);
    assert_eq!(skipped_message(&p, "ghost"), "no Node named ghost exists");
}

#[test]
fn the_node_selector_chooses_candidates_and_an_invalid_one_is_reported() {
    let sel = json!({"image": IMAGE_360, "nodeSelector": {"matchExpressions": [
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}});
    assert_eq!(
        targets(&plan(&upgrade(sel), six("v3.5.0"), None)),
        ["cp1", "cp2", "cp3"]
    );
    let bad = json!({"image": IMAGE_360, "nodeSelector": {"matchExpressions": [
        {"key": "x", "operator": "Near"}]}});
    let p = plan(&upgrade(bad), six("v3.5.0"), None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.phase, Some(OperationPhase::Failed));
    let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "InvalidSelector")
    );
    assert!(c.message.contains("Near"));
    assert!(
        c.message.starts_with("invalid nodeSelector"),
        "{}",
        c.message
    );
}

#[test]
fn when_every_node_is_skipped_no_nodeop_is_created_and_it_stays_done() {
    let up = upgrade(json!({"image": IMAGE_360}));
    let p = plan(&up, six("v3.6.0"), None);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.phase, Some(OperationPhase::Completed));
    assert_eq!(p.status.node_op_name, None);
    // Nothing was upgraded: `kubectl get` shows the six apart, as skipped.
    assert_eq!(
        (p.status.total, p.status.completed, p.status.skipped),
        (6, 0, 6)
    );

    // Later a node falls behind: the finished upgrade does not start again.
    let mut done = up.clone();
    done.status = Some(p.status.clone());
    let again = plan(&done, six("v3.5.0"), None);
    assert!(again.nodeop_to_apply.is_none());
    assert_eq!(again.status.node_statuses, p.status.node_statuses);
    // ... unless the spec changed (a new generation).
    done.metadata.generation = Some(2);
    assert!(plan(&done, six("v3.5.0"), None).nodeop_to_apply.is_some());
}

/// The NodeOp of a first plan, as the API server would return it with a status.
fn started(
    up: &NodeOpUpgrade,
    nodes: Vec<super::super::fleet::ObservedNode>,
) -> (FleetPlan, NodeOp) {
    let first = plan(up, nodes, None);
    let op = first.nodeop_to_apply.clone().unwrap();
    (first, op)
}

#[test]
fn the_status_mirrors_the_nodeop_and_keeps_the_skipped_nodes() {
    let mut nodes = six("v3.5.0");
    nodes[5] = node("w3", false, "v3.6.0");
    let mut up = upgrade(json!({"image": IMAGE_360, "concurrency": 2}));
    let (first, op) = started(&up, nodes.clone());
    up.status = Some(first.status);
    let running = with_status(
        op,
        OperationPhase::Running,
        &[
            ("cp1", entry(NodePhase::Completed)),
            ("cp2", entry(NodePhase::Running)),
            ("cp3", entry(NodePhase::Pending)),
            ("w1", entry(NodePhase::Pending)),
            ("w2", entry(NodePhase::RolledBack)),
        ],
    );
    // Meanwhile cp1 reached the target and a new node joined: neither changes the targets.
    nodes[0] = node("cp1", true, "v3.6.0");
    nodes.push(node("w4", false, "v3.5.0"));
    let p = plan(&up, nodes, Some(running));
    assert_eq!(targets(&p), ["cp1", "cp2", "cp3", "w1", "w2"]);
    let st = &p.status;
    assert_eq!(st.phase, Some(OperationPhase::Running));
    assert_eq!(st.node_statuses["cp2"].phase, NodePhase::Running);
    assert_eq!(skipped_message(&p, "w3"), "already runs v3.6.0");
    assert!(skipped_message(&p, "w4").contains("matched after the upgrade started"));
    assert_eq!(
        (st.total, st.completed, st.skipped, st.failed),
        (7, 1, 2, 1)
    );
    assert_eq!(
        st.message.as_deref(),
        Some("upgrading to v3.6.0: 3/7 done, 1 in progress, 1 failed")
    );
    let failed = find(&st.conditions, conditions::FAILED).unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.reason.as_str()),
        ("True", "NodesFailed")
    );
}

#[test]
fn nodes_its_nodeop_skipped_count_as_skipped_not_done() {
    let mut up = upgrade(json!({"image": IMAGE_360}));
    let (first, op) = started(&up, six("v3.5.0"));
    up.status = Some(first.status);
    let finished = with_status(
        op,
        OperationPhase::Completed,
        &[
            ("cp1", entry(NodePhase::Completed)),
            ("cp2", entry(NodePhase::Skipped)),
            ("cp3", entry(NodePhase::Skipped)),
            ("w1", entry(NodePhase::Completed)),
            ("w2", entry(NodePhase::Skipped)),
            ("w3", entry(NodePhase::Completed)),
        ],
    );
    let st = plan(&up, six("v3.5.0"), Some(finished)).status;
    assert_eq!(
        (st.total, st.completed, st.skipped, st.failed),
        (6, 3, 3, 0)
    );
    assert_eq!(
        st.message.as_deref(),
        Some("upgrade to v3.6.0 completed: 6/6 nodes done or skipped")
    );
}

#[test]
fn spec_edits_reach_the_nodeop_and_target_edits_are_refused_visibly() {
    let mut up = upgrade(json!({"image": IMAGE_360, "concurrency": 1}));
    let (first, op) = started(&up, six("v3.5.0"));
    up.status = Some(first.status);
    let op = with_status(
        op,
        OperationPhase::Running,
        &[("cp1", entry(NodePhase::Running))],
    );

    up.spec.image = IMAGE_360.replace("v3.6.0", "v3.6.1");
    up.spec.concurrency = 3;
    up.spec.debug = true;
    let p = plan(&up, six("v3.5.0"), Some(op.clone()));
    let applied = p.nodeop_to_apply.as_ref().unwrap();
    assert_eq!(applied.spec.image, up.spec.image);
    assert_eq!(applied.spec.concurrency, 3);
    assert!(applied.spec.command[2].contains("kairos-agent --debug upgrade"));
    assert_eq!(
        applied.metadata.annotations.as_ref().unwrap()[ANNOTATION_TARGET_VERSION],
        "v3.6.1"
    );
    assert_eq!(
        find(&p.status.conditions, SPEC_APPLIED).unwrap().status,
        "True"
    );

    up.spec.target_nodes = Some(vec!["cp1".into()]);
    up.spec.force = true;
    let p = plan(&up, six("v3.5.0"), Some(op.clone()));
    let applied = p.nodeop_to_apply.unwrap();
    assert_eq!(
        applied.spec.target_nodes, op.spec.target_nodes,
        "the target list stays fixed"
    );
    let hash =
        |o: &NodeOp| o.metadata.annotations.as_ref().unwrap()[ANNOTATION_TARGETS_HASH].clone();
    assert_eq!(hash(&applied), hash(&op), "the start's hash is kept");
    let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "TargetsFixed")
    );
}

#[test]
fn a_foreign_nodeop_with_the_same_name_is_never_taken_over() {
    let up = upgrade(json!({"image": IMAGE_360}));
    let (_, mut op) = started(&up, six("v3.5.0"));
    op.metadata.owner_references = None;
    let p = plan(&up, six("v3.5.0"), Some(op));
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.node_op_name, None);
    let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "NodeOpConflict")
    );
}

#[test]
fn phases_drive_the_conditions_and_transition_times_are_kept() {
    let mut up = upgrade(json!({"image": IMAGE_360}));
    let (first, op) = started(&up, six("v3.5.0"));
    up.status = Some(first.status.clone());
    let all = |ph| -> Vec<(&str, _)> {
        ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
            .iter()
            .map(|n| (*n, entry(ph)))
            .collect()
    };
    let done = with_status(
        op.clone(),
        OperationPhase::Completed,
        &all(NodePhase::Completed),
    );
    let p = plan(&up, six("v3.6.0"), Some(done));
    let c = |ty| find(&p.status.conditions, ty).unwrap().clone();
    assert_eq!(c(conditions::COMPLETE).status, "True");
    assert_eq!(c(conditions::PROGRESSING).status, "False");
    assert_eq!(c(conditions::FAILED).status, "False");
    assert_eq!(
        p.status.message.as_deref(),
        Some("upgrade to v3.6.0 completed: 6/6 nodes done or skipped")
    );
    // SpecApplied did not change since the first plan: its transition time is the first one.
    assert_eq!(
        c(SPEC_APPLIED).last_transition_time,
        find(&first.status.conditions, SPEC_APPLIED)
            .unwrap()
            .last_transition_time
    );

    let stopped = with_status(
        op,
        OperationPhase::Stopped,
        &[("cp1", entry(NodePhase::Failed))],
    );
    let p = plan(&up, six("v3.5.0"), Some(stopped));
    assert_eq!(p.status.phase, Some(OperationPhase::Stopped));
    assert!(
        p.status
            .message
            .as_deref()
            .unwrap()
            .contains("stopped after a failure")
    );
}

#[test]
fn a_missing_uid_is_an_error() {
    let mut up = upgrade(json!({"image": IMAGE_360}));
    up.metadata.uid = None;
    let observed = FleetObserved::default();
    let err = plan_fleet(&up, &observed, t(0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to plan the upgrade: missing field .metadata.uid"
    );
}

#[test]
fn a_new_nodeop_without_status_still_counts_its_targets() {
    let mut nodes = six("v3.5.0");
    nodes[0] = node("cp1", true, "v3.6.0");
    let up = upgrade(json!({"image": IMAGE_360}));
    let (_, op) = started(&up, nodes.clone());
    let p = plan(&up, nodes, Some(op));
    assert_eq!(p.status.phase, Some(OperationPhase::Pending));
    assert_eq!(
        (p.status.total, p.status.completed, p.status.skipped),
        (6, 0, 1)
    );
    assert_eq!(p.status.node_op_name.as_deref(), Some("up"));
}

#[test]
fn a_nodeop_being_deleted_is_not_applied_again() {
    let up = upgrade(json!({"image": IMAGE_360}));
    let (_, mut op) = started(&up, six("v3.5.0"));
    op.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(50)));
    let p = plan(&up, six("v3.5.0"), Some(op));
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.node_op_name.as_deref(), Some("up"));
    assert_eq!(
        p.status.message.as_deref(),
        Some("NodeOp ops/up is being deleted")
    );
}

#[test]
fn an_image_without_a_version_fails_before_any_nodeop_exists() {
    for image in [
        "quay.io/kairos/ubuntu",
        "docker.io/library/nginx:1.27",
        "quay.io/kairos/ubuntu:latest",
        "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-vbanana-k3sv1.33.1-k3s1",
        "quay.io/kairos/ubuntu@sha256:abcd",
    ] {
        let p = plan(&upgrade(json!({"image": image})), six("v3.5.0"), None);
        assert!(p.nodeop_to_apply.is_none(), "{image}: no NodeOp");
        assert_eq!(p.status.phase, Some(OperationPhase::Failed), "{image}");
        assert_eq!(p.status.node_op_name, None, "{image}");
        let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "VersionUnknown"),
            "{image}"
        );
        assert!(c.message.contains(image), "{image}: {}", c.message);
        assert!(
            p.status
                .message
                .as_deref()
                .unwrap()
                .contains("no Kairos version"),
            "{image}"
        );
    }
    // Fixing the image starts the upgrade.
    let p = plan(&upgrade(json!({"image": IMAGE_360})), six("v3.5.0"), None);
    assert_eq!(targets(&p).len(), 6);
}

#[test]
fn an_image_that_does_not_fit_the_targets_fails_before_any_nodeop_exists() {
    let alpine = "quay.io/kairos/alpine:3.21-standard-amd64-generic-v3.6.0-k0sv1.33.1-k0s.0";
    let p = plan(&upgrade(json!({"image": alpine})), six("v3.5.0"), None);
    assert!(p.nodeop_to_apply.is_none(), "no NodeOp");
    assert_eq!(p.status.phase, Some(OperationPhase::Failed));
    let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ImageMismatch")
    );
    // Both sides, for the nodes named (five of six, then a count).
    assert!(
        c.message.contains(
            "cp1 (flavor: image alpine, node ubuntu, Kubernetes distribution: image k0s, node k3s)"
        ),
        "{}",
        c.message
    );
    assert!(c.message.contains("6 target node(s)"), "{}", c.message);
    assert!(c.message.contains("and 1 more"), "{}", c.message);

    // Said on purpose: it runs.
    let allowed = upgrade(json!({"image": alpine, "allowSystemChange": true}));
    let p = plan(&allowed, six("v3.5.0"), None);
    assert!(p.nodeop_to_apply.is_some());
    // A fitting image is not affected.
    let p = plan(&upgrade(json!({"image": IMAGE_360})), six("v3.5.0"), None);
    assert!(p.nodeop_to_apply.is_some());
}

#[test]
fn the_gates_reach_the_nodeop_and_its_hold_is_mirrored() {
    let mut up = upgrade(json!({
        "image": IMAGE_360,
        "window": {"days": ["sat"], "startTime": "22:00", "endTime": "04:00", "timeZone": "Europe/Berlin"},
        "postCompleteDelay": "10m",
        "blockingPodSelector": {"matchLabels": {"app": "backup"}},
        "alertGate": {"alertNames": "KubeNode.*"},
        "resources": {"limits": {"memory": "1Gi"}},
    }));
    let (first, op) = started(&up, six("v3.5.0"));
    let s = &op.spec;
    assert_eq!(s.gates.window, up.spec.gates.window);
    assert_eq!(s.gates.post_complete_delay.as_deref(), Some("10m"));
    assert_eq!(
        s.gates.blocking_pod_selector,
        up.spec.gates.blocking_pod_selector
    );
    assert_eq!(s.gates.alert_gate, up.spec.gates.alert_gate);
    assert_eq!(s.resources, up.spec.resources);
    up.status = Some(first.status);
    let mut held = with_status(
        op,
        OperationPhase::Pending,
        &[("cp1", entry(NodePhase::Pending))],
    );
    let st = held.status.as_mut().unwrap();
    st.held = Some("Window".into());
    st.conditions
        .push(k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: conditions::HELD.into(),
            status: "True".into(),
            reason: "Window".into(),
            message: "outside the maintenance window: it opens at 2027-01-16T21:00:00Z".into(),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t(0)),
            observed_generation: None,
        });
    let p = plan(&up, six("v3.5.0"), Some(held));
    assert_eq!(p.status.held.as_deref(), Some("Window"));
    let c = find(&p.status.conditions, conditions::HELD).unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Window"));
    assert!(c.message.contains("2027-01-16T21:00:00Z"), "{}", c.message);
}

const UKI_360: &str =
    "registry.local/edge/kairos-uki:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1";

/// [`six`] with every node reporting `trusted` as its `status.trustedBoot`.
fn six_booting(version: &str, trusted: bool) -> Vec<super::super::fleet::ObservedNode> {
    let mut nodes = six(version);
    for n in &mut nodes {
        let st = n.kairos_node.as_mut().unwrap().status.as_mut().unwrap();
        st.trusted_boot = Some(trusted);
    }
    nodes
}

#[test]
fn a_trusted_boot_upgrade_runs_the_hosts_own_agent_from_the_uki_image() {
    let up = upgrade(json!({"image": UKI_360, "trustedBoot": true}));
    let p = plan(&up, six_booting("v3.5.0", true), None);
    let op = p.nodeop_to_apply.as_ref().expect("a NodeOp");
    let s = &op.spec;
    // The UKI image has no shell: the Job runs in the engine's default image, in the host's
    // PID namespace, and the host's kairos-agent pulls the image.
    assert_eq!(s.image, "");
    assert_eq!(s.host_pid, Some(true));
    let script = s.command.last().unwrap();
    assert!(
        script.contains(&format!(
            "nsenter -t 1 -m -u -i -n -p -- kairos-agent upgrade --source 'oci:{UKI_360}'"
        )),
        "{script}"
    );
    assert!(!script.contains("dir:/"), "{script}");
    let pre = s.preflight.as_ref().unwrap();
    assert_eq!(pre.image, None);
    assert!(pre.command.last().unwrap().contains("uki_boot_mode"));
    assert_eq!(s.reboot_on_success, Some(true));
    assert_eq!(
        op.metadata.annotations.as_ref().unwrap()[ANNOTATION_TARGET_VERSION],
        "v3.6.0"
    );
}

#[test]
fn a_kairos_image_for_trusted_boot_nodes_and_the_reverse_fail_naming_both() {
    let cases = [
        (
            json!({"image": IMAGE_360}),
            true,
            IMAGE_360,
            "boots trusted (UKI)",
        ),
        (
            json!({"image": UKI_360, "trustedBoot": true}),
            false,
            UKI_360,
            "does not boot trusted",
        ),
        // allowSystemChange does not lift it: neither upgrade can work.
        (
            json!({"image": IMAGE_360, "allowSystemChange": true}),
            true,
            IMAGE_360,
            "boots trusted (UKI)",
        ),
    ];
    for (spec, trusted, image, says) in cases {
        let p = plan(&upgrade(spec.clone()), six_booting("v3.5.0", trusted), None);
        assert!(p.nodeop_to_apply.is_none(), "{spec}: no NodeOp");
        assert_eq!(p.status.phase, Some(OperationPhase::Failed), "{spec}");
        let c = find(&p.status.conditions, SPEC_APPLIED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "TrustedBootMismatch"),
            "{spec}"
        );
        let m = &c.message;
        assert!(
            m.contains("node cp1 ") && m.contains(image) && m.contains(says),
            "{m}"
        );
        assert!(
            m.contains("6 target node(s)") && m.contains("and 1 more"),
            "{m}"
        );
    }
    // A node that has not said how it boots is left to the node-side check.
    let p = plan(
        &upgrade(json!({"image": UKI_360, "trustedBoot": true})),
        six("v3.5.0"),
        None,
    );
    assert!(p.nodeop_to_apply.is_some());
}
