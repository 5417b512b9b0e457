//! The boot state of a Kairos node (active, passive, recovery, autoreset, live medium), whether
//! it booted a trusted-boot (UKI) image, runs from RAM, and whether GRUB's boot assessment fell
//! back after an upgrade. Pure: takes the contents of `/proc/cmdline` as `&str` and the names of
//! the files in `/run/cos` (the caller lists the directory), no I/O.
//!
//! # Sentinels first
//!
//! immucore writes one sentinel file per boot in `/run/cos`: exactly one of `active_mode`,
//! `passive_mode`, `recovery_mode`, `autoreset_mode`, `live_mode` (or one named `unknown`), plus
//! `uki_boot_mode` or `uki_install_mode` on a trusted-boot (UKI) node and `in_ram_mode` when the
//! system runs from RAM; kairos-init adds `upgrade_failure` when GRUB's boot assessment fell back
//! to passive after failed boots of an upgraded active system. [`boot_facts`] takes the state
//! from the mode sentinel when there is one, and from the command line only when there is none
//! (older releases, or a node whose `/run/cos` the agent cannot see). Every UKI entry has the
//! same command line, so on UKI the sentinels are the only source.
//!
//! Several mode sentinels (which immucore never writes) are taken in the order active, passive,
//! recovery, autoreset, live, and said so in [`BootFacts::message`]; a command line naming
//! another state than the sentinel is reported there too, and the sentinel wins.
//!
//! # The command line
//!
//! Kairos' GRUB menu entries boot the image by its filesystem label (`root=LABEL=COS_ACTIVE`,
//! `root=LABEL=COS_PASSIVE`, `root=LABEL=COS_RECOVERY` or `COS_SYSTEM` for the recovery squashfs),
//! the state-reset entry adds `kairos.reset`, the live ISO boots `root=live:CDLABEL=COS_LIVE`,
//! and netboot passes `netboot`. Upstream's labeler looks for these words anywhere in the command
//! line; this module matches whole parameters instead, so that a label named by another parameter
//! (say `rd.cos.oemlabel=COS_OEM`, or a hypothetical `rd.foo.activelabel=COS_ACTIVE` on a passive
//! boot) is never taken for the booted image. The rules, first match wins:
//!
//! 1. the flag `kairos.reset` -> autoreset;
//! 2. the flag `recovery-mode` -> recovery;
//! 3. the flag `netboot` -> livecd;
//! 4. the last `root=` parameter: a label (`LABEL=X`, `PARTLABEL=X`, `/dev/disk/by-label/X`,
//!    `/dev/disk/by-partlabel/X` or a bare `X`) of `COS_ACTIVE` -> active, `COS_PASSIVE` ->
//!    passive, `COS_RECOVERY` or `COS_SYSTEM` -> recovery; `live:...` (`live:LABEL=`,
//!    `live:CDLABEL=`, or a netboot URL) -> livecd;
//! 5. a bare word `COS_ACTIVE`, `COS_PASSIVE`, `COS_RECOVERY` or `COS_SYSTEM` (not a parameter
//!    value) -> the same states, and a bare `live:LABEL=...`/`live:CDLABEL=...` -> livecd;
//! 6. otherwise unknown.
//!
//! The command line also says UKI (`rd.immucore.uki`) and a boot-assessment fallback (the flag
//! `upgrade_failure` GRUB adds to the passive entry); either source suffices for those.

use kairos_api::v1alpha1::BootState;

/// The boot state named by a kernel command line; see the module documentation for the rules.
///
/// # Guarantees
///
/// Never panics, whatever the input.
pub fn boot_state_from_cmdline(cmdline: &str) -> BootState {
    state_from_params(&split_params(cmdline))
}

fn state_from_params(params: &[String]) -> BootState {
    if params.iter().any(|p| p == "kairos.reset") {
        return BootState::Autoreset;
    }
    if params.iter().any(|p| p == "recovery-mode") {
        return BootState::Recovery;
    }
    if params.iter().any(|p| p == "netboot") {
        return BootState::Livecd;
    }
    if let Some(state) = params
        .iter()
        .rev()
        .find_map(|p| p.strip_prefix("root="))
        .and_then(root_state)
    {
        return state;
    }
    params
        .iter()
        .filter(|p| !p.contains('=') || is_live(p))
        .find_map(|p| root_state(p))
        .unwrap_or(BootState::Unknown)
}

/// The directory immucore writes its boot sentinels in.
pub const SENTINEL_DIR: &str = "/run/cos";
/// Sentinel of a trusted-boot (UKI) boot of an installed system.
pub const UKI_BOOT_SENTINEL: &str = "uki_boot_mode";
/// Sentinel of a trusted-boot (UKI) boot of the installer.
pub const UKI_INSTALL_SENTINEL: &str = "uki_install_mode";
/// Sentinel of a system running from RAM.
pub const IN_RAM_SENTINEL: &str = "in_ram_mode";
/// Sentinel (and command-line flag) of a boot-assessment fallback after an upgrade.
pub const UPGRADE_FAILURE_SENTINEL: &str = "upgrade_failure";
/// Command-line flag of a UKI boot.
pub const UKI_CMDLINE_FLAG: &str = "rd.immucore.uki";

/// The mode sentinels, in the order taken when several are present.
pub const MODE_SENTINELS: [(&str, BootState); 5] = [
    ("active_mode", BootState::Active),
    ("passive_mode", BootState::Passive),
    ("recovery_mode", BootState::Recovery),
    ("autoreset_mode", BootState::Autoreset),
    ("live_mode", BootState::Livecd),
];

/// How a node booted, from its sentinels and command line; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootFacts {
    /// Which image the node booted.
    pub state: BootState,
    /// A trusted-boot (UKI) boot: `uki_boot_mode`/`uki_install_mode`, or `rd.immucore.uki`.
    pub uki: bool,
    /// The system runs from RAM (`in_ram_mode`).
    pub in_ram: bool,
    /// GRUB's boot assessment fell back after failed boots of an upgraded active system
    /// (`upgrade_failure` sentinel or command-line flag).
    pub upgrade_failure: bool,
    /// What did not add up (several mode sentinels, or a command line naming another state than
    /// the sentinel), and what was taken; `None` when the sources agree.
    pub message: Option<String>,
}

/// How a node booted, from its kernel command line (`None` when it was not read) and the names
/// of the files in `/run/cos` (empty when the directory is missing). Sentinels first, command
/// line second; see the module documentation.
///
/// # Guarantees
///
/// Never panics, whatever the input. With no mode sentinel, `state` is
/// [`boot_state_from_cmdline`] and `message` is `None`. With exactly one mode sentinel, `state`
/// is that sentinel's.
pub fn boot_facts<S: AsRef<str>>(cmdline: Option<&str>, sentinels: &[S]) -> BootFacts {
    let params = cmdline.map(split_params).unwrap_or_default();
    let has = |name: &str| sentinels.iter().any(|s| s.as_ref() == name);
    let flag = |name: &str| params.iter().any(|p| p == name);
    let from_cmdline = state_from_params(&params);

    let modes: Vec<(&str, BootState)> = MODE_SENTINELS
        .iter()
        .copied()
        .filter(|(name, _)| has(name))
        .collect();
    let mut notes = Vec::new();
    let state = match modes.as_slice() {
        [] => from_cmdline,
        [(name, state), rest @ ..] => {
            if !rest.is_empty() {
                let names: Vec<&str> = modes.iter().map(|(n, _)| *n).collect();
                notes.push(format!(
                    "several boot-mode sentinels in {SENTINEL_DIR} ({}); taking {name}",
                    names.join(", ")
                ));
            }
            if from_cmdline != BootState::Unknown && from_cmdline != *state {
                notes.push(format!(
                    "{SENTINEL_DIR}/{name} says {} but the kernel command line says {}; taking {}",
                    state_name(*state),
                    state_name(from_cmdline),
                    state_name(*state)
                ));
            }
            *state
        }
    };
    BootFacts {
        state,
        uki: has(UKI_BOOT_SENTINEL) || has(UKI_INSTALL_SENTINEL) || flag(UKI_CMDLINE_FLAG),
        in_ram: has(IN_RAM_SENTINEL),
        upgrade_failure: has(UPGRADE_FAILURE_SENTINEL) || flag(UPGRADE_FAILURE_SENTINEL),
        message: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// The API spelling of a boot state (as the `kairos.io/boot-state` label and messages write it).
pub fn state_name(state: BootState) -> &'static str {
    match state {
        BootState::Active => "active",
        BootState::Passive => "passive",
        BootState::Recovery => "recovery",
        BootState::Autoreset => "autoreset",
        BootState::Livecd => "livecd",
        BootState::Unknown => "unknown",
    }
}

fn is_live(value: &str) -> bool {
    value.starts_with("live:")
}

fn root_state(root: &str) -> Option<BootState> {
    if is_live(root) {
        return Some(BootState::Livecd);
    }
    let label = [
        "LABEL=",
        "PARTLABEL=",
        "/dev/disk/by-label/",
        "/dev/disk/by-partlabel/",
    ]
    .iter()
    .find_map(|prefix| root.strip_prefix(prefix))
    .unwrap_or(root);
    match label {
        "COS_ACTIVE" => Some(BootState::Active),
        "COS_PASSIVE" => Some(BootState::Passive),
        "COS_RECOVERY" | "COS_SYSTEM" => Some(BootState::Recovery),
        _ => None,
    }
}

/// Splits a kernel command line into parameters at whitespace, honouring double quotes the way
/// the kernel does (`key="a b"` is one parameter; the quotes are removed).
fn split_params(cmdline: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in cmdline.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            c if c.is_whitespace() && !in_quotes => {
                if !current.is_empty() {
                    params.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        params.push(current);
    }
    params
}

#[cfg(test)]
mod tests {
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
            m.contains("/run/cos/passive_mode says passive")
                && m.contains("command line says active"),
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
}
