//! Tests of the trusted-boot (UKI) scripts: `sh -n` on each, and runs against a fake host root
//! (a temp dir as `HOST_DIR`) with a fake `nsenter` first on `PATH` that logs its arguments.
//! Test-only I/O: temp dirs and `sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::upgrade::ScriptOptions;
use crate::upgrade::trusted_boot::{render, render_preflight};

const UKI: &str = "registry.local/edge/kairos-uki:v3.6.0";

fn have_sh() -> bool {
    let found = Command::new("sh")
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: no `sh` on this machine");
    }
    found
}

#[allow(clippy::disallowed_methods)] // test fixtures live in a temp dir
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    /// A host root with these `/run/cos` sentinels and command line, and a fake `nsenter`.
    fn new(sentinels: &[&str], cmdline: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("host");
        for s in sentinels {
            write(&root.join("run/cos").join(s), "");
        }
        write(&root.join("proc/cmdline"), cmdline);
        let nsenter = dir.path().join("bin/nsenter");
        write(
            &nsenter,
            "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\" >> \"$FAKE_LOG\"; done\necho >> \"$FAKE_LOG\"\n",
        );
        std::fs::set_permissions(&nsenter, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `script`: exit success, each `nsenter` call (its arguments bracketed), stderr.
    fn run(&self, script: &str) -> (bool, Vec<String>, String) {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = self.path("calls.log");
        let out = Command::new("sh")
            .args(["-c", script])
            .env("PATH", path)
            .env("HOST_DIR", self.path("host"))
            .env("FAKE_LOG", &log)
            .output()
            .unwrap();
        #[allow(clippy::disallowed_methods)] // test fixtures live in a temp dir
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        (
            out.status.success(),
            calls.lines().map(str::to_owned).collect(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn opts(upgrade_active: bool, upgrade_recovery: bool, debug: bool) -> ScriptOptions {
    ScriptOptions {
        upgrade_active,
        upgrade_recovery,
        force: false,
        debug,
    }
}

const HOST_AGENT: &str = "[-t][1][-m][-u][-i][-n][-p][--][kairos-agent]";

#[test]
fn sh_accepts_every_trusted_boot_script() {
    if !have_sh() {
        return;
    }
    let mut scripts = vec![render_preflight()];
    for bits in 0..8u8 {
        let o = opts(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        scripts.push(render(&o, UKI));
    }
    scripts.push(render(&opts(true, false, false), "odd'image\"$x`:v3.6.0"));
    for script in scripts {
        let out = Command::new("sh")
            .args(["-n", "-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "sh -n refused:\n{script}");
    }
}

#[test]
fn a_uki_host_runs_its_own_agent_from_the_image_recovery_first() {
    if !have_sh() {
        return;
    }
    let host = Host::new(&["active_mode", "uki_boot_mode"], "rd.immucore.uki\n");
    let (ok, calls, err) = host.run(&render(&opts(true, true, false), UKI));
    assert!(ok, "{err}");
    assert_eq!(
        calls,
        [
            format!("{HOST_AGENT}[upgrade][--recovery][--source][oci:{UKI}]"),
            format!("{HOST_AGENT}[upgrade][--source][oci:{UKI}]"),
        ]
    );
    let (ok, calls, _) = host.run(&render(&opts(true, false, true), UKI));
    assert!(ok);
    assert_eq!(
        calls.last().unwrap(),
        &format!("{HOST_AGENT}[--debug][upgrade][--source][oci:{UKI}]")
    );
}

#[test]
fn the_image_reaches_the_agent_as_one_argument_whatever_it_holds() {
    if !have_sh() {
        return;
    }
    let host = Host::new(&["uki_boot_mode"], "");
    let odd = "reg/x:v3.6.0' ; touch /tmp/pwned '$(id)";
    let (ok, calls, err) = host.run(&render(&opts(true, false, false), odd));
    assert!(ok, "{err}");
    assert_eq!(
        calls,
        [format!("{HOST_AGENT}[upgrade][--source][oci:{odd}]")]
    );
}

#[test]
fn a_host_that_did_not_boot_a_uki_is_refused_before_anything_runs() {
    if !have_sh() {
        return;
    }
    let grub = Host::new(&["active_mode"], "root=LABEL=COS_ACTIVE\n");
    for script in [render(&opts(true, false, false), UKI), render_preflight()] {
        let (ok, calls, err) = grub.run(&script);
        assert!(!ok, "{script}");
        assert!(calls.is_empty(), "{calls:?}");
        assert!(
            err.contains("did not boot a trusted-boot (UKI) image"),
            "{err}"
        );
    }
    // The command-line flag alone is enough (an older immucore without sentinels).
    let by_flag = Host::new(&[], "console=ttyS0 rd.immucore.uki selinux=0\n");
    let (ok, _, err) = by_flag.run(&render_preflight());
    assert!(ok, "{err}");
    let (ok, calls, _) = by_flag.run(&render(&opts(true, false, false), UKI));
    assert!(ok && calls.len() == 1, "{calls:?}");
}
