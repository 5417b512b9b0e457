//! Builders of the objects the engine creates on a node: the Job, the preflight pod and the
//! reboot pod, with deterministic names that are valid however long the names are. Pure: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, HostPathVolumeSource, Pod, PodSpec, PodTemplateSpec, ResourceRequirements,
    SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kairos_api::names::{GROUP, LABEL_NODE, LABEL_NODEOP, LABEL_ROLE, VERSION};
use kairos_api::v1alpha1::NodeOpSpec;

use super::model::{Config, OpRef};
use crate::hash::short_hash;
use crate::k8s_names;

/// Label carrying the `NodeOp`'s UID on every object of the engine: `observe` selects by it,
/// since names may be shared by `NodeOp`s of different namespaces.
pub use kairos_api::names::LABEL_NODEOP_UID;
/// The Job's default `backoffLimit` (Kubernetes' own default).
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// Name of the host-root volume.
const HOST_ROOT: &str = "host-root";

/// Runs the user's command, then, on success, appends the boot ID as the last line of the
/// termination message (after whatever the command wrote there, such as the upgrade script's
/// up-to-date marker). The boot ID is read and the termination log opened (fd 3, append)
/// *before* the command runs, so commands that mount the host's `/dev` or `/proc` over the
/// container's (the firmware example does) cannot redirect them; a pod never outlives a boot,
/// so the ID read first is the ID at the end. The container's own `/proc` shows the host
/// kernel's boot ID (it is not namespaced), so no extra mount is needed. Needs `/bin/sh` in the
/// image (only with `rebootOnSuccess`).
const BOOT_ID_WRAPPER: &str = "boot_id=\"$(cat /proc/sys/kernel/random/boot_id)\"\n\
     exec 3>>/dev/termination-log\n\
     \"$@\" 3>&-\n\
     rc=$?\n\
     if [ \"$rc\" -eq 0 ]; then printf '\\n%s\\n' \"$boot_id\" >&3; fi\n\
     exit \"$rc\"\n";

/// Reboots the host only while the boot ID still equals the one the Job recorded, so a
/// restarted or recreated reboot pod never reboots twice.
const REBOOT_SCRIPT: &str = "current=\"$(cat /proc/sys/kernel/random/boot_id)\"\n\
     if [ \"$current\" = \"$EXPECTED_BOOT_ID\" ]; then\n  \
       echo \"rebooting the node (boot ID $current)\"\n  \
       exec nsenter -t 1 -m -u -i -n -p -- reboot\n\
     fi\n\
     echo \"boot ID is $current, not $EXPECTED_BOOT_ID: the node already rebooted\"\n";

/// What an object of the engine is for (the value of `operator.kairos.io/role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The operation's Job.
    Job,
    /// The preflight pod.
    Preflight,
    /// The reboot pod.
    Reboot,
}

impl Role {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Preflight => "preflight",
            Self::Reboot => "reboot",
        }
    }
}

/// The namespace of the engine's objects for this operation.
pub fn namespace(op: &OpRef, config: &Config) -> String {
    config
        .job_namespace
        .clone()
        .unwrap_or_else(|| op.namespace.clone())
}

/// Deterministic name of the engine's object of `role` for `node`: a DNS-1123 label of at most
/// 63 characters, `<op>-<node>[-<role>]-<hash>` (see [`k8s_names::object_name`]), where the
/// hash (8 hex digits of SHA-256 over namespace, name, UID, node and role) keeps truncated
/// names distinct.
pub fn object_name(op: &OpRef, node: &str, role: Role) -> String {
    let identity = format!(
        "{}/{}@{}/{node}/{}",
        op.namespace,
        op.name,
        op.uid,
        role.as_str()
    );
    let hash = short_hash(&[&identity], 8);
    let tag = match role {
        Role::Job => hash,
        Role::Preflight | Role::Reboot => format!("{}-{hash}", role.as_str()),
    };
    k8s_names::object_name(&[&op.name, node], &tag)
}

/// Labels of every object of the engine for `node`.
pub fn labels(op: &OpRef, node: &str, role: Role) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NODEOP.to_owned(), k8s_names::label_value(&op.name)),
        (LABEL_NODEOP_UID.to_owned(), k8s_names::label_value(&op.uid)),
        (LABEL_NODE.to_owned(), k8s_names::label_value(node)),
        (LABEL_ROLE.to_owned(), role.as_str().to_owned()),
    ])
}

fn metadata(op: &OpRef, node: &str, role: Role, config: &Config) -> ObjectMeta {
    let ns = namespace(op, config);
    // A namespaced owner must live in the dependent's namespace, or the garbage collector
    // treats it as gone and deletes the dependent.
    let owner = (ns == op.namespace).then(|| OwnerReference {
        api_version: format!("{GROUP}/{VERSION}"),
        kind: "NodeOp".to_owned(),
        name: op.name.clone(),
        uid: op.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    });
    ObjectMeta {
        name: Some(object_name(op, node, role)),
        namespace: Some(ns),
        labels: Some(labels(op, node, role)),
        owner_references: owner.map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// A pod spec pinned to `node` (with `nodeName`, which bypasses the scheduler) that tolerates
/// every taint, never restarts and mounts no API token.
fn pinned_pod(node: &str, config: &Config, container: Container) -> PodSpec {
    PodSpec {
        node_name: Some(node.to_owned()),
        tolerations: Some(vec![Toleration {
            operator: Some("Exists".to_owned()),
            ..Toleration::default()
        }]),
        restart_policy: Some("Never".to_owned()),
        service_account_name: config.service_account.clone(),
        automount_service_account_token: Some(false),
        containers: vec![container],
        ..PodSpec::default()
    }
}

fn host_root(spec: &NodeOpSpec, read_only: bool) -> (Volume, VolumeMount) {
    let volume = Volume {
        name: HOST_ROOT.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: "/".to_owned(),
            type_: Some("Directory".to_owned()),
        }),
        ..Volume::default()
    };
    let mount = VolumeMount {
        name: HOST_ROOT.to_owned(),
        mount_path: spec.host_mount_path.clone(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    (volume, mount)
}

fn privileged() -> Option<SecurityContext> {
    Some(SecurityContext {
        privileged: Some(true),
        ..SecurityContext::default()
    })
}

/// The Job that runs the operation on `node`: privileged, host root at `hostMountPath`, the
/// spec's image, command, pull secrets and `backoffLimit`, in the host's PID namespace only
/// with `hostPID`; a config operation's source (see [`OpRef::config_source`]) mounted read-only
/// when the Job runs in the NodeOp's namespace. With `rebootOnSuccess` the command
/// becomes the `args` of a small shell wrapper that, on success, appends the boot ID to the
/// termination message.
pub fn build_job(op: &OpRef, spec: &NodeOpSpec, node: &str, config: &Config) -> Job {
    let (volume, mount) = host_root(spec, false);
    // With rebootOnSuccess the wrapper is the entrypoint and the NodeOp's command its
    // arguments, so the Job's `args` are exactly the NodeOp's `command`.
    let (command, args) = if spec.reboot_on_success() {
        let wrapper = ["/bin/sh", "-c", BOOT_ID_WRAPPER, "kairos-nodeop"];
        let wrapper = wrapper.iter().map(|s| (*s).to_owned()).collect();
        (wrapper, Some(spec.command.clone()))
    } else {
        (spec.command.clone(), None)
    };
    let container = Container {
        name: "nodeop".to_owned(),
        image: Some(image(spec, config)),
        command: Some(command),
        args,
        security_context: privileged(),
        volume_mounts: Some(vec![mount]),
        termination_message_policy: Some("File".to_owned()),
        resources: spec.resources.clone(),
        ..Container::default()
    };
    let mut pod = pinned_pod(node, config, container);
    pod.host_pid = Some(spec.host_pid.unwrap_or(false));
    pod.image_pull_secrets.clone_from(&spec.image_pull_secrets);
    pod.volumes = Some(vec![volume]);
    // A config operation's source is mounted only when the Job runs in the NodeOp's own
    // namespace: a NodeOp never reaches another namespace's Secrets.
    let source = op
        .config_source
        .as_ref()
        .filter(|_| namespace(op, config) == op.namespace);
    if let Some(source) = source {
        let (volume, mount) = source.volume();
        pod.volumes.get_or_insert_with(Vec::new).push(volume);
        if let Some(c) = pod.containers.first_mut() {
            c.volume_mounts.get_or_insert_with(Vec::new).push(mount);
        }
    }
    let meta = metadata(op, node, Role::Job, config);
    Job {
        spec: Some(JobSpec {
            backoff_limit: Some(spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT)),
            active_deadline_seconds: Some(
                spec.job_timeout_seconds
                    .unwrap_or(config.job_timeout.as_secs().try_into().unwrap_or(i64::MAX)),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: meta.labels.clone(),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        metadata: meta,
        status: None,
    }
}

/// The read-only preflight pod: the preflight's image (or the spec's), its command, the host
/// root mounted read-only at `hostMountPath`, not privileged. A termination message means
/// "skip this node".
pub fn build_preflight_pod(op: &OpRef, spec: &NodeOpSpec, node: &str, config: &Config) -> Pod {
    let (volume, mount) = host_root(spec, true);
    let pre = spec.preflight.as_ref();
    let container = Container {
        name: "preflight".to_owned(),
        image: Some(
            pre.and_then(|p| p.image.clone())
                .unwrap_or_else(|| image(spec, config)),
        ),
        command: pre.map(|p| p.command.clone()),
        volume_mounts: Some(vec![mount]),
        termination_message_policy: Some("File".to_owned()),
        resources: small_pod_resources(spec.preflight_resources.as_ref()),
        ..Container::default()
    };
    let mut pod = pinned_pod(node, config, container);
    pod.image_pull_secrets.clone_from(&spec.image_pull_secrets);
    pod.volumes = Some(vec![volume]);
    Pod {
        metadata: metadata(op, node, Role::Preflight, config),
        spec: Some(pod),
        status: None,
    }
}

/// The reboot pod: privileged, in the host's PID namespace, reboots the node through
/// `nsenter` into PID 1 only while the boot ID equals `expected_boot_id`.
pub fn build_reboot_pod(
    op: &OpRef,
    spec: &NodeOpSpec,
    node: &str,
    expected_boot_id: &str,
    config: &Config,
) -> Pod {
    let container = Container {
        name: "reboot".to_owned(),
        image: Some(config.reboot_image.clone()),
        command: Some(vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            REBOOT_SCRIPT.to_owned(),
        ]),
        env: Some(vec![EnvVar {
            name: "EXPECTED_BOOT_ID".to_owned(),
            value: Some(expected_boot_id.to_owned()),
            ..EnvVar::default()
        }]),
        security_context: privileged(),
        resources: small_pod_resources(spec.reboot_resources.as_ref()),
        ..Container::default()
    };
    let mut pod = pinned_pod(node, config, container);
    pod.host_pid = Some(true);
    Pod {
        metadata: metadata(op, node, Role::Reboot, config),
        spec: Some(pod),
        status: None,
    }
}

/// The image of a NodeOp's Job: its spec's, else the operator's default.
fn image(spec: &NodeOpSpec, config: &Config) -> String {
    if spec.image.is_empty() {
        config.default_image.clone()
    } else {
        spec.image.clone()
    }
}

/// The resources of a preflight or reboot pod: `given`, with upstream's default of 200m CPU and
/// 128Mi memory (requests and limits) when unset, and none for an empty `{}`.
fn small_pod_resources(given: Option<&ResourceRequirements>) -> Option<ResourceRequirements> {
    match given {
        Some(r) if *r == ResourceRequirements::default() => None,
        Some(r) => Some(r.clone()),
        None => {
            let amounts = BTreeMap::from([
                ("cpu".to_owned(), Quantity("200m".to_owned())),
                ("memory".to_owned(), Quantity("128Mi".to_owned())),
            ]);
            Some(ResourceRequirements {
                limits: Some(amounts.clone()),
                requests: Some(amounts),
                ..ResourceRequirements::default()
            })
        }
    }
}

/// The boot ID in a Job's termination message (its last non-empty line), if it looks like
/// one (a UUID).
pub fn parse_boot_id(message: &str) -> Option<String> {
    let id = message.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let valid = id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    valid.then(|| id.to_owned())
}
