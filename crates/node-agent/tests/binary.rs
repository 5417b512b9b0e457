//! The real `kairos-node-agent` binary: `--once` prints the report as JSON, a missing endpoint
//! is a clear error, and SIGTERM stops a running agent cleanly.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kairos-node-agent");

fn write(root: &Path, host_path: &str, content: &str) {
    let p = root.join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A command with no inherited agent configuration.
fn agent() -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KAIROS_") || k == "NODE_NAME" {
            cmd.env_remove(k);
        }
    }
    cmd
}

#[test]
fn once_prints_the_report_as_json() {
    let host = tempfile::tempdir().unwrap();
    write(
        host.path(),
        "/etc/kairos-release",
        "KAIROS_VERSION=\"v3.6.0\"\nKAIROS_FLAVOR=alpine\nKAIROS_SOFTWARE_VERSION_PREFIX=k0s\n",
    );
    write(
        host.path(),
        "/etc/os-release",
        "ID=alpine\nVERSION_ID=3.21.3\n",
    );
    write(host.path(), "/proc/cmdline", "root=LABEL=COS_RECOVERY\n");
    write(
        host.path(),
        "/proc/sys/kernel/random/boot_id",
        "66666666-6666-4666-8666-666666666666\n",
    );
    let out = agent()
        .args(["--once", "--log-level", "warn", "--host-root"])
        .arg(host.path())
        .env("NODE_NAME", "edge-7")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["nodeName"], "edge-7");
    assert_eq!(report["facts"]["isKairos"], true);
    assert_eq!(report["facts"]["kairos"]["version"], "v3.6.0");
    assert_eq!(report["facts"]["kairos"]["softwareVersionPrefix"], "k0s");
    assert_eq!(report["facts"]["os"]["versionId"], "3.21.3");
    assert_eq!(report["facts"]["bootState"], "recovery");
    assert_eq!(
        report["facts"]["bootId"],
        "66666666-6666-4666-8666-666666666666"
    );
}

#[test]
fn running_without_an_endpoint_is_a_clear_error() {
    let out = agent().args(["--node-name", "n1"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--operator-endpoint"), "{stderr}");
}

#[test]
fn an_endpoint_that_is_not_a_url_is_a_clear_error() {
    let out = agent()
        .args([
            "--node-name",
            "n1",
            "--operator-endpoint",
            "kairos-operator:9443",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be an https:// URL"), "{stderr}");
}

#[test]
fn sigterm_stops_the_agent_cleanly() {
    let host = tempfile::tempdir().unwrap();
    write(host.path(), "/etc/os-release", "ID=debian\n");
    // Nothing listens on port 9 (discard) of loopback here: the agent keeps retrying.
    let mut child = agent()
        .args([
            "--node-name",
            "n1",
            "--operator-endpoint",
            "http://127.0.0.1:9",
            "--log-format",
            "json",
            "--host-root",
        ])
        .arg(host.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent exited early"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the agent ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(stderr.contains("shutting down"), "{stderr}");
    assert!(stderr.contains("report not delivered"), "{stderr}");
}
