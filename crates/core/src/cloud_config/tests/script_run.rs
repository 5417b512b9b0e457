//! Tests that run the rendered cloud-config scripts with `sh`: `sh -n` on every shape, and
//! real runs against a fake host root (a temp dir as `HOST_DIR`, the source as
//! `CONFIG_SOURCE`) with a fake `chroot` first on `PATH`. Test-only I/O: temp dirs and `sh`.
#![allow(clippy::disallowed_methods)] // test fixtures live in a temp dir

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cloud_config::script::{WriteScript, render_remove, render_write};
use crate::report::sha256_hex;

const DOC: &str = "#cloud-config\nhostname: node-1\n";
const PATH: &str = "/oem/90_kairos-operator.yaml";

fn have_sh() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v sha256sum >/dev/null"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: no `sh` or `sha256sum` on this machine");
    }
    found
}

fn write(w: WriteScript<'_>) -> String {
    render_write(&w)
}

fn shapes() -> Vec<String> {
    vec![
        write(WriteScript {
            path: PATH,
            sha256: "00",
            previous_path: None,
            run_stage: None,
        }),
        write(WriteScript {
            path: "/oem/a'b.yaml",
            sha256: "00",
            previous_path: Some("/oem/old.yaml"),
            run_stage: Some("network"),
        }),
        render_remove(PATH),
    ]
}

#[test]
fn sh_accepts_every_rendered_script() {
    if !have_sh() {
        return;
    }
    for script in shapes() {
        let out = Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sh -n refused:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn no_script_carries_the_document() {
    for script in shapes() {
        assert!(!script.contains("hostname"), "{script}");
    }
}

/// A fake node: host root with `/oem` and other files, the mounted source, a fake `chroot`.
struct Fake {
    _dir: tempfile::TempDir,
    host: PathBuf,
    source: PathBuf,
    bin: PathBuf,
    log: PathBuf,
}

fn fake(source: &str) -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let f = Fake {
        host: root.join("host"),
        source: root.join("kairos-config/cloud-config.yaml"),
        bin: root.join("bin"),
        log: root.join("calls.log"),
        _dir: dir,
    };
    for d in [
        f.host.join("oem"),
        f.bin.clone(),
        root.join("kairos-config"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(
        f.host.join("oem/10_other.yaml"),
        "#cloud-config\nother: 1\n",
    )
    .unwrap();
    std::fs::write(f.host.join("oem/grubenv"), "saved_entry=active\n").unwrap();
    std::fs::write(&f.source, source).unwrap();
    let chroot = f.bin.join("chroot");
    std::fs::write(&chroot, "#!/bin/sh\necho \"chroot $*\" >> \"$FAKE_LOG\"\n").unwrap();
    std::fs::set_permissions(&chroot, std::fs::Permissions::from_mode(0o755)).unwrap();
    f
}

fn run(f: &Fake, script: &str) -> (bool, Vec<String>, String) {
    let path = format!(
        "{}:{}",
        f.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", script])
        .env("PATH", path)
        .env("HOST_DIR", &f.host)
        .env("CONFIG_SOURCE", &f.source)
        .env("FAKE_LOG", &f.log)
        .output()
        .unwrap();
    let host = f.host.display().to_string();
    let calls = std::fs::read_to_string(&f.log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace(&host, "$HOST"))
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), calls, stderr)
}

/// Every file under the fake host's `/oem`, with its contents.
fn oem(f: &Fake) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(f.host.join("oem"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn others() -> Vec<(String, String)> {
    vec![
        (
            "10_other.yaml".to_owned(),
            "#cloud-config\nother: 1\n".to_owned(),
        ),
        ("grubenv".to_owned(), "saved_entry=active\n".to_owned()),
    ]
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_file_is_written_with_mode_0600_and_nothing_else_changes() {
    if !have_sh() {
        return;
    }
    let f = fake(DOC);
    let want = sha256_hex(DOC.as_bytes());
    let script = write(WriteScript {
        path: PATH,
        sha256: &want,
        previous_path: None,
        run_stage: None,
    });
    let (ok, calls, stderr) = run(&f, &script);
    assert!(ok, "{stderr}");
    assert!(calls.is_empty(), "no stage asked: {calls:?}");
    let mut expected = others();
    expected.insert(1, ("90_kairos-operator.yaml".to_owned(), DOC.to_owned()));
    assert_eq!(
        oem(&f),
        expected,
        "only the managed file is added, no temp file left"
    );
    assert_eq!(mode(&f.host.join("oem/90_kairos-operator.yaml")), 0o600);

    // Writing again over an existing file replaces it (rename), still 0600.
    std::fs::write(f.host.join("oem/90_kairos-operator.yaml"), "old").unwrap();
    let (ok, _, stderr) = run(&f, &script);
    assert!(ok, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(f.host.join("oem/90_kairos-operator.yaml")).unwrap(),
        DOC
    );
}

#[test]
fn a_source_that_changed_since_planning_writes_nothing() {
    if !have_sh() {
        return;
    }
    let f = fake("#cloud-config\nhostname: edited\n");
    let script = write(WriteScript {
        path: PATH,
        sha256: &sha256_hex(DOC.as_bytes()),
        previous_path: None,
        run_stage: Some("network"),
    });
    let (ok, calls, stderr) = run(&f, &script);
    assert!(!ok);
    assert!(stderr.contains("not the planned"), "{stderr}");
    assert!(calls.is_empty(), "no stage after a refusal: {calls:?}");
    assert_eq!(oem(&f), others());
}

#[test]
fn a_host_without_oem_fails_without_writing() {
    if !have_sh() {
        return;
    }
    let f = fake(DOC);
    std::fs::remove_dir_all(f.host.join("oem")).unwrap();
    let script = write(WriteScript {
        path: PATH,
        sha256: &sha256_hex(DOC.as_bytes()),
        previous_path: None,
        run_stage: None,
    });
    let (ok, _, stderr) = run(&f, &script);
    assert!(!ok);
    assert!(stderr.contains("no directory /oem"), "{stderr}");
    assert!(!f.host.join("oem").exists());
}

#[test]
fn a_moved_path_removes_the_previous_file_and_a_stage_runs_in_the_host() {
    if !have_sh() {
        return;
    }
    let f = fake(DOC);
    std::fs::write(f.host.join("oem/80_old.yaml"), "#cloud-config\n").unwrap();
    let script = write(WriteScript {
        path: "/oem/91_new.yaml",
        sha256: &sha256_hex(DOC.as_bytes()),
        previous_path: Some("/oem/80_old.yaml"),
        run_stage: Some("network"),
    });
    let (ok, calls, stderr) = run(&f, &script);
    assert!(ok, "{stderr}");
    assert_eq!(
        calls,
        vec!["chroot $HOST kairos-agent run-stage network".to_owned()]
    );
    let mut expected = others();
    expected.push(("91_new.yaml".to_owned(), DOC.to_owned()));
    expected.sort();
    assert_eq!(oem(&f), expected);
}

#[test]
fn removal_deletes_only_the_managed_file_and_is_idempotent() {
    if !have_sh() {
        return;
    }
    let f = fake(DOC);
    std::fs::write(f.host.join("oem/90_kairos-operator.yaml"), DOC).unwrap();
    let script = render_remove(PATH);
    for _ in 0..2 {
        let (ok, calls, stderr) = run(&f, &script);
        assert!(ok, "{stderr}");
        assert!(calls.is_empty());
        assert_eq!(oem(&f), others());
    }
}
