//! The fleet config planner's rules, one test each: given a NodeOpConfig, the Nodes with their
//! KairosNodes (reported file hashes, per-node declarations), the other NodeOpConfigs, its
//! NodeOps and their per-node records, when planned, then the NodeOp created or deleted, the
//! finalizer, the status and the Events.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference, Time,
};
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{
    ANNOTATION_CONFIG_SOURCE, CONTROL_PLANE_LABELS, LABEL_NODEOP_CONFIG, NODEOPCONFIG_FINALIZER,
};
use kairos_api::v1alpha1::{
    ConfigKeyRef, KairosNode, KairosNodeSpec, KairosNodeStatus, NodeConfigSpec, NodeOp,
    NodeOpConfig, NodeOpConfigSpec, NodeOpStatus, NodePhase, NodeStatus, OperationPhase,
};

use super::{
    Finalizer, FleetConfigObserved, FleetConfigPlan, plan_fleet_config, remove_nodeop_name,
    write_nodeop_name,
};
use crate::cloud_config::SourceRead;
use crate::cloud_config::source::ConfigSource;
use crate::report::sha256_hex;
use crate::upgrade::fleet::ObservedNode;

const DOC: &str = "#cloud-config\nhostname: edge\n";
const EDITED: &str = "#cloud-config\nhostname: edited\n";
const PATH: &str = "/oem/90_kairos-operator.yaml";
use crate::cloud_config::tests::{NS, now, settings};

fn config_spec() -> NodeConfigSpec {
    NodeConfigSpec {
        secret_ref: Some(ConfigKeyRef {
            name: "edge".into(),
            key: "cloud-config.yaml".into(),
        }),
        config_map_ref: None,
        path: PATH.into(),
        reboot: None,
        run_stage: None,
    }
}

/// NodeOpConfig `name` (uid `uid-<name>`) in `ns`, created at second `created`, selecting
/// `tier=edge`, concurrency 2, stopOnFailure, with the finalizer.
fn noc(name: &str, ns: &str, created: i64) -> NodeOpConfig {
    let mut c = NodeOpConfig::new(
        name,
        NodeOpConfigSpec {
            node_selector: Some(LabelSelector {
                match_labels: Some([("tier".to_owned(), "edge".to_owned())].into()),
                match_expressions: None,
            }),
            config: config_spec(),
            concurrency: 2,
            stop_on_failure: true,
        },
    );
    c.metadata.namespace = Some(ns.into());
    c.metadata.uid = Some(format!("uid-{name}"));
    c.metadata.generation = Some(1);
    c.metadata.creation_timestamp = Some(Time(Timestamp::from_second(created).unwrap()));
    c.metadata.finalizers = Some(vec![NODEOPCONFIG_FINALIZER.into()]);
    c
}

/// A Node `name` labelled `tier=edge` (and control plane when `cp`), with a KairosNode
/// reporting `file` at PATH (its content), declaring `own` as its spec.config.
fn node(name: &str, cp: bool, file: Option<&str>, own: Option<NodeConfigSpec>) -> ObservedNode {
    let mut labels = BTreeMap::from([("tier".to_owned(), "edge".to_owned())]);
    if cp {
        labels.insert(CONTROL_PLANE_LABELS[0].to_owned(), String::new());
    }
    let kn = KairosNode {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: KairosNodeSpec {
            config: own,
            ..KairosNodeSpec::default()
        },
        status: Some(KairosNodeStatus {
            cloud_config_files: file
                .iter()
                .map(|c| (PATH.to_owned(), sha256_hex(c.as_bytes())))
                .collect(),
            ..KairosNodeStatus::default()
        }),
    };
    ObservedNode {
        name: name.into(),
        labels,
        kairos_node: Some(kn),
    }
}

/// Three control-plane and three worker nodes, none carrying the file.
fn six() -> Vec<ObservedNode> {
    ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
        .iter()
        .map(|n| node(n, n.starts_with("cp"), None, None))
        .collect()
}

fn observed(doc: &str, nodes: Vec<ObservedNode>) -> FleetConfigObserved {
    FleetConfigObserved {
        source: Some(SourceRead::Content(doc.as_bytes().to_vec())),
        nodes,
        ..FleetConfigObserved::default()
    }
}

fn plan(c: &NodeOpConfig, o: &FleetConfigObserved) -> FleetConfigPlan {
    plan_fleet_config(c, o, now(), &settings()).unwrap()
}

/// `op` as the engine left it: phase `phase`, each of `records` (node, phase) finished at
/// `finished` seconds before now.
fn ran(
    mut op: NodeOp,
    phase: OperationPhase,
    records: &[(&str, NodePhase)],
    finished: i64,
    o: &mut FleetConfigObserved,
) {
    let name = op.metadata.name.clone().unwrap();
    op.status = Some(NodeOpStatus {
        phase: Some(phase),
        ..NodeOpStatus::default()
    });
    let at = Time(Timestamp::from_second(now().as_second() - finished).unwrap());
    let recs = records
        .iter()
        .map(|(n, p)| {
            let st = NodeStatus {
                phase: *p,
                finished_at: p.is_terminal().then(|| at.clone()),
                message: Some(format!("engine says {p:?}")),
                ..NodeStatus::default()
            };
            ((*n).to_owned(), st)
        })
        .collect();
    o.targets.insert(name, recs);
    o.nodeops.push(op);
}

fn condition(p: &FleetConfigPlan, t: &str) -> (String, String, String) {
    let c = p
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("no {t}: {:#?}", p.status));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

#[test]
fn one_nodeop_writes_the_nodes_that_differ_at_the_spec_pace_with_the_source_mounted() {
    let c = noc("edge", NS, 100);
    let mut nodes = six();
    nodes[4] = node("w2", false, Some(DOC), None); // already carries it
    nodes[5] = node("w3", false, None, Some(config_spec())); // declares its own
    let mut stranger = node("x1", false, None, None);
    stranger.labels.clear(); // not selected
    nodes.push(stranger);
    let p = plan(&c, &observed(DOC, nodes));
    let op = p.nodeop_to_apply.expect("a NodeOp");
    let targets = op.spec.target_nodes.clone().unwrap();
    assert_eq!(targets, ["cp1", "cp2", "cp3", "w1"]);
    assert_eq!(op.spec.concurrency, 2);
    assert_eq!(op.spec.stop_on_failure, Some(true));
    assert_eq!(op.spec.reboot_on_success, Some(true));
    assert_eq!(op.spec.cordon, Some(true));
    assert_eq!(op.metadata.namespace.as_deref(), Some(NS));
    let name = op.metadata.name.clone().unwrap();
    assert_eq!(
        name,
        write_nodeop_name(
            "edge",
            &config_spec(),
            &sha256_hex(DOC.as_bytes()),
            &targets
        )
    );
    assert!(name.starts_with("nocfg-edge-"), "{name}");
    assert_eq!(
        op.metadata
            .labels
            .as_ref()
            .unwrap()
            .get(LABEL_NODEOP_CONFIG),
        Some(&"edge".to_owned())
    );
    assert_eq!(
        op.metadata
            .annotations
            .as_ref()
            .unwrap()
            .get(ANNOTATION_CONFIG_SOURCE),
        Some(&"secret/edge/cloud-config.yaml".to_owned())
    );
    assert_eq!(
        ConfigSource::of_nodeop(&op).map(|s| s.name),
        Some("edge".into())
    );
    let owner = &op.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("NodeOpConfig", "uid-edge")
    );
    // The document is not in the NodeOp: the script checks its hash and copies the mount.
    let script = op.spec.command.join(" ");
    assert!(!script.contains("hostname"), "{script}");
    assert!(script.contains(&sha256_hex(DOC.as_bytes())), "{script}");
    let st = &p.status;
    assert_eq!(
        (st.total, st.applied, st.skipped, st.failed, st.drifted),
        (6, 1, 1, 0, 0)
    );
    assert_eq!(st.phase, Some(OperationPhase::Running));
    assert_eq!(st.node_op_name.as_deref(), Some(name.as_str()));
    let w3 = st.node_statuses.get("w3").unwrap();
    assert_eq!(w3.phase, NodePhase::Skipped);
    assert!(
        w3.message
            .as_deref()
            .unwrap()
            .contains("per-node declaration wins"),
        "{w3:?}"
    );
    assert!(
        !st.node_statuses.contains_key("w2"),
        "an applied node is not listed"
    );
    assert!(st.node_statuses.get("cp1").unwrap().control_plane);
    assert_eq!(p.finalizer, Finalizer::Keep);
    assert_eq!(p.events.len(), 1);
    assert_eq!(p.events[0].reason, "Applying");
}

#[test]
fn outside_the_operator_namespace_nothing_is_created() {
    let c = noc("edge", "team-a", 100);
    let p = plan(&c, &observed(DOC, six()));
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.phase, Some(OperationPhase::Failed));
    let (status, reason, msg) = condition(&p, "SpecApplied");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "WrongNamespace")
    );
    assert!(
        msg.contains(NS) && msg.contains("nothing is written"),
        "{msg}"
    );
    // It never wrote anything: its finalizer (set by hand) is let go.
    assert_eq!(p.finalizer, Finalizer::Remove);
    assert!(p.events[0].warning);
}

#[test]
fn an_invalid_or_missing_document_is_refused_before_any_nodeop() {
    let mut c = noc("edge", NS, 100);
    c.metadata.finalizers = None;
    for (doc, reason) in [
        ("hostname: x\n", "InvalidConfig"),
        ("#cloud-config\n[1, 2]\n", "InvalidConfig"),
    ] {
        let p = plan(&c, &observed(doc, six()));
        assert!(p.nodeop_to_apply.is_none(), "{doc}");
        assert_eq!(p.status.phase, Some(OperationPhase::Failed));
        let (status, r, msg) = condition(&p, "SpecApplied");
        assert_eq!((status.as_str(), r.as_str()), ("False", reason), "{msg}");
        assert!(msg.contains("Secret edge key cloud-config.yaml"), "{msg}");
        assert_eq!(p.finalizer, Finalizer::Add);
    }
    let mut o = observed(DOC, six());
    o.source = Some(SourceRead::Missing(
        "Secret kairos-system/edge does not exist".into(),
    ));
    let p = plan(&c, &o);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.status.phase, Some(OperationPhase::Pending));
    assert_eq!(condition(&p, "SpecApplied").1, "SourceMissing");
}

#[test]
fn an_older_nodeopconfig_keeps_the_path_on_the_nodes_both_select() {
    let young = noc("young", NS, 200);
    let mut old = noc("old", NS, 100);
    old.spec.node_selector = Some(LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement {
                key: CONTROL_PLANE_LABELS[0].into(),
                operator: "Exists".into(),
                values: None,
            },
        ]),
    });
    let mut o = observed(DOC, six());
    o.others = vec![old.clone(), young.clone()];
    let p = plan(&young, &o);
    let op = p.nodeop_to_apply.expect("a NodeOp");
    assert_eq!(op.spec.target_nodes.unwrap(), ["w1", "w2", "w3"]);
    let cp1 = p.status.node_statuses.get("cp1").unwrap();
    assert!(
        cp1.message
            .as_deref()
            .unwrap()
            .contains("NodeOpConfig old (older)"),
        "{cp1:?}"
    );
    assert_eq!(p.status.skipped, 3);
    // The older one is not held back by the younger.
    o.others = vec![young];
    let p = plan(&old, &o);
    assert_eq!(
        p.nodeop_to_apply.unwrap().spec.target_nodes.unwrap(),
        ["cp1", "cp2", "cp3"]
    );
}

#[test]
fn an_edit_waits_for_the_nodeop_in_flight_then_replaces_the_finished_one() {
    let c = noc("edge", NS, 100);
    let mut o = observed(DOC, six());
    let first = plan(&c, &o).nodeop_to_apply.unwrap();
    let first_name = first.metadata.name.clone().unwrap();
    ran(
        first.clone(),
        OperationPhase::Running,
        &[("cp1", NodePhase::Running)],
        0,
        &mut o,
    );
    // The Secret is edited while the first NodeOp runs: nothing new starts.
    o.source = Some(SourceRead::Content(EDITED.as_bytes().to_vec()));
    let p = plan(&c, &o);
    assert!(
        p.nodeop_to_apply.is_none() && p.delete_nodeops.is_empty(),
        "{p:#?}"
    );
    assert_eq!(condition(&p, "ConfigApplied").1, "Waiting");
    // Once it finished, it is deleted and the edited document goes to every node.
    o.nodeops.clear();
    o.targets.clear();
    let done: Vec<(&str, NodePhase)> = ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
        .iter()
        .map(|n| (*n, NodePhase::Completed))
        .collect();
    ran(first, OperationPhase::Completed, &done, 5, &mut o);
    for n in &mut o.nodes {
        *n = node(&n.name, n.name.starts_with("cp"), Some(DOC), None);
    }
    let p = plan(&c, &o);
    assert_eq!(p.delete_nodeops, std::slice::from_ref(&first_name));
    let op = p.nodeop_to_apply.expect("the edited document");
    assert_ne!(op.metadata.name.as_deref(), Some(first_name.as_str()));
    assert_eq!(op.spec.target_nodes.unwrap().len(), 6);
    assert!(
        op.spec
            .command
            .join(" ")
            .contains(&sha256_hex(EDITED.as_bytes()))
    );
    assert_eq!(p.status.desired_hash, Some(sha256_hex(EDITED.as_bytes())));
}

#[test]
fn a_written_node_is_verified_then_counted_drifted_and_never_rewritten_by_itself() {
    let c = noc("edge", NS, 100);
    let mut o = observed(
        DOC,
        vec![node("w1", false, None, None), node("w2", false, None, None)],
    );
    let op = plan(&c, &o).nodeop_to_apply.unwrap();
    // Finished a minute ago: w1 reports the document, w2 does not yet.
    ran(
        op.clone(),
        OperationPhase::Completed,
        &[("w1", NodePhase::Completed), ("w2", NodePhase::Completed)],
        60,
        &mut o,
    );
    o.nodes[0] = node("w1", false, Some(DOC), None);
    let p = plan(&c, &o);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!((p.status.applied, p.status.drifted), (1, 0));
    assert_eq!(p.status.phase, Some(OperationPhase::Running));
    // Past the verify timeout, w2 still reports another hash: drifted, shown, not rewritten.
    o.targets.clear();
    o.nodeops.clear();
    ran(
        op,
        OperationPhase::Completed,
        &[("w1", NodePhase::Completed), ("w2", NodePhase::Completed)],
        3600,
        &mut o,
    );
    o.nodes[1] = node(
        "w2",
        false,
        Some("#cloud-config\nhostname: by-hand\n"),
        None,
    );
    let p = plan(&c, &o);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!((p.status.applied, p.status.drifted), (1, 1));
    assert_eq!(p.status.phase, Some(OperationPhase::Completed));
    let (status, reason, _) = condition(&p, "ConfigApplied");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "Drifted"));
    let w2 = p.status.node_statuses.get("w2").unwrap();
    assert!(
        w2.message
            .as_deref()
            .unwrap()
            .contains("changed on the node"),
        "{w2:?}"
    );
    assert!(p.events.iter().any(|e| e.reason == "Drifted" && e.warning));
}

#[test]
fn a_failed_or_stopped_node_is_reported_and_not_retried_by_itself() {
    let c = noc("edge", NS, 100);
    let mut o = observed(DOC, six());
    let op = plan(&c, &o).nodeop_to_apply.unwrap();
    ran(
        op,
        OperationPhase::Stopped,
        &[
            ("cp1", NodePhase::Failed),
            ("cp2", NodePhase::Stopped),
            ("cp3", NodePhase::Pending),
        ],
        5,
        &mut o,
    );
    let p = plan(&c, &o);
    assert!(p.nodeop_to_apply.is_none(), "{:#?}", p.nodeop_to_apply);
    assert_eq!(p.status.failed, 1);
    assert_eq!(p.status.phase, Some(OperationPhase::Failed));
    assert_eq!(condition(&p, "Failed").0, "True");
    let cp1 = p.status.node_statuses.get("cp1").unwrap();
    assert!(
        cp1.message
            .as_deref()
            .unwrap()
            .contains("delete the NodeOp to retry")
    );
    assert_eq!(
        p.status.node_statuses.get("cp2").unwrap().phase,
        NodePhase::Stopped
    );
}

#[test]
fn a_node_that_matches_later_gets_a_nodeop_once_none_is_in_flight() {
    let c = noc("edge", NS, 100);
    let mut o = observed(DOC, vec![node("w1", false, None, None)]);
    let op = plan(&c, &o).nodeop_to_apply.unwrap();
    ran(
        op.clone(),
        OperationPhase::Completed,
        &[("w1", NodePhase::Completed)],
        5,
        &mut o,
    );
    o.nodes = vec![
        node("w1", false, Some(DOC), None),
        node("w2", false, None, None),
    ];
    let p = plan(&c, &o);
    let next = p.nodeop_to_apply.expect("w2's NodeOp");
    assert_eq!(next.spec.target_nodes.unwrap(), ["w2"]);
    assert_ne!(next.metadata.name, op.metadata.name);
    assert!(
        p.delete_nodeops.is_empty(),
        "the same document's NodeOp stays"
    );
}

#[test]
fn deletion_removes_the_file_where_it_was_written_then_lets_go() {
    let mut c = noc("edge", NS, 100);
    let mut o = observed(DOC, six());
    let op = plan(&c, &o).nodeop_to_apply.unwrap();
    let done: Vec<(&str, NodePhase)> = ["cp1", "cp2", "cp3", "w1", "w2"]
        .iter()
        .map(|n| (*n, NodePhase::Completed))
        .chain([("w3", NodePhase::Failed)])
        .collect();
    ran(op, OperationPhase::Failed, &done, 5, &mut o);
    for n in o.nodes.iter_mut().take(5) {
        *n = node(&n.name, n.name.starts_with("cp"), Some(DOC), None);
    }
    // w2 took the path over in its own KairosNode since: not removed.
    o.nodes[4] = node("w2", false, Some(DOC), Some(config_spec()));
    c.metadata.deletion_timestamp = Some(Time(now()));
    let p = plan(&c, &o);
    let rm = p.nodeop_to_apply.clone().expect("a removal NodeOp");
    assert_eq!(rm.metadata.name, Some(remove_nodeop_name("edge", PATH)));
    assert_eq!(
        rm.spec.target_nodes.clone().unwrap(),
        ["cp1", "cp2", "cp3", "w1"]
    );
    assert_eq!(
        (rm.spec.reboot_on_success, rm.spec.cordon),
        (Some(false), Some(false))
    );
    assert!(rm.metadata.annotations.is_none(), "no source for a removal");
    assert!(rm.spec.command.join(" ").contains("rm -f"));
    assert_eq!(p.finalizer, Finalizer::Keep);
    assert_eq!(condition(&p, "ConfigApplied").1, "Removing");
    // The removal failed on w1: the finalizer stays and says how to let go.
    let rm_records = [
        ("cp1", NodePhase::Completed),
        ("cp2", NodePhase::Completed),
        ("cp3", NodePhase::Completed),
        ("w1", NodePhase::Failed),
    ];
    let mut failed = o.clone();
    ran(
        rm.clone(),
        OperationPhase::Failed,
        &rm_records,
        1,
        &mut failed,
    );
    let p = plan(&c, &failed);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.finalizer, Finalizer::Keep);
    let (_, reason, msg) = condition(&p, "ConfigApplied");
    assert_eq!(reason, "RemovalFailed");
    assert!(
        msg.contains("w1") && msg.contains(NODEOPCONFIG_FINALIZER),
        "{msg}"
    );
    // Completed everywhere: the finalizer goes.
    ran(
        rm,
        OperationPhase::Completed,
        &rm_records.map(|(n, _)| (n, NodePhase::Completed)),
        1,
        &mut o,
    );
    let p = plan(&c, &o);
    assert_eq!(p.finalizer, Finalizer::Remove);
    assert_eq!(condition(&p, "ConfigApplied").1, "Removed");
    assert!(p.events.iter().any(|e| e.reason == "Removed"));
}

#[test]
fn deletion_waits_for_a_write_in_flight_and_lets_go_at_once_when_nothing_was_written() {
    let mut c = noc("edge", NS, 100);
    let mut o = observed(DOC, six());
    let op = plan(&c, &o).nodeop_to_apply.unwrap();
    c.metadata.deletion_timestamp = Some(Time(now()));
    let mut running = o.clone();
    ran(
        op,
        OperationPhase::Running,
        &[("cp1", NodePhase::Running)],
        0,
        &mut running,
    );
    let p = plan(&c, &running);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.finalizer, Finalizer::Keep);
    assert!(
        condition(&p, "ConfigApplied")
            .2
            .contains("waiting for NodeOp")
    );
    o.nodeops.clear();
    let p = plan(&c, &o);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(p.finalizer, Finalizer::Remove);
}

#[test]
fn a_new_nodeopconfig_gets_the_finalizer_and_nodeops_of_another_owner_are_ignored() {
    let mut c = noc("edge", NS, 100);
    c.metadata.finalizers = None;
    let mut o = observed(DOC, six());
    let mut foreign = plan(&c, &o).nodeop_to_apply.unwrap();
    foreign.metadata.owner_references = Some(vec![OwnerReference {
        uid: "uid-of-an-earlier-edge".into(),
        ..OwnerReference::default()
    }]);
    ran(foreign, OperationPhase::Running, &[], 0, &mut o);
    let p = plan(&c, &o);
    assert_eq!(p.finalizer, Finalizer::Add);
    assert!(
        p.nodeop_to_apply.is_some(),
        "the foreign NodeOp holds nothing back"
    );
}

#[test]
fn nodeop_names_are_stable() {
    let sha = sha256_hex(DOC.as_bytes());
    let targets = ["cp1".to_owned(), "w1".to_owned()];
    assert_eq!(
        write_nodeop_name("edge", &config_spec(), &sha, &targets),
        write_nodeop_name("edge", &config_spec(), &sha, &targets)
    );
    assert_ne!(
        write_nodeop_name("edge", &config_spec(), &sha, &targets),
        write_nodeop_name("edge", &config_spec(), &sha, &targets[..1])
    );
    let long = "a".repeat(80);
    let name = write_nodeop_name(&long, &config_spec(), &sha, &targets);
    assert!(crate::k8s_names::is_dns_label(&name), "{name}");
    assert!(crate::k8s_names::is_dns_label(&remove_nodeop_name(
        &long, PATH
    )));
    // Pinned: a running rollout finds its NodeOps by name across versions.
    assert_eq!(
        write_nodeop_name("edge", &config_spec(), &sha, &targets),
        "nocfg-edge-81b2ba8d-a91e"
    );
    assert_eq!(remove_nodeop_name("edge", PATH), "nocfg-edge-rm-03cdb0cf");
}

/// What a generated node is: control plane, selected, declares the path itself, and which
/// document it reports (0: none, 1: the desired one, 2: another).
type Shape = (bool, bool, bool, u8);

proptest::proptest! {
    /// Whatever the fleet, before any NodeOp: the NodeOp's targets are exactly the selected
    /// nodes that neither declare the path nor report the document, and the counts add up.
    #[test]
    fn the_first_nodeop_targets_exactly_the_selected_nodes_that_differ(
        shapes in proptest::collection::vec(
            (proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY, 0u8..3),
            0..12,
        )
    ) {
        let nodes: Vec<ObservedNode> = shapes
            .iter()
            .enumerate()
            .map(|(i, (cp, selected, own, reports)): (usize, &Shape)| {
                let file = match reports {
                    1 => Some(DOC),
                    2 => Some(EDITED),
                    _ => None,
                };
                let mut n = node(&format!("n{i:02}"), *cp, file, own.then(config_spec));
                if !selected {
                    n.labels.remove("tier");
                }
                n
            })
            .collect();
        let p = plan(&noc("edge", NS, 100), &observed(DOC, nodes.clone()));
        let selected = |(_, s, _, _): &&Shape| *s;
        let want: Vec<String> = shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| selected(s) && !s.2 && s.3 != 1)
            .map(|(i, _)| format!("n{i:02}"))
            .collect();
        let targets = p
            .nodeop_to_apply
            .as_ref()
            .map(|op| op.spec.target_nodes.clone().unwrap_or_default())
            .unwrap_or_default();
        proptest::prop_assert_eq!(&targets, &want);
        let st = &p.status;
        let total = shapes.iter().filter(selected).count();
        let skipped = shapes.iter().filter(selected).filter(|s| s.2).count();
        let applied = shapes.iter().filter(selected).filter(|s| !s.2 && s.3 == 1).count();
        proptest::prop_assert_eq!(
            (st.total, st.skipped, st.applied),
            (total as i32, skipped as i32, applied as i32)
        );
        proptest::prop_assert_eq!(total, applied + skipped + want.len());
        proptest::prop_assert_eq!(st.node_statuses.len(), skipped + want.len());
        let phase = if want.is_empty() {
            OperationPhase::Completed
        } else {
            OperationPhase::Running
        };
        proptest::prop_assert_eq!(st.phase, Some(phase));
    }
}
