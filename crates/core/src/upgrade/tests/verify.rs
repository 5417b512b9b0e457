//! Tests of the post-reboot verification, of [`upgrade_target`] and of generated names.

use kairos_api::names::{LABEL_KAIROSNODE, LABEL_NODEOP_UPGRADE};
use kairos_api::v1alpha1::{BootState, KairosInfo, KairosNodeStatus, NodeOp};
use proptest::prelude::*;

use super::fixtures::{BOOT_A, BOOT_B};
use crate::k8s_names::label_value;
use crate::upgrade::node::nodeop_name;
use crate::upgrade::{ANNOTATION_TARGET_VERSION, Verification, upgrade_target, verify_upgrade};

fn report(
    version: Option<&str>,
    boot: Option<BootState>,
    boot_id: Option<&str>,
) -> KairosNodeStatus {
    KairosNodeStatus {
        kairos: Some(KairosInfo {
            version: version.map(str::to_owned),
            ..KairosInfo::default()
        }),
        boot_state: boot,
        boot_id: boot_id.map(str::to_owned),
        ..KairosNodeStatus::default()
    }
}

/// Target, reported version, boot state, boot ID now, boot ID before, expected outcome.
type Row<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<BootState>,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
);

#[test]
fn verification_table() {
    use BootState::*;
    let v360 = Some("v3.6.0");
    let v350 = Some("v3.5.0");
    // (target, reported version, boot state, boot id now, boot id before, expected kind)
    let table: [Row; 17] = [
        (v360, v350, Some(Active), None, Some(BOOT_A), "pending"),
        (
            v360,
            v350,
            Some(Active),
            Some(BOOT_A),
            Some(BOOT_A),
            "pending",
        ),
        (
            v360,
            v360,
            Some(Active),
            Some(BOOT_A),
            Some(BOOT_A),
            "pending",
        ),
        (
            v360,
            v360,
            Some(Active),
            Some(BOOT_B),
            Some(BOOT_A),
            "succeeded",
        ),
        (
            v360,
            Some("3.6.0"),
            Some(Active),
            Some(BOOT_B),
            Some(BOOT_A),
            "succeeded",
        ),
        (
            v360,
            v350,
            Some(Passive),
            Some(BOOT_B),
            Some(BOOT_A),
            "rolledback",
        ),
        (
            v360,
            v360,
            Some(Passive),
            Some(BOOT_B),
            Some(BOOT_A),
            "rolledback",
        ),
        (
            v360,
            v350,
            Some(Active),
            Some(BOOT_B),
            Some(BOOT_A),
            "failed",
        ),
        (
            v360,
            v360,
            Some(Recovery),
            Some(BOOT_B),
            Some(BOOT_A),
            "failed",
        ),
        (
            v360,
            v360,
            Some(Livecd),
            Some(BOOT_B),
            Some(BOOT_A),
            "failed",
        ),
        (
            v360,
            v360,
            Some(Unknown),
            Some(BOOT_B),
            Some(BOOT_A),
            "pending",
        ),
        (v360, v360, None, Some(BOOT_B), Some(BOOT_A), "pending"),
        (
            v360,
            None,
            Some(Active),
            Some(BOOT_B),
            Some(BOOT_A),
            "pending",
        ),
        (
            None,
            v350,
            Some(Active),
            Some(BOOT_B),
            Some(BOOT_A),
            "succeeded",
        ),
        (v360, v360, Some(Active), Some(BOOT_B), None, "succeeded"),
        (v360, v350, Some(Active), Some(BOOT_B), None, "pending"),
        (None, v360, Some(Active), Some(BOOT_B), None, "pending"),
    ];
    for (target, version, boot, now, before, want) in table {
        let got = verify_upgrade(target, &report(version, boot, now), before);
        let kind = match &got {
            Verification::Pending => "pending",
            Verification::Succeeded => "succeeded",
            Verification::RolledBack(_) => "rolledback",
            Verification::Failed(_) => "failed",
        };
        assert_eq!(
            kind, want,
            "{target:?} {version:?} {boot:?} {now:?} {before:?}: {got:?}"
        );
    }
}

#[test]
fn a_boot_assessment_fallback_is_a_rollback_with_its_evidence() {
    for boot in [BootState::Passive, BootState::Active, BootState::Unknown] {
        let fell_back = KairosNodeStatus {
            upgrade_failure: Some(true),
            ..report(Some("v3.5.0"), Some(boot), Some(BOOT_B))
        };
        let Verification::RolledBack(msg) =
            verify_upgrade(Some("v3.6.0"), &fell_back, Some(BOOT_A))
        else {
            panic!("expected a rollback for {boot:?}");
        };
        assert!(
            msg.contains("upgrade_failure") && msg.contains("v3.5.0") && msg.contains("v3.6.0"),
            "{msg}"
        );
    }
    // Not before the reboot: the report is still the old boot's.
    let not_rebooted = KairosNodeStatus {
        upgrade_failure: Some(true),
        ..report(Some("v3.5.0"), Some(BootState::Passive), Some(BOOT_A))
    };
    assert_eq!(
        verify_upgrade(Some("v3.6.0"), &not_rebooted, Some(BOOT_A)),
        Verification::Pending
    );
}

#[test]
fn a_trusted_boot_node_on_the_target_booted_active_is_verified() {
    let uki = KairosNodeStatus {
        trusted_boot: Some(true),
        upgrade_failure: Some(false),
        ..report(Some("v3.6.0"), Some(BootState::Active), Some(BOOT_B))
    };
    assert_eq!(
        verify_upgrade(Some("v3.6.0"), &uki, Some(BOOT_A)),
        Verification::Succeeded
    );
    let reset = report(Some("v3.6.0"), Some(BootState::Autoreset), Some(BOOT_B));
    assert!(matches!(
        verify_upgrade(Some("v3.6.0"), &reset, Some(BOOT_A)),
        Verification::Failed(m) if m.contains("autoreset")
    ));
}

#[test]
fn verification_messages_say_what_the_node_runs() {
    let passive = report(Some("v3.5.0"), Some(BootState::Passive), Some(BOOT_B));
    let Verification::RolledBack(msg) = verify_upgrade(Some("v3.6.0"), &passive, Some(BOOT_A))
    else {
        panic!("expected a rollback");
    };
    assert!(
        msg.contains("passive") && msg.contains("v3.5.0") && msg.contains("v3.6.0"),
        "{msg}"
    );
    let wrong = report(Some("v3.5.9"), Some(BootState::Active), Some(BOOT_B));
    let Verification::Failed(msg) = verify_upgrade(Some("v3.6.0"), &wrong, Some(BOOT_A)) else {
        panic!("expected a failure");
    };
    assert!(msg.contains("v3.5.9 instead of v3.6.0"), "{msg}");
}

#[test]
fn only_labelled_nodeops_are_upgrades() {
    let mut op = NodeOp::new(
        "x",
        serde_json::from_value(serde_json::json!({"command": ["true"]})).unwrap(),
    );
    assert_eq!(upgrade_target(&op), None);
    op.metadata.labels = Some([(LABEL_NODEOP_UPGRADE.to_owned(), "up".to_owned())].into());
    assert_eq!(upgrade_target(&op).unwrap().version, None);
    op.metadata.labels = Some([(LABEL_KAIROSNODE.to_owned(), "n1".to_owned())].into());
    op.metadata.annotations =
        Some([(ANNOTATION_TARGET_VERSION.to_owned(), "v3.6.0".to_owned())].into());
    assert_eq!(
        upgrade_target(&op).unwrap().version.as_deref(),
        Some("v3.6.0")
    );
}

#[test]
fn names_are_readable_when_possible_and_hashed_otherwise() {
    assert_eq!(nodeop_name("n4", "v3.6.1"), "kn-n4-v3.6.1");
    let upper = nodeop_name("Node_4", "V3.6.1");
    assert!(
        upper.starts_with("kn-node-4-v3-6-1-") && upper.len() <= 63,
        "{upper}"
    );
    let long = "n".repeat(200);
    let a = nodeop_name(&long, "v3.6.1");
    let b = nodeop_name(&long, "v3.6.2");
    assert!(a.len() <= 63 && b.len() <= 63 && a != b);
    // A running upgrade is found by its NodeOp's name: names must not change across versions.
    assert_eq!(upper, "kn-node-4-v3-6-1-bf503c47");
    assert_eq!(a, format!("kn-{}-416ae160", "n".repeat(54 - "kn-".len())));
    assert_eq!(
        nodeop_name("ip-10-0-0-1.eu-west-1.compute.internal", "v3.6.1-beta.2"),
        "kn-ip-10-0-0-1.eu-west-1.compute.internal-v3.6.1-beta.2"
    );
    assert_eq!(label_value("n4"), "n4");
    let lv = label_value(&"a.".repeat(60));
    assert!(
        lv.len() <= 63 && lv.ends_with(|c: char| c.is_ascii_alphanumeric()),
        "{lv}"
    );
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 63
        && s.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

fn is_label_value(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
}

proptest! {
    #[test]
    fn generated_names_and_label_values_are_always_valid(node in ".{0,300}", version in ".{0,40}") {
        let name = nodeop_name(&node, &version);
        prop_assert!(is_dns_subdomain(&name), "{name:?}");
        let value = label_value(&node);
        prop_assert!(is_label_value(&value), "{value:?}");
    }

    #[test]
    fn verification_never_panics(
        target in proptest::option::of(".{0,12}"),
        version in proptest::option::of(".{0,12}"),
        now in proptest::option::of(".{0,40}"),
        before in proptest::option::of(".{0,40}"),
        boot in 0u8..7,
        upgrade_failure in proptest::option::of(any::<bool>()),
    ) {
        let boot = [BootState::Active, BootState::Passive, BootState::Recovery, BootState::Autoreset, BootState::Livecd, BootState::Unknown].get(usize::from(boot)).copied();
        let reported = KairosNodeStatus {
            upgrade_failure,
            ..report(version.as_deref(), boot, now.as_deref())
        };
        let got = verify_upgrade(target.as_deref(), &reported, before.as_deref());
        if got == Verification::Succeeded {
            prop_assert_eq!(boot, Some(BootState::Active));
            prop_assert_ne!(upgrade_failure, Some(true));
        }
    }
}

#[test]
fn a_passive_boot_of_a_trusted_boot_node_is_a_rollback_naming_the_boot_counting() {
    let reported = KairosNodeStatus {
        kairos: Some(kairos_api::v1alpha1::KairosInfo {
            version: Some("v3.5.0".into()),
            ..Default::default()
        }),
        boot_state: Some(BootState::Passive),
        boot_id: Some("b2".into()),
        trusted_boot: Some(true),
        ..KairosNodeStatus::default()
    };
    match verify_upgrade(Some("v3.6.0"), &reported, Some("b1")) {
        Verification::RolledBack(m) => {
            assert!(
                m.contains("passive (fallback) trusted-boot entry")
                    && m.contains("systemd-boot's boot counting")
                    && m.contains("v3.5.0")
                    && m.contains("v3.6.0"),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}
