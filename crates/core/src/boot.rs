//! The boot state of a Kairos node (active, passive, recovery, live medium) from its kernel
//! command line. Pure: takes the contents of `/proc/cmdline` as `&str`, no I/O.
//!
//! Kairos' GRUB menu entries boot the image by its filesystem label (`root=LABEL=COS_ACTIVE`,
//! `root=LABEL=COS_PASSIVE`, `root=LABEL=COS_RECOVERY` or `COS_SYSTEM` for the recovery squashfs),
//! the live ISO boots `root=live:CDLABEL=COS_LIVE`, and netboot passes `netboot`. Upstream's
//! labeler looks for these words anywhere in the command line; this module matches whole
//! parameters instead, so that a label named by another parameter (say `rd.cos.oemlabel=COS_OEM`,
//! or a hypothetical `rd.foo.activelabel=COS_ACTIVE` on a passive boot) is never taken for the
//! booted image. The rules, first match wins:
//!
//! 1. the flag `recovery-mode` -> recovery;
//! 2. the flag `netboot` -> livecd;
//! 3. the last `root=` parameter: a label (`LABEL=X`, `PARTLABEL=X`, `/dev/disk/by-label/X`,
//!    `/dev/disk/by-partlabel/X` or a bare `X`) of `COS_ACTIVE` -> active, `COS_PASSIVE` ->
//!    passive, `COS_RECOVERY` or `COS_SYSTEM` -> recovery; `live:...` (`live:LABEL=`,
//!    `live:CDLABEL=`, or a netboot URL) -> livecd;
//! 4. a bare word `COS_ACTIVE`, `COS_PASSIVE`, `COS_RECOVERY` or `COS_SYSTEM` (not a parameter
//!    value) -> the same states, and a bare `live:LABEL=...`/`live:CDLABEL=...` -> livecd;
//! 5. otherwise unknown.

use kairos_api::v1alpha1::BootState;

/// The boot state named by a kernel command line; see the module documentation for the rules.
///
/// # Guarantees
///
/// Never panics, whatever the input.
pub fn boot_state_from_cmdline(cmdline: &str) -> BootState {
    let params = split_params(cmdline);
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
    const NETBOOT: &str = "rd.neednet=1 ip=dhcp rd.cos.disable root=live:http://10.0.0.1/rootfs.squashfs netboot install-mode config_url=http://10.0.0.1/config\n";

    #[test]
    fn kairos_grub_command_lines() {
        assert_eq!(boot_state_from_cmdline(ACTIVE), BootState::Active);
        assert_eq!(boot_state_from_cmdline(PASSIVE), BootState::Passive);
        assert_eq!(boot_state_from_cmdline(RECOVERY), BootState::Recovery);
        assert_eq!(boot_state_from_cmdline(LIVE), BootState::Livecd);
        assert_eq!(boot_state_from_cmdline(NETBOOT), BootState::Livecd);
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
    }
}
