//! Tests that run the rendered scripts with `sh`: `sh -n` on every script, and real runs
//! against a fake host root (a temp dir as `HOST_DIR`) with fake `mount`, `umount` and
//! `kairos-agent` commands first on `PATH`. Test-only I/O: temp dirs and `sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::script::all_options;
use crate::upgrade::script::{
    ScriptOptions, UP_TO_DATE_MARKER, render, render_preflight, render_with_recovery,
};
use crate::upgrade::{JobOutcome, job_outcome};

fn have_sh() -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg("exit 0")
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: no `sh` on this machine");
    }
    found
}

#[test]
fn sh_accepts_every_rendered_script() {
    if !have_sh() {
        return;
    }
    let mut scripts: Vec<String> = all_options().iter().map(render).collect();
    scripts.push(render_preflight());
    for script in scripts {
        let out = Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sh -n refused:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A fake node: host root, image root, fake commands logging their arguments.
struct Fake {
    _dir: tempfile::TempDir,
    host: PathBuf,
    image: PathBuf,
    bin: PathBuf,
    log: PathBuf,
    term: PathBuf,
}

#[allow(clippy::disallowed_methods)] // test fixtures live in a temp dir
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[allow(clippy::disallowed_methods)] // test fixtures live in a temp dir
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn release(version: &str) -> String {
    format!(
        "KAIROS_ID=\"kairos\"\nKAIROS_VERSION=\"{version}\"\nKAIROS_SOFTWARE_VERSION=\"v1.33.1+k3s1\"\nKAIROS_SOFTWARE_VERSION_PREFIX=\"k3s\"\n"
    )
}

fn fake(host_release: Option<&str>, image_release: Option<&str>, agent_rc: u8) -> Fake {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let f = Fake {
        host: root.join("host"),
        image: root.join("image"),
        bin: root.join("bin"),
        log: root.join("calls.log"),
        term: root.join("termination-log"),
        _dir: dir,
    };
    std::fs::create_dir_all(&f.image).unwrap();
    std::fs::create_dir_all(&f.host).unwrap();
    if let Some(text) = host_release {
        write(&f.host.join("etc/kairos-release"), text);
    }
    if let Some(text) = image_release {
        write(&f.image.join("etc/kairos-release"), text);
    }
    for (cmd, rc) in [("mount", 0), ("umount", 0), ("kairos-agent", agent_rc)] {
        let path = f.bin.join(cmd);
        write(
            &path,
            &format!("#!/bin/sh\necho \"{cmd} $*\" >> \"$FAKE_LOG\"\nexit {rc}\n"),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    f
}

/// Runs `script` on the fake node: exit success, the commands it ran, the termination log.
fn run(f: &Fake, script: &str) -> (bool, Vec<String>, String) {
    // Never let the real mount/umount run: the fakes must be first on PATH.
    for cmd in ["mount", "umount", "kairos-agent"] {
        assert!(f.bin.join(cmd).exists());
    }
    let path = format!(
        "{}:{}",
        f.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("HOST_DIR", &f.host)
        .env("IMAGE_ROOT", &f.image)
        .env("TERMINATION_LOG", &f.term)
        .env("FAKE_LOG", &f.log)
        .output()
        .unwrap();
    let host = f.host.display().to_string();
    let calls = read(&f.log)
        .lines()
        .map(|l| l.replace(&host, "$HOST"))
        .collect();
    (out.status.success(), calls, read(&f.term))
}

const UPGRADE_ACTIVE: &str =
    "kairos-agent upgrade --source dir:/ --exclude-path /etc/hostname --exclude-path /etc/hosts";
const UPGRADE_RECOVERY: &str = "kairos-agent upgrade --recovery --source dir:/ --exclude-path /etc/hostname --exclude-path /etc/hosts";

fn mounts_around(agent: &[&str]) -> Vec<String> {
    let mut v = vec![
        "mount --rbind $HOST/dev /dev".to_owned(),
        "mount --rbind $HOST/run /run".to_owned(),
    ];
    v.extend(agent.iter().map(|s| (*s).to_owned()));
    v.extend(["umount -l /run".to_owned(), "umount -l /dev".to_owned()]);
    v
}

const ACTIVE: ScriptOptions = ScriptOptions {
    upgrade_active: true,
    upgrade_recovery: false,
    force: false,
    debug: false,
};

#[test]
fn an_up_to_date_node_runs_nothing_and_says_so_for_the_engine() {
    if !have_sh() {
        return;
    }
    let f = fake(Some(&release("v3.6.0")), Some(&release("v3.6.0")), 0);
    let (ok, calls, term) = run(&f, &render(&ACTIVE));
    assert!(ok);
    assert!(calls.is_empty(), "no mount, no agent: {calls:?}");
    assert_eq!(
        term,
        format!("{UP_TO_DATE_MARKER}\nhost already runs v3.6.0+k3sv1.33.1+k3s1\n")
    );
    let detail = "host already runs v3.6.0+k3sv1.33.1+k3s1".to_owned();
    assert_eq!(job_outcome(Some(&term)), JobOutcome::UpToDate { detail });
}

#[test]
fn a_different_or_unknown_version_upgrades_and_undoes_the_mounts() {
    if !have_sh() {
        return;
    }
    let cases = [
        (Some(release("v3.5.0")), Some(release("v3.6.0"))),
        (None, Some(release("v3.6.0"))),
        (Some(release("v3.6.0")), None),
        (None, None),
        (
            Some(release("v3.6.0").replace("v1.33.1", "v1.32.0")),
            Some(release("v3.6.0")),
        ),
    ];
    for (host, image) in cases {
        let f = fake(host.as_deref(), image.as_deref(), 0);
        let (ok, calls, term) = run(&f, &render(&ACTIVE));
        assert!(ok, "{host:?} {image:?}");
        assert_eq!(
            calls,
            mounts_around(&[UPGRADE_ACTIVE]),
            "{host:?} {image:?}"
        );
        assert_eq!(term, "");
        assert_eq!(job_outcome(Some(&term)), JobOutcome::Upgraded);
    }
}

#[test]
fn recovery_is_never_skipped_as_up_to_date() {
    if !have_sh() {
        return;
    }
    let same = release("v3.6.0");
    let recovery_only = ScriptOptions {
        upgrade_active: false,
        upgrade_recovery: true,
        ..ACTIVE
    };
    let f = fake(Some(&same), Some(&same), 0);
    let (ok, calls, term) = run(&f, &render(&recovery_only));
    assert!(ok);
    assert_eq!(calls, mounts_around(&[UPGRADE_RECOVERY]));
    assert_eq!(term, "");

    // Active + recovery on an up-to-date node: recovery only, and no reboot needed.
    let both = ScriptOptions {
        upgrade_recovery: true,
        ..ACTIVE
    };
    let f = fake(Some(&same), Some(&same), 0);
    let (ok, calls, term) = run(&f, &render(&both));
    assert!(ok);
    assert_eq!(calls, mounts_around(&[UPGRADE_RECOVERY]));
    assert!(term.starts_with(UP_TO_DATE_MARKER));

    let f = fake(Some(&release("v3.5.0")), Some(&same), 0);
    let (_, calls, term) = run(&f, &render(&both));
    assert_eq!(calls, mounts_around(&[UPGRADE_RECOVERY, UPGRADE_ACTIVE]));
    assert_eq!(term, "");
}

#[test]
fn a_recovery_image_of_its_own_is_pulled_for_the_recovery_system_only() {
    if !have_sh() {
        return;
    }
    let both = ScriptOptions {
        upgrade_recovery: true,
        ..ACTIVE
    };
    let f = fake(Some(&release("v3.5.0")), Some(&release("v3.6.0")), 0);
    let script = render_with_recovery(&both, Some("registry.example/recovery:v3.6.0"));
    let (ok, calls, _) = run(&f, &script);
    assert!(ok);
    let recovery = "kairos-agent upgrade --recovery --source oci:registry.example/recovery:v3.6.0 --exclude-path /etc/hostname --exclude-path /etc/hosts";
    assert_eq!(calls, mounts_around(&[recovery, UPGRADE_ACTIVE]));
}

#[test]
fn force_upgrades_an_up_to_date_node() {
    if !have_sh() {
        return;
    }
    let same = release("v3.6.0");
    let f = fake(Some(&same), Some(&same), 0);
    let (ok, calls, term) = run(
        &f,
        &render(&ScriptOptions {
            force: true,
            ..ACTIVE
        }),
    );
    assert!(ok);
    assert_eq!(calls, mounts_around(&[UPGRADE_ACTIVE]));
    assert_eq!(term, "");
}

#[test]
fn a_failing_agent_fails_the_script_and_still_undoes_the_mounts() {
    if !have_sh() {
        return;
    }
    let f = fake(Some(&release("v3.5.0")), Some(&release("v3.6.0")), 3);
    let (ok, calls, _) = run(&f, &render(&ACTIVE));
    assert!(!ok);
    assert_eq!(calls, mounts_around(&[UPGRADE_ACTIVE]));
}

#[test]
fn debug_passes_the_global_flag_before_the_subcommand() {
    if !have_sh() {
        return;
    }
    let f = fake(Some(&release("v3.5.0")), Some(&release("v3.6.0")), 0);
    let (ok, calls, _) = run(
        &f,
        &render(&ScriptOptions {
            debug: true,
            ..ACTIVE
        }),
    );
    assert!(ok);
    assert!(calls.contains(&UPGRADE_ACTIVE.replace("kairos-agent ", "kairos-agent --debug ")));
}

#[test]
fn release_files_fall_back_to_os_release_and_resolve_absolute_links_inside_the_host() {
    if !have_sh() {
        return;
    }
    let f = fake(None, Some(&release("v3.6.0")), 0);
    // Old releases: KAIROS_* in os-release; /etc/os-release an absolute link into /usr/lib.
    write(
        &f.host.join("usr/lib/os-release"),
        &release("v3.6.0").replace('"', "'"),
    );
    std::fs::create_dir_all(f.host.join("etc")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/os-release", f.host.join("etc/os-release")).unwrap();
    let (ok, calls, term) = run(&f, &render(&ACTIVE));
    assert!(ok);
    assert!(calls.is_empty(), "{calls:?}");
    assert!(term.starts_with(UP_TO_DATE_MARKER));
}

#[test]
fn unquoted_values_and_comments_are_read() {
    if !have_sh() {
        return;
    }
    let host = "# comment\nKAIROS_VERSION=v3.6.0\nKAIROS_SOFTWARE_VERSION=v1.33.1+k3s1\nKAIROS_SOFTWARE_VERSION_PREFIX=k3s\n";
    let f = fake(Some(host), Some(&release("v3.6.0")), 0);
    let (_, calls, term) = run(&f, &render(&ACTIVE));
    assert!(calls.is_empty(), "{calls:?}");
    assert!(term.starts_with(UP_TO_DATE_MARKER));
}

#[test]
fn the_preflight_says_skip_only_when_up_to_date() {
    if !have_sh() {
        return;
    }
    let f = fake(Some(&release("v3.6.0")), Some(&release("v3.6.0")), 0);
    let (ok, calls, term) = run(&f, &render_preflight());
    assert!(ok && calls.is_empty());
    assert_eq!(term, "node already runs v3.6.0+k3sv1.33.1+k3s1\n");
    for (host, image) in [
        (Some(release("v3.5.0")), Some(release("v3.6.0"))),
        (None, None),
    ] {
        let f = fake(host.as_deref(), image.as_deref(), 0);
        let (ok, calls, term) = run(&f, &render_preflight());
        assert!(ok && calls.is_empty());
        assert_eq!(term, "", "unknown or different versions never skip");
    }
}

#[test]
fn a_hostile_host_release_is_read_never_run() {
    if !have_sh() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("ran-dollar");
    let second = dir.path().join("ran-backtick");
    let host = format!(
        "KAIROS_VERSION=\"$(touch {})\"\nKAIROS_SOFTWARE_VERSION=`touch {}`\n",
        first.display(),
        second.display()
    );
    let f = fake(Some(&host), Some(&release("v3.6.0")), 0);
    let (ok, calls, _) = run(&f, &render(&ACTIVE));
    assert!(ok);
    assert!(
        !first.exists() && !second.exists(),
        "a host value was executed"
    );
    assert_eq!(calls, mounts_around(&[UPGRADE_ACTIVE]), "not up to date");
}

#[test]
fn the_last_assignment_in_a_release_file_wins() {
    if !have_sh() {
        return;
    }
    let host = format!("KAIROS_VERSION=\"v3.5.0\"\n{}", release("v3.6.0"));
    let f = fake(Some(&host), Some(&release("v3.6.0")), 0);
    let (_, calls, term) = run(&f, &render(&ACTIVE));
    assert!(calls.is_empty(), "{calls:?}");
    assert!(term.starts_with(UP_TO_DATE_MARKER));
}

#[test]
fn another_kubernetes_distribution_is_not_up_to_date() {
    if !have_sh() {
        return;
    }
    let k0s = release("v3.6.0")
        .replace("v1.33.1+k3s1", "v1.33.1+k0s.0")
        .replace("\"k3s\"", "\"k0s\"");
    let f = fake(Some(&release("v3.6.0")), Some(&k0s), 0);
    let (ok, calls, term) = run(&f, &render(&ACTIVE));
    assert!(ok);
    assert_eq!(calls, mounts_around(&[UPGRADE_ACTIVE]));
    assert!(!term.starts_with(UP_TO_DATE_MARKER), "{term}");
}

#[test]
fn single_quoted_values_are_read() {
    if !have_sh() {
        return;
    }
    let host = "KAIROS_VERSION='v3.6.0'\nKAIROS_SOFTWARE_VERSION='v1.33.1+k3s1'\nKAIROS_SOFTWARE_VERSION_PREFIX='k3s'\n";
    let f = fake(Some(host), Some(&release("v3.6.0")), 0);
    let (_, calls, term) = run(&f, &render(&ACTIVE));
    assert!(calls.is_empty(), "{calls:?}");
    assert!(term.starts_with(UP_TO_DATE_MARKER));
}
