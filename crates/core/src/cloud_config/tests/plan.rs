//! The planner's rules, one table row or test each: given a KairosNode (spec, reported file
//! hashes, previous `status.config`), the source and the node's config NodeOp, when planned,
//! then the NodeOp applied or deleted, `status.config` and `ConfigApplied`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{ANNOTATION_CONFIG_SOURCE, LABEL_KAIROSNODE_CONFIG};
use kairos_api::v1alpha1::{
    ConfigKeyRef, ConfigState, ConfigStatus, KairosNode, KairosNodeSpec, KairosNodeStatus,
    NodeConfigSpec, NodeOp, NodeOpStatus, NodePhase, NodeStatus, OperationPhase,
};

use crate::cloud_config::{
    ConfigObserved, ConfigPlan, SourceRead, plan_config, remove_nodeop_name, write_nodeop_name,
};
use crate::nodeop::{Config, OpRef, build};
use crate::report::sha256_hex;

const DOC: &str = "#cloud-config\nhostname: n1\n";
const PATH: &str = "/oem/90_kairos-operator.yaml";
use super::{NS, now, settings};

fn spec(reboot: Option<bool>) -> NodeConfigSpec {
    NodeConfigSpec {
        secret_ref: Some(ConfigKeyRef {
            name: "cfg".into(),
            key: "config.yaml".into(),
        }),
        config_map_ref: None,
        path: PATH.into(),
        reboot,
        run_stage: None,
    }
}

/// KairosNode `n1` with `spec.config`, reporting `files` (path, content), and a previous
/// `status.config`.
fn kn(
    config: Option<NodeConfigSpec>,
    files: &[(&str, &str)],
    prev: Option<ConfigStatus>,
) -> KairosNode {
    KairosNode {
        metadata: ObjectMeta {
            name: Some("n1".into()),
            uid: Some("uid-n1".into()),
            generation: Some(1),
            ..ObjectMeta::default()
        },
        spec: KairosNodeSpec {
            config,
            ..KairosNodeSpec::default()
        },
        status: Some(KairosNodeStatus {
            cloud_config_files: files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), sha256_hex(c.as_bytes())))
                .collect(),
            config: prev,
            ..KairosNodeStatus::default()
        }),
    }
}

fn content(doc: &str) -> ConfigObserved {
    ConfigObserved {
        source: Some(SourceRead::Content(doc.as_bytes().to_vec())),
        ..ConfigObserved::default()
    }
}

/// The node's config NodeOp `name`, in `phase` on n1 (None: not started), finished at `at`.
fn op(name: &str, phase: Option<NodePhase>, finished_secs_ago: Option<i64>) -> NodeOp {
    let node_statuses = phase
        .map(|p| {
            let finished_at =
                finished_secs_ago.map(|s| Time(Timestamp::from_second(1_800_000_000 - s).unwrap()));
            [(
                "n1".to_owned(),
                NodeStatus {
                    phase: p,
                    message: Some("engine says".into()),
                    finished_at,
                    ..NodeStatus::default()
                },
            )]
            .into()
        })
        .unwrap_or_default();
    NodeOp {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(NS.into()),
            uid: Some(format!("uid-{name}")),
            labels: Some([(LABEL_KAIROSNODE_CONFIG.into(), "n1".into())].into()),
            ..ObjectMeta::default()
        },
        spec: serde_json::from_value(serde_json::json!({"command": ["true"]})).unwrap(),
        status: Some(NodeOpStatus {
            phase: Some(OperationPhase::Running),
            node_statuses,
            ..NodeOpStatus::default()
        }),
    }
}

fn plan(kn: &KairosNode, observed: &ConfigObserved) -> ConfigPlan {
    plan_config(kn, observed, now(), &settings()).unwrap()
}

fn want() -> String {
    write_nodeop_name("n1", &spec(None), &sha256_hex(DOC.as_bytes()))
}

/// (state, condition status, reason) of a plan.
fn verdict(p: &ConfigPlan) -> (ConfigState, String, String) {
    let c = p.condition.clone().expect("a condition");
    (
        p.config.clone().expect("status.config").state,
        c.status,
        c.reason,
    )
}

fn applied(hash_of: &str) -> Option<ConfigStatus> {
    Some(ConfigStatus {
        state: ConfigState::Applied,
        path: Some(PATH.into()),
        applied_hash: Some(sha256_hex(hash_of.as_bytes())),
        ..ConfigStatus::default()
    })
}

#[test]
fn a_new_config_becomes_one_reboot_nodeop_with_the_source_mounted_not_inlined() {
    let p = plan(
        &kn(Some(spec(None)), &[("/oem/10_other.yaml", "x")], None),
        &content(DOC),
    );
    let op = p.nodeop_to_apply.clone().expect("a NodeOp");
    assert_eq!(op.metadata.name.as_deref(), Some(want().as_str()));
    assert_eq!(op.metadata.namespace.as_deref(), Some(NS));
    assert_eq!(op.spec.target_nodes, Some(vec!["n1".to_owned()]));
    assert_eq!(
        (op.spec.cordon, op.spec.reboot_on_success),
        (Some(true), Some(true))
    );
    assert!(op.spec.drain_options.as_ref().and_then(|d| d.enabled) == Some(true));
    assert!(
        !op.spec.command.concat().contains("hostname"),
        "the document is not in the spec"
    );
    assert_eq!(
        crate::k8s_names::annotation(&op.metadata, ANNOTATION_CONFIG_SOURCE),
        Some("secret/cfg/config.yaml")
    );
    assert_eq!(
        verdict(&p),
        (ConfigState::Applying, "False".into(), "Applying".into())
    );
    let config = p.config.unwrap();
    assert_eq!(config.desired_hash, Some(sha256_hex(DOC.as_bytes())));
    assert_eq!(config.observed_hash, None);
    assert_eq!(config.node_op, Some(format!("{NS}/{}", want())));

    // The engine mounts the source into that NodeOp's Job (it runs in the NodeOp's namespace).
    let mut created = op;
    created.metadata.uid = Some("u".into());
    let engine = Config {
        job_namespace: Some(NS.into()),
        ..Config::default()
    };
    let job = build::build_job(&OpRef::of(&created).unwrap(), &created.spec, "n1", &engine);
    let pod = job.spec.unwrap().template.spec.unwrap();
    let volume = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.secret.is_some())
        .unwrap();
    assert_eq!(volume.secret.unwrap().secret_name.as_deref(), Some("cfg"));
    // Not when the Job would run in another namespace than the NodeOp's.
    let elsewhere = Config {
        job_namespace: Some("other".into()),
        ..Config::default()
    };
    let job = build::build_job(
        &OpRef::of(&created).unwrap(),
        &created.spec,
        "n1",
        &elsewhere,
    );
    let volumes = job.spec.unwrap().template.spec.unwrap().volumes.unwrap();
    assert!(volumes.iter().all(|v| v.secret.is_none()));
}

#[test]
fn without_reboot_the_node_is_neither_cordoned_nor_drained_nor_rebooted() {
    let p = plan(&kn(Some(spec(Some(false))), &[], None), &content(DOC));
    let op = p.nodeop_to_apply.expect("a NodeOp");
    assert_eq!(
        (op.spec.cordon, op.spec.reboot_on_success),
        (Some(false), Some(false))
    );
    assert_eq!(op.spec.drain_options, None);
}

#[test]
fn refused_or_missing_sources_start_nothing() {
    let cases: [(ConfigObserved, &str, &str); 4] = [
        (content("hostname: x\n"), "InvalidConfig", "first line"),
        (
            content("#cloud-config\n[broken\n"),
            "InvalidConfig",
            "not valid YAML",
        ),
        (
            ConfigObserved {
                source: Some(SourceRead::Missing("Secret cfg does not exist".into())),
                ..ConfigObserved::default()
            },
            "SourceMissing",
            "Secret cfg does not exist",
        ),
        (
            ConfigObserved {
                no_agent_report: true,
                ..content(DOC)
            },
            "NoAgentReport",
            "no agent",
        ),
    ];
    for (observed, reason, says) in cases {
        let p = plan(&kn(Some(spec(None)), &[], None), &observed);
        assert!(p.nodeop_to_apply.is_none(), "{reason}");
        assert_eq!(
            verdict(&p),
            (ConfigState::Pending, "False".into(), reason.into())
        );
        let msg = p.config.unwrap().message.unwrap();
        assert!(
            msg.contains(says) && msg.contains("nothing is written"),
            "{msg}"
        );
    }
}

#[test]
fn the_reported_hash_makes_it_applied_and_records_it() {
    let p = plan(&kn(Some(spec(None)), &[(PATH, DOC)], None), &content(DOC));
    assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Applied, "True".into(), "Applied".into())
    );
    let config = p.config.unwrap();
    assert_eq!(config.observed_hash, config.desired_hash);
    assert_eq!(config.applied_hash, config.desired_hash);
}

#[test]
fn an_operation_in_flight_is_followed_and_a_finished_one_waits_for_the_report() {
    let kn1 = kn(Some(spec(None)), &[], None);
    let running = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Rebooting), None)),
        ..content(DOC)
    };
    let p = plan(&kn1, &running);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Applying, "False".into(), "Applying".into())
    );

    let done = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Completed), Some(30))),
        ..content(DOC)
    };
    let p = plan(&kn1, &done);
    assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Applying, "False".into(), "Verifying".into())
    );

    let long_ago = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Completed), Some(601))),
        ..content(DOC)
    };
    assert_eq!(
        verdict(&plan(&kn1, &long_ago)),
        (ConfigState::Failed, "False".into(), "VerifyFailed".into())
    );

    let failed = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Failed), Some(5))),
        ..content(DOC)
    };
    let p = plan(&kn1, &failed);
    assert!(
        p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none(),
        "never retried by itself"
    );
    assert_eq!(
        verdict(&p),
        (ConfigState::Failed, "False".into(), "ApplyFailed".into())
    );
    assert!(
        p.config
            .unwrap()
            .message
            .unwrap()
            .contains("delete it to retry")
    );
}

#[test]
fn a_changed_file_on_the_node_is_drift_and_is_not_rewritten_by_itself() {
    let done = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Completed), Some(3600))),
        ..content(DOC)
    };
    for files in [vec![(PATH, "#cloud-config\nhand: edit\n")], vec![]] {
        let p = plan(&kn(Some(spec(None)), &files, applied(DOC)), &done);
        assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
        assert_eq!(
            verdict(&p),
            (ConfigState::Drifted, "False".into(), "Drifted".into())
        );
        assert!(
            p.config
                .unwrap()
                .message
                .unwrap()
                .contains("changed on the node")
        );
    }
    // Deleting the NodeOp writes it again.
    let p = plan(
        &kn(
            Some(spec(None)),
            &[(PATH, "#cloud-config\nhand: edit\n")],
            applied(DOC),
        ),
        &content(DOC),
    );
    assert_eq!(
        p.nodeop_to_apply.and_then(|o| o.metadata.name),
        Some(want())
    );
}

#[test]
fn an_edited_source_replaces_the_finished_operation_then_writes_the_new_document() {
    let edited = "#cloud-config\nhostname: renamed\n";
    let observed = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Completed), Some(60))),
        ..content(edited)
    };
    let kn1 = kn(Some(spec(None)), &[(PATH, DOC)], applied(DOC));
    let p = plan(&kn1, &observed);
    assert_eq!(p.delete_nodeop, Some(want()));
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Pending, "False".into(), "Waiting".into())
    );
    // Once it is gone, the new document's NodeOp.
    let p = plan(&kn1, &content(edited));
    let new = write_nodeop_name("n1", &spec(None), &sha256_hex(edited.as_bytes()));
    assert_ne!(new, want());
    assert_eq!(
        p.nodeop_to_apply.and_then(|o| o.metadata.name),
        Some(new.clone())
    );
    // An earlier configuration's operation in flight is waited for, not disturbed.
    let observed = ConfigObserved {
        own_nodeop: Some(op(&want(), Some(NodePhase::Running), None)),
        ..content(edited)
    };
    let p = plan(&kn1, &observed);
    assert!(p.nodeop_to_apply.is_none() && p.delete_nodeop.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Pending, "False".into(), "Waiting".into())
    );
}

#[test]
fn removing_the_spec_deletes_the_managed_file_and_says_so() {
    let prev = applied(DOC);
    let none = ConfigObserved::default();
    let remove = remove_nodeop_name("n1", PATH);
    let p = plan(
        &kn(
            None,
            &[(PATH, DOC), ("/oem/10_other.yaml", "x")],
            prev.clone(),
        ),
        &none,
    );
    let removal = p.nodeop_to_apply.clone().expect("a removal NodeOp");
    assert_eq!(removal.metadata.name.as_deref(), Some(remove.as_str()));
    assert_eq!(
        (removal.spec.cordon, removal.spec.reboot_on_success),
        (Some(false), Some(false))
    );
    assert!(crate::k8s_names::annotation(&removal.metadata, ANNOTATION_CONFIG_SOURCE).is_none());
    assert!(removal.spec.command.concat().contains("rm -f"));
    assert_eq!(
        verdict(&p),
        (ConfigState::Removing, "False".into(), "Removing".into())
    );

    // The node reports the file gone: Removed, and the condition says so.
    let p = plan(&kn(None, &[("/oem/10_other.yaml", "x")], prev), &none);
    assert!(p.nodeop_to_apply.is_none());
    assert_eq!(
        verdict(&p),
        (ConfigState::Removed, "True".into(), "Removed".into())
    );
    assert!(
        p.condition
            .unwrap()
            .message
            .contains("was deleted from the node")
    );

    // A removal the node never confirms fails after the verification timeout.
    let removed_long_ago = ConfigObserved {
        own_nodeop: Some(op(&remove, Some(NodePhase::Completed), Some(601))),
        ..ConfigObserved::default()
    };
    let still_there = kn(None, &[(PATH, DOC)], applied(DOC));
    assert_eq!(
        verdict(&plan(&still_there, &removed_long_ago)),
        (ConfigState::Failed, "False".into(), "VerifyFailed".into())
    );

    // A node that never declared one gets nothing at all.
    let p = plan(&kn(None, &[(PATH, DOC)], None), &none);
    assert!(p.config.is_none() && p.condition.is_none() && p.nodeop_to_apply.is_none());
}

#[test]
fn a_moved_path_removes_the_previous_file_in_the_same_job() {
    let mut moved = spec(None);
    moved.path = "/oem/91_moved.yaml".into();
    let p = plan(
        &kn(Some(moved), &[(PATH, DOC)], applied(DOC)),
        &content(DOC),
    );
    let script = p.nodeop_to_apply.expect("a NodeOp").spec.command.concat();
    assert!(
        script.contains("/oem/91_moved.yaml")
            && script.contains(&format!("rm -f \"$HOST_DIR\"'{PATH}'"))
    );
    assert_eq!(
        p.config.unwrap().applied_hash,
        None,
        "the new path was never applied"
    );
}

#[test]
fn names_are_stable_and_follow_what_is_written() {
    let hash = sha256_hex(DOC.as_bytes());
    assert_eq!(
        write_nodeop_name("n1", &spec(None), &hash),
        write_nodeop_name("n1", &spec(Some(true)), &hash)
    );
    assert_ne!(
        write_nodeop_name("n1", &spec(None), &hash),
        write_nodeop_name("n1", &spec(Some(false)), &hash)
    );
    assert!(want().starts_with("kncfg-n1-"));
    let long = "n".repeat(250);
    assert!(write_nodeop_name(&long, &spec(None), &hash).len() <= 63);
    assert!(remove_nodeop_name(&long, PATH).len() <= 63);
}
