//! What a simulated Kairos node does with the engine's Jobs and preflight pods: their command
//! runs with `sh` against the node's host root (`HOST_DIR`), the image's release files as
//! `IMAGE_ROOT`, and stand-ins first on `PATH` for the commands that would change a machine
//! (`mount`, `umount`, `nsenter`, `kairos-agent`). Each `kairos-agent upgrade` it ran is then
//! judged as Kairos' agent would on this node: a Kairos image (`--source dir:/` inside it, or
//! `oci:` from the host) installs on a GRUB node; a trusted-boot (UKI) container image installs
//! only through the host's own agent (`nsenter` into PID 1, which needs `hostPID`) on a node
//! that boots trusted; an image that is not in the simulated registry cannot be pulled; a UKI
//! image has no shell to run anything in. What installs is staged for the node's next boot.
//! Does process and file I/O.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::PodSpec;

use super::auto::{AutoAction, AutoEvent};
use super::fixtures::ReleaseFixture;
use super::node::NodeHandle;

/// The simulated registry: the images upgrades may name, by reference.
#[derive(Clone, Debug, Default)]
pub struct Images {
    by_ref: BTreeMap<String, ReleaseFixture>,
}

impl Images {
    /// A registry holding each release's [`ReleaseFixture::upgrade_image`].
    pub fn of(releases: &[ReleaseFixture]) -> Self {
        let by_ref = releases
            .iter()
            .map(|r| (r.upgrade_image(), r.clone()))
            .collect();
        Self { by_ref }
    }

    fn get(&self, reference: &str) -> Option<&ReleaseFixture> {
        self.by_ref.get(reference)
    }
}

/// How a container's run on a node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Exit 0.
    pub ok: bool,
    /// The termination message (the engine's wrapper's boot ID appended on success).
    pub termination: String,
    /// Standard output and error, and why it failed.
    pub output: String,
}

const STUBS: [(&str, &str); 4] = [
    ("mount", "exit 0\n"),
    ("umount", "exit 0\n"),
    (
        "nsenter",
        "if [ \"$SIM_HOST_PID\" != true ]; then\n  \
           echo 'nsenter: PID 1 is this container, not the host (no hostPID)' >&2\n  exit 1\n\
         fi\n\
         while [ \"$#\" -gt 0 ] && [ \"$1\" != -- ]; do shift; done\n\
         shift\nSIM_WHERE=host exec \"$@\"\n",
    ),
    (
        "kairos-agent",
        "printf '%s' \"${SIM_WHERE:-container}\" >> \"$SIM_CALLS\"\n\
         for a in \"$@\"; do printf '\\t%s' \"$a\" >> \"$SIM_CALLS\"; done\n\
         echo >> \"$SIM_CALLS\"\n",
    ),
];

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("failed to create {}", d.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

/// Runs the first container of `pod` on `node` (see the module docs) and stages what it
/// installed.
///
/// # Errors
/// When the sandbox cannot be written or `sh` cannot be started.
pub fn run_container(pod: &PodSpec, node: &NodeHandle, images: &Images) -> anyhow::Result<Run> {
    let container = pod.containers.first().context("a pod without containers")?;
    let image = container.image.clone().unwrap_or_default();
    let image_release = images.get(&image);
    if image_release.is_some_and(|r| r.trusted_boot) {
        return Ok(failed(format!(
            "exec: \"/bin/sh\": no such file or directory: {image} is a UKI container image (EFI files only)"
        )));
    }
    // With `args`, the command is the engine's boot-ID wrapper and `args` the NodeOp's command.
    let (argv, wrapped) = match &container.args {
        Some(args) => (args.clone(), true),
        None => (container.command.clone().unwrap_or_default(), false),
    };
    let dir = tempfile::tempdir().context("failed to create a sandbox")?;
    for (name, body) in STUBS {
        let path = dir.path().join("bin").join(name);
        write(&path, &format!("#!/bin/sh\n{body}"))?;
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .context("failed to make a stand-in executable")?;
    }
    let image_root = dir.path().join("image");
    std::fs::create_dir_all(&image_root).context("failed to create the image root")?;
    if let Some(text) = image_release.and_then(ReleaseFixture::kairos_release) {
        write(&image_root.join("etc/kairos-release"), &text)?;
    }
    let (term, calls) = (dir.path().join("termination-log"), dir.path().join("calls"));
    let (program, rest) = argv
        .split_first()
        .context("a container without a command")?;
    let path = format!(
        "{}:{}",
        dir.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(program)
        .args(rest)
        .env("PATH", path)
        .env("HOST_DIR", node.host_root())
        .env("IMAGE_ROOT", &image_root)
        .env("TERMINATION_LOG", &term)
        .env("SIM_CALLS", &calls)
        .env("SIM_HOST_PID", pod.host_pid.unwrap_or(false).to_string())
        .output()
        .with_context(|| format!("failed to run {program}"))?;
    let mut output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Ok(failed(output));
    }
    let calls = std::fs::read_to_string(&calls).unwrap_or_default();
    let mut installs = None;
    for call in calls.lines() {
        match agent_call(call, &image, node, images) {
            Ok(Some(release)) => installs = Some(release),
            Ok(None) => {}
            Err(why) => {
                output.push_str(&why);
                return Ok(failed(output));
            }
        }
    }
    if let Some(release) = installs {
        node.stage(release);
    }
    let mut termination = std::fs::read_to_string(&term).unwrap_or_default();
    if wrapped {
        termination.push_str(&format!("\n{}\n", node.boot_id()));
    }
    Ok(Run {
        ok: true,
        termination,
        output,
    })
}

fn failed(output: String) -> Run {
    Run {
        ok: false,
        termination: String::new(),
        output,
    }
}

/// What one logged `kairos-agent` call does on `node`: `Ok(Some(release))` when it wrote a new
/// active system, `Ok(None)` when it wrote the recovery system, `Err` when Kairos' agent fails.
fn agent_call(
    call: &str,
    container_image: &str,
    node: &NodeHandle,
    images: &Images,
) -> Result<Option<ReleaseFixture>, String> {
    let mut fields = call.split('\t');
    let place = fields.next().unwrap_or_default();
    let args: Vec<&str> = fields.collect();
    if !args.contains(&"upgrade") {
        return Err(format!("kairos-agent {args:?}: not an upgrade"));
    }
    let recovery = args.contains(&"--recovery");
    let source = args
        .iter()
        .position(|a| *a == "--source")
        .and_then(|i| args.get(i + 1))
        .copied()
        .unwrap_or_default();
    let host = node.release();
    let (reference, release) = match (place, source) {
        ("host", s) if s.starts_with("oci:") => {
            let reference = &s["oci:".len()..];
            let release = images
                .get(reference)
                .ok_or_else(|| format!("kairos-agent: pulling {reference}: not found"))?;
            (reference, release)
        }
        ("container", "dir:/") => {
            let release = images.get(container_image).ok_or_else(|| {
                format!("sh: kairos-agent: not found (image {container_image} is not Kairos)")
            })?;
            if host.trusted_boot {
                return Err(
                    "kairos-agent: trusted boot (/run/cos/uki_boot_mode): no EFI files in dir:/"
                        .to_owned(),
                );
            }
            (container_image, release)
        }
        _ => {
            return Err(format!(
                "kairos-agent {args:?} from the {place}: not simulated"
            ));
        }
    };
    match (host.trusted_boot, release.trusted_boot) {
        (true, false) => {
            return Err(format!(
                "kairos-agent: trusted boot: no EFI files in {reference}"
            ));
        }
        (false, true) => {
            return Err(format!(
                "kairos-agent: {reference} holds no root filesystem (a UKI container image)"
            ));
        }
        _ => {}
    }
    Ok((!recovery).then(|| release.clone()))
}

/// The automatic kubelet's action for an engine Job or preflight pod run by
/// [`run_container`]: a Job ends with the run (its termination message on success); a preflight
/// pod likewise (a termination message means "skip"). `None` for other events.
pub fn run_action(ev: &AutoEvent<'_>, images: &Images) -> Option<AutoAction> {
    let (spec, node) = match ev {
        AutoEvent::Job { job, node, .. } => (job.spec.as_ref()?.template.spec.as_ref()?, *node),
        AutoEvent::Pod {
            pod,
            node,
            role: Some("preflight"),
        } => (pod.spec.as_ref()?, *node),
        AutoEvent::Pod { .. } => return None,
    };
    let run = match run_container(spec, node, images) {
        Ok(run) => run,
        Err(e) => failed(format!("{e:#}")),
    };
    let message = Some(run.termination.trim().to_owned()).filter(|m| !m.is_empty());
    Some(if run.ok {
        AutoAction::Succeed(message)
    } else {
        AutoAction::Fail(Some(run.output.trim().to_owned()))
    })
}
