//! The `KairosNode` kind: one per Kairos node, holding what its agent reports (status) and the
//! version and cloud-config an admin asks for (spec). Declarations only: no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::{Message, Rule};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::conditions_schema;
use super::node_config::{ConfigStatus, NodeConfigSpec};
use crate::names::KAIROS_VERSION_PATTERN;

/// Desired state of one Kairos node. Every field is optional: an empty spec only observes.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "operator.kairos.io",
    version = "v1alpha1",
    kind = "KairosNode",
    status = "KairosNodeStatus",
    shortname = "kn",
    category = "kairos",
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.kairos.version"}"#,
    printcolumn = r#"{"name":"Desired","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.upgrade.state"}"#,
    printcolumn = r#"{"name":"Boot","type":"string","jsonPath":".status.bootState"}"#,
    printcolumn = r#"{"name":"Trusted","type":"boolean","jsonPath":".status.trustedBoot"}"#,
    printcolumn = r#"{"name":"OS","type":"string","jsonPath":".status.os.prettyName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Paused","type":"boolean","jsonPath":".spec.paused","priority":1}"#,
    printcolumn = r#"{"name":"Operation","type":"string","jsonPath":".status.upgrade.nodeOp","priority":1}"#,
    printcolumn = r#"{"name":"Last Seen","type":"date","jsonPath":".status.lastSeen","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.upgrade.message","priority":1}"#,
    printcolumn = r#"{"name":"Config","type":"string","jsonPath":".status.config.state","priority":1}"#
)]
#[x_kube(validation = Rule::new("!has(self.image) || has(self.version)").message("spec.image needs spec.version: the version is how the upgrade is verified").field_path(".version"))]
#[x_kube(validation = Rule::new("!has(self.recoveryImage) || (has(self.upgradeRecovery) && self.upgradeRecovery)").message("spec.recoveryImage needs spec.upgradeRecovery: true").field_path(".recoveryImage"))]
#[serde(rename_all = "camelCase")]
pub struct KairosNodeSpec {
    /// The Kairos version (`KAIROS_VERSION`, for example `v3.6.0`) this node should run. Setting it
    /// to another version than the node runs starts an upgrade of this node. Must look like
    /// `v3.6.0`, `v3.6.0-rc1` or `v3.6.0-beta.2` (the leading `v` is optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = version_rule("spec.version"))]
    pub version: Option<String>,

    /// Container image to upgrade from. When empty, the operator derives it from the node's
    /// reported image repository and tag with the version replaced, and says so in a condition
    /// when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub image: Option<String>,

    /// Also upgrade the recovery system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_recovery: Option<bool>,

    /// Container image of the recovery system, when it should differ from the active one's
    /// (`image`, or the derived image): the upgrade installs the recovery system from it
    /// (`kairos-agent upgrade --recovery --source oci:<recoveryImage>`, pulled on the node).
    /// Needs `upgradeRecovery: true`. It must fit the node as `image` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub recovery_image: Option<String>,

    /// Upgrade even when the node already reports `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,

    /// Hold any upgrade of this node; an upgrade in flight finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,

    /// Let `image` install another flavor, variant, architecture or Kubernetes distribution
    /// than the node runs. Off by default: an `image` that does not fit the node's report is
    /// not acted on, and the `Upgrading` condition names both sides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_system_change: Option<bool>,

    /// The cloud-config this node should carry, from a Secret or ConfigMap in the operator's
    /// namespace. Setting or changing it (or the referenced object's content) writes the file
    /// on the node through a `NodeOp`; removing it removes the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<NodeConfigSpec>,
    /// `image` is a trusted-boot (UKI) container image (`auroraboot build-uki -t container`),
    /// installed by the node's own `kairos-agent` (`upgrade --source oci:<image>`). A node that
    /// boots trusted is upgraded only from such an image, which must then be set in `image` (the
    /// derived image is the node's base image, not a signed UKI); a node that does not is never
    /// upgraded from one. A mismatch is not acted on, and the `Upgrading` condition names both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_boot: Option<bool>,
}

/// The CEL rule refusing a `field` that is not a Kairos version
/// ([`KAIROS_VERSION_PATTERN`]), with a message naming the field.
pub(crate) fn version_rule(field: &str) -> Rule {
    let pattern = KAIROS_VERSION_PATTERN.replace('\\', "\\\\");
    Rule::new(format!("self.matches('{pattern}')")).message(Message::Message(format!(
        "{field} must be a Kairos version such as v3.6.0, v3.6.0-rc1 or v3.6.0-beta.2"
    )))
}

/// Which image the node booted, from immucore's sentinels in `/run/cos` or else the kernel
/// command line.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BootState {
    /// The active system (the normal case).
    Active,
    /// The passive system: the fallback after a failed boot of the active one.
    Passive,
    /// The recovery system.
    Recovery,
    /// The recovery system's state-reset entry (`kairos.reset`): the node resets itself.
    Autoreset,
    /// A live medium (ISO, netboot): not installed.
    Livecd,
    /// Neither immucore's sentinels nor the command line name any of the above.
    #[default]
    Unknown,
}

/// Where an upgrade of this node stands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default, schemars::JsonSchema,
)]
pub enum UpgradeState {
    /// No upgrade requested or in flight.
    #[default]
    Idle,
    /// An upgrade is requested and waits its turn.
    Pending,
    /// The upgrade Job runs on the node.
    InProgress,
    /// The node reboots into the new image.
    Rebooting,
    /// The node booted the target version from the active system.
    Completed,
    /// The upgrade failed; `message` says why.
    Failed,
    /// The node came back on the passive (fallback) system: the upgrade did not stick.
    RolledBack,
}

/// Observed state of one Kairos node, as its agent reports it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KairosNodeStatus {
    /// The `KAIROS_*` keys of `/etc/kairos-release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kairos: Option<KairosInfo>,
    /// The keys of `/etc/os-release` that identify the operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsInfo>,
    /// Which image the node booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_state: Option<BootState>,
    /// Why `bootState` is uncertain: immucore's sentinels in `/run/cos` and the kernel command
    /// line disagree (the sentinel is taken), or several boot-mode sentinels are present.
    /// Absent when the sources agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_state_message: Option<String>,
    /// Whether the node booted a trusted-boot (UKI) image: immucore's `uki_boot_mode` or
    /// `uki_install_mode` sentinel, `rd.immucore.uki` on the command line, or
    /// `KAIROS_TRUSTED_BOOT="true"` in `/etc/kairos-release`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_boot: Option<bool>,
    /// Whether the system runs from RAM (immucore's `in_ram_mode` sentinel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_ram: Option<bool>,
    /// Whether GRUB's boot assessment fell back to the passive system after failed boots of an
    /// upgraded active system (`/run/cos/upgrade_failure`, or `upgrade_failure` on the command
    /// line): the last upgrade did not stick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_failure: Option<bool>,
    /// The kernel's boot ID: a reboot changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "bootID")]
    pub boot_id: Option<String>,
    /// SHA-256 over the node's cloud-config files (paths and contents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_config_hash: Option<String>,
    /// SHA-256 (hex) of each cloud-config file the agent read, by host path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cloud_config_files: BTreeMap<String, String>,
    /// Version of the `kairos-node-agent` that reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Problems the agent found reading the node (malformed or unreadable files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_errors: Vec<String>,
    /// When the agent last reported; coarse, written at most every few minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Time>,
    /// Where the declared cloud-config (`spec.config`) stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigStatus>,
    /// Progress of an upgrade of this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStatus>,
    /// Latest observations: `Reporting`, `UpToDate`, `Upgrading`, `Degraded`, `ConfigApplied`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The `KAIROS_*` keys of a node's `/etc/kairos-release`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KairosInfo {
    /// `KAIROS_VERSION`, e.g. `v3.6.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `KAIROS_FLAVOR`, e.g. `ubuntu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// `KAIROS_FLAVOR_RELEASE`, e.g. `24.04`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor_release: Option<String>,
    /// `KAIROS_VARIANT`: `core` or `standard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `KAIROS_MODEL`, e.g. `generic` or `rpi4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `KAIROS_ARCH` (or `KAIROS_TARGETARCH`), e.g. `amd64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// `KAIROS_FAMILY`, e.g. `ubuntu`, `alpine`, `opensuse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `KAIROS_SOFTWARE_VERSION`: the Kubernetes distribution version, e.g. `v1.33.1+k3s1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// `KAIROS_SOFTWARE_VERSION_PREFIX`: `k3s` or `k0s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version_prefix: Option<String>,
    /// `KAIROS_IMAGE_REPO`, e.g. `quay.io/kairos/ubuntu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repo: Option<String>,
    /// `KAIROS_IMAGE_LABEL`, the image tag, e.g. `24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_label: Option<String>,
    /// `KAIROS_RELEASE`, e.g. `v3.6.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// `KAIROS_ID`, e.g. `kairos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `KAIROS_TRUSTED_BOOT`: whether the image is a Trusted Boot (UKI) image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_boot: Option<String>,
    /// `KAIROS_FIPS`: whether the image is FIPS-enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fips: Option<String>,
}

/// The identifying keys of a node's `/etc/os-release`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OsInfo {
    /// `ID`, e.g. `ubuntu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `NAME`, e.g. `Ubuntu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `VERSION_ID`, e.g. `24.04`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `PRETTY_NAME`, e.g. `Ubuntu 24.04.1 LTS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

/// Progress of an upgrade of one node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// Where the upgrade stands.
    pub state: UpgradeState,
    /// The version being (or last) upgraded to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// The image being (or last) upgraded from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The `NodeOp` (`<namespace>/<name>`) running the upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_op: Option<String>,
    /// When the upgrade started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the upgrade finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Human-readable explanation of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How many upgrades of this target were started.
    #[serde(default)]
    pub attempts: i32,
}
