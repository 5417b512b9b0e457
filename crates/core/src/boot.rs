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
mod tests;
