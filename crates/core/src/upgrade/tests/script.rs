//! Tests of the rendered upgrade script's text: the exact lines of all 16 option combinations,
//! and the reading of its termination message.

use crate::upgrade::script::{ScriptOptions, UP_TO_DATE_MARKER, render};
use crate::upgrade::{JobOutcome, job_outcome};

const EXCLUDES: &str = " --exclude-path '/etc/hostname' --exclude-path '/etc/hosts'";

pub(super) fn all_options() -> Vec<ScriptOptions> {
    (0..16u8)
        .map(|bits| ScriptOptions {
            upgrade_active: bits & 1 != 0,
            upgrade_recovery: bits & 2 != 0,
            force: bits & 4 != 0,
            debug: bits & 8 != 0,
        })
        .collect()
}

fn position(lines: &[&str], line: &str) -> Option<usize> {
    lines.iter().position(|l| *l == line)
}

#[test]
fn every_combination_renders_exactly_the_expected_lines() {
    for o in all_options() {
        let script = render(&o);
        let lines: Vec<&str> = script.lines().map(str::trim).collect();
        let has = |l: &str| position(&lines, l).is_some();
        let active = o.upgrade_active || !o.upgrade_recovery;
        let gated = !o.force && active;
        let dbg = if o.debug { " --debug" } else { "" };
        let active_line = format!("kairos-agent{dbg} upgrade --source dir:/{EXCLUDES}");
        let recovery_line =
            format!("kairos-agent{dbg} upgrade --recovery --source dir:/{EXCLUDES}");
        let mount_dev = r#"mount --rbind "$HOST_DIR/dev" /dev"#;
        let mount_run = r#"mount --rbind "$HOST_DIR/run" /run"#;
        let ctx = format!("{o:?}\n{script}");

        assert_eq!(lines[0], "set -e", "{ctx}");
        assert_eq!(has("set -x"), o.debug, "{ctx}");
        assert!(has(r#"HOST_DIR="${HOST_DIR:-/host}""#), "{ctx}");
        assert!(has(mount_dev) && has(mount_run), "{ctx}");
        assert!(
            has("trap 'umount -l /run || :; umount -l /dev || :' EXIT"),
            "{ctx}"
        );
        assert_eq!(has(&active_line), active, "{ctx}");
        assert_eq!(has(&recovery_line), o.upgrade_recovery, "{ctx}");
        assert_eq!(has("UP_TO_DATE=false"), gated, "{ctx}");
        assert_eq!(script.contains(UP_TO_DATE_MARKER), gated, "{ctx}");
        let exits = lines.iter().filter(|l| **l == "exit 0").count();
        assert_eq!(
            exits,
            if gated && !o.upgrade_recovery { 2 } else { 1 },
            "{ctx}"
        );
        let guarded = has(r#"if [ "$UP_TO_DATE" != true ]; then"#);
        assert_eq!(guarded, gated && o.upgrade_recovery, "{ctx}");
        assert!(
            !script.contains("reboot"),
            "the script never reboots: {ctx}"
        );
        assert_eq!(
            script.matches("kairos-agent").count(),
            usize::from(active) + usize::from(o.upgrade_recovery),
            "{ctx}"
        );

        // Order: gate, then mounts, then recovery, then active.
        let dev = position(&lines, mount_dev).unwrap();
        if gated {
            let marker = lines
                .iter()
                .position(|l| l.contains(UP_TO_DATE_MARKER))
                .unwrap();
            assert!(
                marker < dev,
                "the marker is written before /dev is replaced: {ctx}"
            );
        }
        if let (Some(r), Some(a)) = (
            position(&lines, &recovery_line),
            position(&lines, &active_line),
        ) {
            assert!(dev < r && r < a, "{ctx}");
        }
    }
}

#[test]
fn neither_system_requested_upgrades_the_active_one_as_upstream() {
    let o = ScriptOptions::default();
    assert!(o.active() && o.gated() && o.reboots());
    assert!(render(&o).contains(&format!("kairos-agent upgrade --source dir:/{EXCLUDES}")));
}

#[test]
fn only_a_new_active_system_needs_a_reboot_and_only_active_only_upgrades_skip_nodes() {
    let recovery_only = ScriptOptions {
        upgrade_recovery: true,
        ..ScriptOptions::default()
    };
    assert!(!recovery_only.reboots() && !recovery_only.gated());
    let both = ScriptOptions {
        upgrade_active: true,
        upgrade_recovery: true,
        ..recovery_only
    };
    assert!(both.reboots() && both.gated() && !both.skips_when_up_to_date());
    let active = ScriptOptions {
        upgrade_active: true,
        ..ScriptOptions::default()
    };
    assert!(active.skips_when_up_to_date());
    assert!(
        !ScriptOptions {
            force: true,
            ..active
        }
        .skips_when_up_to_date()
    );
}

#[test]
fn job_outcome_reads_only_the_marker_line_and_its_detail() {
    assert_eq!(job_outcome(None), JobOutcome::Upgraded);
    assert_eq!(
        job_outcome(Some("0c1b2a3d-1111-2222-3333-444455556666\n")),
        JobOutcome::Upgraded
    );
    let appended = format!(
        "{UP_TO_DATE_MARKER}\nhost already runs v3.6.0\n0c1b2a3d-1111-2222-3333-444455556666\n"
    );
    let detail = "host already runs v3.6.0".to_owned();
    assert_eq!(
        job_outcome(Some(&appended)),
        JobOutcome::UpToDate { detail }
    );
    assert_eq!(
        job_outcome(Some(UP_TO_DATE_MARKER)),
        JobOutcome::UpToDate {
            detail: "already up to date".to_owned()
        }
    );
    assert_eq!(
        job_outcome(Some("x\nkairos-upgrade: up-to-date")),
        JobOutcome::Upgraded
    );
}
