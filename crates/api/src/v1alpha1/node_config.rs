//! The declarative cloud-config of a `KairosNode` (`spec.config`) and where applying it stands
//! (`status.config`). Declarations only: no I/O.

use kube::KubeSchema;
use kube::core::Rule;
use serde::{Deserialize, Serialize};

use crate::names::{CLOUD_CONFIG_PATH_PATTERN, DEFAULT_CLOUD_CONFIG_PATH, STAGE_PATTERN};

/// The cloud-config a node should carry: one file under `/oem` that belongs to the operator,
/// written from a key of a Secret or ConfigMap in the operator's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[x_kube(validation = Rule::new("has(self.secretRef) != has(self.configMapRef)").message("spec.config needs exactly one of secretRef and configMapRef").field_path(".secretRef"))]
#[serde(rename_all = "camelCase")]
pub struct NodeConfigSpec {
    /// A key of a Secret in the operator's namespace holding the cloud-config (cloud-configs
    /// often carry tokens and keys: prefer a Secret). Exactly one of `secretRef` and
    /// `configMapRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ConfigKeyRef>,

    /// A key of a ConfigMap in the operator's namespace holding the cloud-config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigKeyRef>,

    /// The file the cloud-config becomes on the node: a `.yaml` file directly under `/oem`
    /// (default `/oem/90_kairos-operator.yaml`). The operator owns this file: it writes it,
    /// replaces it and removes it; no other file under `/oem` is ever touched, so choose a
    /// name nothing else writes.
    #[serde(default = "default_path")]
    #[schemars(length(min = 6, max = 128))]
    #[x_kube(validation = path_rule())]
    pub path: String,

    /// Reboot the node after writing the file (the default: Kairos applies most stages at
    /// boot). The node is cordoned and drained before, as for an upgrade. `false`: the node
    /// is neither cordoned nor rebooted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<bool>,

    /// Run `kairos-agent run-stage <runStage>` on the host after writing the file (for example
    /// `network`), for stages that apply without a reboot. Absent: no stage is run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    #[x_kube(validation = stage_rule())]
    pub run_stage: Option<String>,
}

impl NodeConfigSpec {
    /// Whether applying this configuration reboots the node (`reboot`, default true).
    pub fn reboots(&self) -> bool {
        self.reboot.unwrap_or(true)
    }
}

fn default_path() -> String {
    DEFAULT_CLOUD_CONFIG_PATH.to_owned()
}

fn path_rule() -> Rule {
    let pattern = CLOUD_CONFIG_PATH_PATTERN.replace('\\', "\\\\");
    Rule::new(format!("self.matches('{pattern}')"))
        .message("spec.config.path must be a .yaml file directly under /oem, such as /oem/90_kairos-operator.yaml")
}

fn stage_rule() -> Rule {
    Rule::new(format!("self.matches('{STAGE_PATTERN}')"))
        .message("spec.config.runStage must be a stage name such as network or boot")
}

/// A key of a Secret or ConfigMap in the operator's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigKeyRef {
    /// Name of the Secret or ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the cloud-config document.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Where the node's declared configuration stands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, schemars::JsonSchema,
)]
pub enum ConfigState {
    /// Nothing to apply yet: the source is missing or refused, or the node waits its turn.
    #[default]
    Pending,
    /// The operation writing the file is in flight.
    Applying,
    /// The node reports the desired file.
    Applied,
    /// The node reported the desired file, and now reports another: it was changed behind the
    /// operator's back.
    Drifted,
    /// Writing the file failed; `message` says why.
    Failed,
    /// The configuration was removed from the spec: the managed file is being deleted.
    Removing,
    /// The configuration was removed from the spec and the node no longer has the file.
    Removed,
}

/// Where the node's declared configuration (`spec.config`) stands.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Where applying the configuration stands.
    pub state: ConfigState,
    /// The managed file on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 (hex) of the desired cloud-config document; absent when none is desired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_hash: Option<String>,
    /// SHA-256 (hex) of the managed file as the node's agent reports it; absent when the node
    /// has no such file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_hash: Option<String>,
    /// The last hash the node reported equal to the desired one (drift is a later difference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_hash: Option<String>,
    /// The `NodeOp` (`<namespace>/<name>`) writing or removing the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_op: Option<String>,
    /// Human-readable explanation of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
