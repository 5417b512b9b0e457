//! Unit tests of the `NodeOp` engine's parts: object names, the Job and pod builders, label
//! selectors. Test-only; no I/O.

use proptest::prelude::*;

use super::fixtures::*;
use crate::nodeop::build::{self, Role};
use crate::nodeop::{Config, OpRef};

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn op_named(name: &str) -> OpRef {
    OpRef {
        name: name.to_owned(),
        ..op_ref()
    }
}

#[test]
fn names_are_short_readable_and_distinct() {
    let op = op_ref();
    let name = build::object_name(&op, "w1", Role::Job);
    assert!(
        name.starts_with("op-w1-") && name.len() == "op-w1-".len() + 8,
        "{name}"
    );
    assert_eq!(
        name,
        build::object_name(&op, "w1", Role::Job),
        "deterministic"
    );
    assert!(build::object_name(&op, "w1", Role::Reboot).starts_with("op-w1-reboot-"));
    let long_op = op_named(&"upgrade-firmware-".repeat(10));
    let long_node = "ip-10-0-0-1.eu-west-1.compute.internal".repeat(5);
    let a = build::object_name(&long_op, &format!("{long_node}a"), Role::Job);
    let b = build::object_name(&long_op, &format!("{long_node}b"), Role::Job);
    assert!(is_dns_label(&a), "{a}");
    assert_ne!(a, b, "the hash keeps truncated names apart");
    assert!(a.starts_with("upgrade-firmware-"));
}

/// Job and pod names are how a running operation finds its objects again: they must not change
/// across operator versions.
#[test]
fn names_stay_what_they_were() {
    let long_node = "ip-10-0-0-1.eu-west-1.compute.internal".repeat(5);
    let cases = [
        ("op", "w1", Role::Job, "op-w1-492fbf9d"),
        ("op", "w1", Role::Preflight, "op-w1-preflight-74d290e5"),
        ("op", "w1", Role::Reboot, "op-w1-reboot-384374fc"),
        (
            "op",
            "ip-10-0-0-1.eu-west-1.compute.internal",
            Role::Job,
            "op-ip-10-0-0-1-eu-west-1-compute-internal-b9a7717f",
        ),
        (
            "op",
            &long_node,
            Role::Reboot,
            "op-ip-10-0-0-1-eu-west-1-compute-internalip-10-reboot-22c53c42",
        ),
        (
            "upgrade-firmware.v2",
            "ip-10-0-0-1.eu-west-1.compute.internal",
            Role::Preflight,
            "upgrade-firmware-v2-ip-10-0-0-1-eu-west-1-co-preflight-7ac0cd24",
        ),
        (
            &"upgrade-firmware-".repeat(10),
            &long_node,
            Role::Job,
            "upgrade-firmware-upgrade-f-ip-10-0-0-1-eu-west-1-compu-961d3b31",
        ),
    ];
    for (op, node, role, want) in cases {
        assert_eq!(build::object_name(&op_named(op), node, role), want);
    }
}

proptest! {
    #[test]
    fn names_are_always_valid_dns_labels(
        op_name in "[a-z0-9][a-z0-9.-]{0,252}",
        node in "[a-zA-Z0-9][a-zA-Z0-9._-]{0,252}",
    ) {
        for role in [Role::Job, Role::Preflight, Role::Reboot] {
            let name = build::object_name(&op_named(&op_name), &node, role);
            prop_assert!(is_dns_label(&name), "{}", name);
        }
        let v = crate::k8s_names::label_value(&node);
        prop_assert!(crate::k8s_names::is_label_value(&v), "{}", v);
    }
}

#[test]
fn the_job_joins_the_hosts_pid_namespace_only_with_host_pid() {
    let doc = include_str!("testdata/seed-nodeop.yaml");
    let seed: kairos_api::v1alpha1::NodeOp = serde_yaml::from_str(doc).unwrap();
    let mut spec = seed.spec;
    let host_pid = |spec: &kairos_api::v1alpha1::NodeOpSpec| {
        let j = build::build_job(&op_ref(), spec, "cp1", &Config::default());
        j.spec.unwrap().template.spec.unwrap().host_pid
    };
    assert_eq!(host_pid(&spec), Some(false));
    spec.host_pid = Some(true);
    assert_eq!(host_pid(&spec), Some(true));
}

#[test]
fn the_job_matches_the_nodeop() {
    let doc = include_str!("testdata/seed-nodeop.yaml");
    let seed: kairos_api::v1alpha1::NodeOp = serde_yaml::from_str(doc).unwrap();
    let mut spec = seed.spec;
    spec.image_pull_secrets = serde_yaml::from_str("[{name: regcred}]").unwrap();
    let config = Config {
        service_account: Some("kairos-nodeop".into()),
        ..Config::default()
    };
    let j = build::build_job(&op_ref(), &spec, "cp1", &config);
    assert_eq!(j.metadata.namespace.as_deref(), Some("default"));
    let owner = &j.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("NodeOp", UID));
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    let labels = j.metadata.labels.clone().unwrap();
    assert_eq!(labels["operator.kairos.io/nodeop"], "op");
    assert_eq!(labels["operator.kairos.io/node"], "cp1");
    assert_eq!(labels["operator.kairos.io/role"], "job");
    let js = j.spec.unwrap();
    assert_eq!(js.backoff_limit, Some(3));
    assert_eq!(js.ttl_seconds_after_finished, None);
    assert_eq!(js.template.metadata.unwrap().labels.unwrap(), labels);
    let pod = js.template.spec.unwrap();
    assert_eq!(pod.node_name.as_deref(), Some("cp1"));
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.host_pid, Some(false));
    assert_eq!(pod.service_account_name.as_deref(), Some("kairos-nodeop"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "regcred");
    let tol = &pod.tolerations.unwrap()[0];
    assert_eq!(
        (
            tol.key.as_deref(),
            tol.operator.as_deref(),
            tol.effect.as_deref()
        ),
        (None, Some("Exists"), None)
    );
    let vol = &pod.volumes.unwrap()[0];
    assert_eq!(vol.host_path.as_ref().unwrap().path, "/");
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some("busybox:latest"));
    assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
    let mount = &c.volume_mounts.as_ref().unwrap()[0];
    assert_eq!(
        (mount.name.as_str(), mount.mount_path.as_str()),
        (vol.name.as_str(), "/host")
    );
    // rebootOnSuccess: a wrapper records the boot ID; the NodeOp's command is its `args`.
    let cmd = c.command.clone().unwrap();
    assert_eq!(&cmd[..2], ["/bin/sh", "-c"]);
    assert!(cmd[2].starts_with("boot_id=\"$(cat /proc/sys/kernel/random/boot_id)\"\n"));
    assert!(cmd[2].contains("exec 3>>/dev/termination-log\n\"$@\" 3>&-\n"));
    assert_eq!(cmd.len(), 4);
    assert_eq!(c.args.as_deref(), Some(spec.command.as_slice()));
}

#[test]
fn without_reboot_the_command_is_unchanged_and_another_namespace_has_no_owner() {
    let config = Config {
        job_namespace: Some("kairos-system".into()),
        ..Config::default()
    };
    let j = build::build_job(&op_ref(), &spec(), "w1", &config);
    assert_eq!(j.metadata.namespace.as_deref(), Some("kairos-system"));
    assert_eq!(j.metadata.owner_references, None);
    let pod = j.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].command.clone().unwrap(), ["true"]);
    assert_eq!(pod.containers[0].args, None);
}

#[test]
fn the_reboot_pod_compares_boot_ids_before_rebooting() {
    let p = build::build_reboot_pod(&op_ref(), &spec(), "w1", BOOT_A, &Config::default());
    let spec = p.spec.unwrap();
    assert_eq!(spec.host_pid, Some(true));
    assert_eq!(spec.node_name.as_deref(), Some("w1"));
    let c = &spec.containers[0];
    assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
    let script = &c.command.as_ref().unwrap()[2];
    assert!(script.contains("if [ \"$current\" = \"$EXPECTED_BOOT_ID\" ]"));
    assert!(script.contains("nsenter -t 1 -m -u -i -n -p -- reboot"));
    assert_eq!(c.env.as_ref().unwrap()[0].value.as_deref(), Some(BOOT_A));
}

#[test]
fn the_preflight_pod_is_read_only_and_unprivileged() {
    let mut s = spec();
    s.preflight = serde_yaml::from_str("{image: alpine, command: [check]}").unwrap();
    let p = build::build_preflight_pod(&op_ref(), &s, "w1", &Config::default());
    let c = &p.spec.unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("alpine"));
    assert_eq!(c.security_context, None);
    assert_eq!(c.volume_mounts.as_ref().unwrap()[0].read_only, Some(true));
}

#[test]
fn boot_ids_are_parsed_from_termination_messages() {
    assert_eq!(
        build::parse_boot_id(&format!(" {BOOT_A}\n")).as_deref(),
        Some(BOOT_A)
    );
    assert_eq!(build::parse_boot_id("done"), None);
    let upgrade = format!("kairos-upgrade: up-to-date\nhost already runs v3.6.0\n{BOOT_A}\n");
    assert_eq!(build::parse_boot_id(&upgrade).as_deref(), Some(BOOT_A));
}

#[test]
fn a_job_never_runs_forever() {
    use super::fixtures::{op_ref, spec};
    let config = crate::nodeop::Config::default();
    let job = crate::nodeop::build::build_job(&op_ref(), &spec(), "n1", &config);
    assert_eq!(
        job.spec.as_ref().unwrap().active_deadline_seconds,
        Some(3600)
    );
    let mut limited = spec();
    limited.job_timeout_seconds = Some(120);
    let job = crate::nodeop::build::build_job(&op_ref(), &limited, "n1", &config);
    assert_eq!(
        job.spec.as_ref().unwrap().active_deadline_seconds,
        Some(120)
    );
}

#[test]
fn stages_keep_each_nodes_order_and_every_nodeless_action_in_place() {
    use crate::nodeop::{Action, stages};
    let cordon = |n: &str| Action::Cordon {
        node: n.into(),
        cordoned_by: "o".into(),
    };
    let release = |n: &str| Action::Release {
        node: n.into(),
        holder: "o".into(),
    };
    let delete = Action::DeleteJob {
        namespace: "ns".into(),
        name: "j".into(),
    };
    let actions = vec![
        cordon("b"),
        cordon("a"),
        release("b"),
        delete.clone(),
        release("a"),
        Action::RemoveFinalizer,
    ];
    let got = stages(&actions);
    assert_eq!(
        got,
        vec![
            vec![vec![&actions[1]], vec![&actions[0], &actions[2]]],
            vec![vec![&delete]],
            vec![vec![&actions[4]]],
            vec![vec![&Action::RemoveFinalizer]],
        ]
    );
    assert!(stages(&[]).is_empty());
}

#[test]
fn a_spec_without_an_image_runs_the_operators_default_image() {
    let s = spec();
    assert!(s.image.is_empty(), "the minimal spec names no image");
    let config = Config {
        default_image: "registry.example/tools:1".into(),
        ..Config::default()
    };
    let job = build::build_job(&op_ref(), &s, "w1", &config);
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.example/tools:1")
    );
    let named = kairos_api::v1alpha1::NodeOpSpec {
        image: "alpine:3".into(),
        ..s
    };
    let job = build::build_job(&op_ref(), &named, "w1", &config);
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.containers[0].image.as_deref(), Some("alpine:3"));
}
