//! Where a declared cloud-config comes from (a key of a Secret or ConfigMap in the operator's
//! namespace), as the config planner names it on its `NodeOp` and as the engine mounts it into
//! the Job's pod. Pure: no I/O.
//!
//! The document never appears in a pod spec or a script: the Job's pod mounts the one key
//! read-only (mode 0400) at [`MOUNT_DIR`]`/`[`MOUNTED_FILE`], and the kubelet reads it.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, KeyToPath, SecretVolumeSource, Volume, VolumeMount,
};
use kairos_api::names::{ANNOTATION_CONFIG_SOURCE, LABEL_KAIROSNODE_CONFIG, LABEL_NODEOP_CONFIG};
use kairos_api::v1alpha1::{NodeConfigSpec, NodeOp};

use crate::k8s_names;

/// Where the Job's container sees the source.
pub const MOUNT_DIR: &str = "/kairos-config";
/// The file name the source's key is mounted as.
pub const MOUNTED_FILE: &str = "cloud-config.yaml";
/// Name of the source's volume in the Job's pod.
const VOLUME: &str = "kairos-config";

/// The kind of object holding a cloud-config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A Secret.
    Secret,
    /// A ConfigMap.
    ConfigMap,
}

impl SourceKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::ConfigMap => "configmap",
        }
    }

    /// The kind's name as `kubectl` shows it.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Secret => "Secret",
            Self::ConfigMap => "ConfigMap",
        }
    }
}

/// A key of a Secret or ConfigMap in the operator's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigSource {
    /// Secret or ConfigMap.
    pub kind: SourceKind,
    /// The object's name.
    pub name: String,
    /// The key holding the document.
    pub key: String,
}

impl ConfigSource {
    /// The source a `spec.config` names (the Secret when both are given, which the CRD
    /// refuses).
    pub fn of(spec: &NodeConfigSpec) -> Option<Self> {
        let (kind, r) = match (&spec.secret_ref, &spec.config_map_ref) {
            (Some(r), _) => (SourceKind::Secret, r),
            (None, Some(r)) => (SourceKind::ConfigMap, r),
            (None, None) => return None,
        };
        Some(Self {
            kind,
            name: r.name.clone(),
            key: r.key.clone(),
        })
    }

    /// The value of [`ANNOTATION_CONFIG_SOURCE`]: `<kind>/<name>/<key>` (names and keys have no
    /// `/`).
    pub fn annotation(&self) -> String {
        format!("{}/{}/{}", self.kind.as_str(), self.name, self.key)
    }

    /// Reads an annotation value written by [`ConfigSource::annotation`].
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.splitn(3, '/');
        let kind = match parts.next()? {
            "secret" => SourceKind::Secret,
            "configmap" => SourceKind::ConfigMap,
            _ => return None,
        };
        let name = parts.next().filter(|n| k8s_names::is_dns_subdomain(n))?;
        let key = parts.next().filter(|k| is_config_key(k))?;
        Some(Self {
            kind,
            name: name.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The source a cloud-config `NodeOp` names: it must carry [`LABEL_KAIROSNODE_CONFIG`] (a
    /// KairosNode's) or [`LABEL_NODEOP_CONFIG`] (a NodeOpConfig's) and a valid
    /// [`ANNOTATION_CONFIG_SOURCE`].
    pub fn of_nodeop(op: &NodeOp) -> Option<Self> {
        let labels = op.metadata.labels.as_ref()?;
        if !labels.contains_key(LABEL_KAIROSNODE_CONFIG)
            && !labels.contains_key(LABEL_NODEOP_CONFIG)
        {
            return None;
        }
        Self::parse(k8s_names::annotation(
            &op.metadata,
            ANNOTATION_CONFIG_SOURCE,
        )?)
    }

    /// The read-only volume of the one key, mode 0400, and its mount at [`MOUNT_DIR`].
    pub fn volume(&self) -> (Volume, VolumeMount) {
        let items = Some(vec![KeyToPath {
            key: self.key.clone(),
            path: MOUNTED_FILE.to_owned(),
            mode: None,
        }]);
        let mode = Some(0o400);
        let mut volume = Volume {
            name: VOLUME.to_owned(),
            ..Volume::default()
        };
        match self.kind {
            SourceKind::Secret => {
                volume.secret = Some(SecretVolumeSource {
                    secret_name: Some(self.name.clone()),
                    items,
                    default_mode: mode,
                    optional: Some(false),
                });
            }
            SourceKind::ConfigMap => {
                volume.config_map = Some(ConfigMapVolumeSource {
                    name: self.name.clone(),
                    items,
                    default_mode: mode,
                    optional: Some(false),
                });
            }
        }
        let mount = VolumeMount {
            name: VOLUME.to_owned(),
            mount_path: MOUNT_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        };
        (volume, mount)
    }
}

/// Whether `key` is a valid Secret/ConfigMap key: `[-._a-zA-Z0-9]+`, at most 253 bytes, not
/// `.` or `..`.
fn is_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}
