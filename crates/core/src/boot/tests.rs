//! Tests of the boot state from sentinels and kernel command lines.

use super::*;
use proptest::prelude::*;

// Command lines as Kairos' GRUB configuration writes them.
const ACTIVE: &str = "BOOT_IMAGE=/cOS/vmlinuz console=tty1 console=ttyS0 root=LABEL=COS_ACTIVE cos-img/filename=/cOS/active.img panic=5 net.ifnames=1 rd.neednet=0 rd.cos.oemlabel=COS_OEM rd.cos.oemtimeout=10 rd.immucore.sysrootwait=600 vga=795 nomodeset\n";
const PASSIVE: &str = "BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_PASSIVE cos-img/filename=/cOS/passive.img panic=5 rd.cos.oemlabel=COS_OEM\n";
const RECOVERY: &str = "BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_SYSTEM cos-img/filename=/cOS/recovery.squashfs panic=5 rd.cos.oemlabel=COS_OEM\n";
const LIVE: &str = "BOOT_IMAGE=/boot/kernel console=tty1 root=live:CDLABEL=COS_LIVE rd.live.dir=/ rd.live.squashimg=rootfs.squashfs rd.cos.disable rd.immucore.debug\n";
const RESET: &str = "BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_SYSTEM cos-img/filename=/cOS/recovery.squashfs panic=5 rd.cos.oemlabel=COS_OEM kairos.reset\n";
const PASSIVE_FALLBACK: &str = "BOOT_IMAGE=/cOS/vmlinuz console=tty1 root=LABEL=COS_PASSIVE cos-img/filename=/cOS/passive.img panic=5 rd.cos.oemlabel=COS_OEM upgrade_failure\n";
// Every UKI entry boots the same command line.
const UKI: &str = "console=ttyS0 console=tty1 net.ifnames=1 rd.immucore.oemlabel=COS_OEM rd.immucore.debug rd.immucore.oemtimeout=2 rd.immucore.uki selinux=0 panic=5 rd.shell=0 systemd.crash_reboot=yes\n";
const NETBOOT: &str = "rd.neednet=1 ip=dhcp rd.cos.disable root=live:http://10.0.0.1/rootfs.squashfs netboot install-mode config_url=http://10.0.0.1/config\n";

#[test]
fn kairos_grub_command_lines() {
    assert_eq!(boot_state_from_cmdline(ACTIVE), BootState::Active);
    assert_eq!(boot_state_from_cmdline(PASSIVE), BootState::Passive);
    assert_eq!(boot_state_from_cmdline(RECOVERY), BootState::Recovery);
    assert_eq!(boot_state_from_cmdline(LIVE), BootState::Livecd);
    assert_eq!(boot_state_from_cmdline(NETBOOT), BootState::Livecd);
    assert_eq!(boot_state_from_cmdline(RESET), BootState::Autoreset);
    assert_eq!(
        boot_state_from_cmdline(PASSIVE_FALLBACK),
        BootState::Passive
    );
    assert_eq!(boot_state_from_cmdline(UKI), BootState::Unknown);
}

fn facts(cmdline: &str, sentinels: &[&str]) -> BootFacts {
    boot_facts(Some(cmdline), sentinels)
}

#[test]
fn grub_entries_with_their_sentinels() {
    let cases = [
        (ACTIVE, "active_mode", BootState::Active),
        (PASSIVE, "passive_mode", BootState::Passive),
        (RECOVERY, "recovery_mode", BootState::Recovery),
        (RESET, "autoreset_mode", BootState::Autoreset),
        (LIVE, "live_mode", BootState::Livecd),
        (NETBOOT, "live_mode", BootState::Livecd),
    ];
    for (cmdline, sentinel, want) in cases {
        let got = facts(cmdline, &[sentinel]);
        assert_eq!(
            got,
            BootFacts {
                state: want,
                ..BootFacts::default()
            },
            "{sentinel}"
        );
    }
}

#[test]
fn without_sentinels_the_command_line_decides_as_before() {
    for cmdline in [ACTIVE, PASSIVE, RECOVERY, RESET, LIVE, NETBOOT, UKI, ""] {
        let got = boot_facts::<&str>(Some(cmdline), &[]);
        assert_eq!(got.state, boot_state_from_cmdline(cmdline), "{cmdline:?}");
        assert_eq!(got.message, None);
    }
    assert_eq!(boot_facts::<&str>(None, &[]), BootFacts::default());
}

#[test]
fn uki_boots_are_told_apart_by_their_sentinels() {
    for (sentinel, want) in [
        ("active_mode", BootState::Active),
        ("passive_mode", BootState::Passive),
        ("recovery_mode", BootState::Recovery),
        ("autoreset_mode", BootState::Autoreset),
    ] {
        let got = facts(UKI, &[sentinel, "uki_boot_mode"]);
        assert_eq!(got.state, want, "{sentinel}");
        assert!(got.uki);
        assert_eq!(
            got.message, None,
            "an unknown command line contradicts nothing"
        );
    }
    let install = facts(UKI, &["live_mode", "uki_install_mode"]);
    assert_eq!(install.state, BootState::Livecd);
    assert!(install.uki);
    // The command-line flag alone says UKI (sentinels not visible).
    let bare = boot_facts::<&str>(Some(UKI), &[]);
    assert!(bare.uki);
    assert_eq!(bare.state, BootState::Unknown);
    assert!(!facts(ACTIVE, &["active_mode"]).uki);
}

#[test]
fn in_ram_and_boot_assessment() {
    let ram = facts(LIVE, &["live_mode", "in_ram_mode"]);
    assert!(ram.in_ram && !ram.upgrade_failure);
    let by_sentinel = facts(PASSIVE, &["passive_mode", "upgrade_failure"]);
    assert!(by_sentinel.upgrade_failure);
    assert_eq!(by_sentinel.state, BootState::Passive);
    let by_flag = facts(PASSIVE_FALLBACK, &["passive_mode"]);
    assert!(by_flag.upgrade_failure);
    assert!(!facts(PASSIVE, &["passive_mode"]).upgrade_failure);
    assert!(!facts("no_upgrade_failure", &[]).upgrade_failure);
}

#[test]
fn an_unknown_sentinel_leaves_the_command_line_to_decide() {
    let got = facts(ACTIVE, &["unknown"]);
    assert_eq!(got.state, BootState::Active);
    assert_eq!(got.message, None);
    assert_eq!(
        facts(UKI, &["unknown", "uki_boot_mode"]).state,
        BootState::Unknown
    );
}

#[test]
fn contradictions_are_reported_and_the_sentinel_wins() {
    let got = facts(ACTIVE, &["passive_mode"]);
    assert_eq!(got.state, BootState::Passive);
    let m = got.message.unwrap_or_default();
    assert!(
        m.contains("/run/cos/passive_mode says passive") && m.contains("command line says active"),
        "{m}"
    );
    let got = facts(UKI, &["recovery_mode", "passive_mode", "uki_boot_mode"]);
    assert_eq!(got.state, BootState::Passive);
    let m = got.message.unwrap_or_default();
    assert!(
        m.contains("several boot-mode sentinels") && m.contains("passive_mode, recovery_mode"),
        "{m}"
    );
    // The order: active, passive, recovery, autoreset, live.
    let all = [
        "live_mode",
        "autoreset_mode",
        "recovery_mode",
        "passive_mode",
        "active_mode",
    ];
    for n in (1..=all.len()).rev() {
        let got = facts("", &all[..n]);
        assert_eq!(got.state, MODE_SENTINELS[5 - n].1, "{n}");
        assert_eq!(got.message.is_some(), n > 1);
    }
}

#[test]
fn table() {
    let cases = [
        ("root=LABEL=COS_RECOVERY", BootState::Recovery),
        ("root=/dev/disk/by-label/COS_PASSIVE ro", BootState::Passive),
        ("root=PARTLABEL=COS_ACTIVE", BootState::Active),
        ("root=live:LABEL=COS_LIVE", BootState::Livecd),
        (
            "quiet recovery-mode root=LABEL=COS_ACTIVE",
            BootState::Recovery,
        ),
        ("COS_ACTIVE", BootState::Active),
        ("  COS_PASSIVE  ", BootState::Passive),
        ("live:CDLABEL=COS_LIVE", BootState::Livecd),
        ("root=\"LABEL=COS_ACTIVE\"", BootState::Active),
        // The last root= wins, as in the kernel.
        (
            "root=LABEL=COS_ACTIVE root=LABEL=COS_PASSIVE",
            BootState::Passive,
        ),
        // Other parameters naming labels are not the booted image.
        ("rd.cos.oemlabel=COS_OEM", BootState::Unknown),
        (
            "rd.foo.activelabel=COS_ACTIVE root=LABEL=COS_PASSIVE",
            BootState::Passive,
        ),
        ("rd.foo.activelabel=COS_ACTIVE", BootState::Unknown),
        ("root=LABEL=NOT_COS_ACTIVE", BootState::Unknown),
        ("root=LABEL=COS_ACTIVE_X", BootState::Unknown),
        ("xCOS_ACTIVE", BootState::Unknown),
        ("netbooted", BootState::Unknown),
        ("no-recovery-mode", BootState::Unknown),
        (
            "BOOT_IMAGE=/vmlinuz-6.1.0-18-amd64 root=UUID=0b7e ro quiet",
            BootState::Unknown,
        ),
        ("", BootState::Unknown),
    ];
    for (cmdline, want) in cases {
        assert_eq!(boot_state_from_cmdline(cmdline), want, "{cmdline:?}");
    }
}

#[test]
fn a_root_named_inside_a_quoted_value_is_not_the_root() {
    let cmdline = "rd.note=\"was root=LABEL=COS_PASSIVE\" root=LABEL=COS_ACTIVE";
    assert_eq!(boot_state_from_cmdline(cmdline), BootState::Active);
    let only_quoted = "rd.note=\"root=LABEL=COS_PASSIVE COS_RECOVERY\"";
    assert_eq!(boot_state_from_cmdline(only_quoted), BootState::Unknown);
}

#[test]
fn tabs_and_newlines_separate_parameters() {
    assert_eq!(
        boot_state_from_cmdline("quiet\troot=LABEL=COS_PASSIVE\nro"),
        BootState::Passive
    );
}

#[test]
fn an_unterminated_quote_keeps_the_rest_as_one_parameter() {
    assert_eq!(
        boot_state_from_cmdline("root=\"LABEL=COS_ACTIVE"),
        BootState::Active
    );
    assert_eq!(
        boot_state_from_cmdline("x=\"a root=LABEL=COS_ACTIVE"),
        BootState::Unknown
    );
}

#[test]
fn a_last_root_of_another_disk_hides_an_earlier_kairos_root() {
    assert_eq!(
        boot_state_from_cmdline("root=LABEL=COS_ACTIVE root=UUID=0b7e"),
        BootState::Unknown
    );
}

#[test]
fn every_spelling_of_a_label_root_names_its_image() {
    let cases = [
        ("root=COS_ACTIVE", BootState::Active),
        (
            "root=/dev/disk/by-partlabel/COS_RECOVERY",
            BootState::Recovery,
        ),
        ("root=/dev/disk/by-label/COS_SYSTEM", BootState::Recovery),
        ("root=PARTLABEL=COS_PASSIVE", BootState::Passive),
        (
            "root=live:http://10.0.0.1/rootfs.squashfs",
            BootState::Livecd,
        ),
    ];
    for (cmdline, want) in cases {
        assert_eq!(boot_state_from_cmdline(cmdline), want, "{cmdline}");
    }
}

#[test]
fn labels_are_case_sensitive() {
    assert_eq!(
        boot_state_from_cmdline("root=LABEL=cos_active"),
        BootState::Unknown
    );
    assert_eq!(
        boot_state_from_cmdline("root=label=COS_ACTIVE"),
        BootState::Unknown
    );
}

#[test]
fn flags_with_a_value_are_not_the_flags() {
    assert_eq!(
        boot_state_from_cmdline("kairos.reset=0 root=LABEL=COS_ACTIVE"),
        BootState::Active
    );
    assert_eq!(
        boot_state_from_cmdline("recovery-mode=no root=LABEL=COS_PASSIVE"),
        BootState::Passive
    );
    assert!(!boot_facts::<&str>(Some("rd.immucore.uki=0"), &[]).uki);
}

#[test]
fn reset_beats_recovery_and_recovery_beats_netboot() {
    assert_eq!(
        boot_state_from_cmdline("netboot recovery-mode kairos.reset"),
        BootState::Autoreset
    );
    assert_eq!(
        boot_state_from_cmdline("netboot recovery-mode"),
        BootState::Recovery
    );
}

#[test]
fn a_bare_live_label_counts_but_another_parameter_with_live_does_not() {
    assert_eq!(
        boot_state_from_cmdline("quiet live:LABEL=COS_LIVE"),
        BootState::Livecd
    );
    assert_eq!(
        boot_state_from_cmdline("rd.live.image=live:LABEL=COS_LIVE"),
        BootState::Unknown
    );
}

#[test]
fn sentinels_without_a_command_line_decide_alone() {
    let got = boot_facts(None, &["recovery_mode", "in_ram_mode"]);
    assert_eq!(
        got,
        BootFacts {
            state: BootState::Recovery,
            in_ram: true,
            ..BootFacts::default()
        }
    );
}

#[test]
fn a_contradiction_message_names_both_sources_exactly() {
    let got = boot_facts(Some("root=LABEL=COS_ACTIVE"), &["passive_mode"]);
    assert_eq!(
        got.message.as_deref(),
        Some(
            "/run/cos/passive_mode says passive but the kernel command line says active; taking passive"
        )
    );
}

#[test]
fn states_are_spelled_as_the_api_writes_them() {
    let cases = [
        (BootState::Active, "active"),
        (BootState::Passive, "passive"),
        (BootState::Recovery, "recovery"),
        (BootState::Autoreset, "autoreset"),
        (BootState::Livecd, "livecd"),
        (BootState::Unknown, "unknown"),
    ];
    for (state, name) in cases {
        assert_eq!(state_name(state), name);
        assert_eq!(
            serde_json::to_value(state).expect("serializes"),
            serde_json::json!(name),
            "the label and the API field agree"
        );
    }
}

proptest! {
    #[test]
    fn never_panics(input in any::<String>()) {
        let _ = boot_state_from_cmdline(&input);
    }

    #[test]
    fn sentinels_first_and_never_panics(
        cmdline in proptest::option::of(any::<String>()),
        sentinels in proptest::collection::vec(
            prop_oneof![
                Just("active_mode".to_owned()),
                Just("passive_mode".to_owned()),
                Just("recovery_mode".to_owned()),
                Just("autoreset_mode".to_owned()),
                Just("live_mode".to_owned()),
                Just("unknown".to_owned()),
                Just("uki_boot_mode".to_owned()),
                Just("in_ram_mode".to_owned()),
                Just("upgrade_failure".to_owned()),
                any::<String>(),
            ],
            0..8,
        ),
    ) {
        let got = boot_facts(cmdline.as_deref(), &sentinels);
        let first = MODE_SENTINELS.iter().find(|(n, _)| sentinels.iter().any(|s| s == n));
        match first {
            Some((_, state)) => prop_assert_eq!(got.state, *state),
            None => {
                prop_assert_eq!(got.state, cmdline.as_deref().map_or(BootState::Unknown, boot_state_from_cmdline));
                prop_assert_eq!(got.message, None);
            }
        }
    }
}
