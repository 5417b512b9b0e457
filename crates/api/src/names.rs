//! Well-known names shared by the operator, the agent and the tests: API group, labels,
//! annotations, finalizers, field managers, condition types and reasons. Constants only: no I/O.

/// The API group of every custom resource of the project.
pub const GROUP: &str = "operator.kairos.io";
/// The only served API version.
pub const VERSION: &str = "v1alpha1";

/// A Kairos version (`KAIROS_VERSION`) as the CRDs accept it (a regular expression): `v3.6.0`,
/// `3.6.0`, or with a pre-release `v3.6.0-rc1`, `v3.6.0-beta.2`, `v3.6.0-alpha`. The same
/// grammar reads a version out of an image tag (`kairos_core::upgrade::version`).
pub const KAIROS_VERSION_PATTERN: &str =
    r"^v?[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)(\.?[0-9]+)?)?$";

/// Field manager of the operator's server-side apply patches.
pub const OPERATOR_FIELD_MANAGER: &str = "kairos-operator";
/// Field manager of the report service's KairosNode status writes (`kairos`, `os`, boot state,
/// the `Reporting` and `Degraded` conditions).
pub const REPORT_FIELD_MANAGER: &str = "kairos-operator-report";
/// Field manager of the upgrade part of a KairosNode's status (`upgrade`, `UpToDate`,
/// `Upgrading`); the report service owns the rest under its own manager.
pub const UPGRADE_FIELD_MANAGER: &str = "kairos-operator-upgrade";
/// Field manager of the declared-configuration part of a KairosNode's status (`config`,
/// `ConfigApplied`) and of the NodeOps that write or remove the configured file.
pub const CONFIG_FIELD_MANAGER: &str = "kairos-operator-config";
/// Field manager of the Node labels and annotations the report service applies.
pub const LABELS_FIELD_MANAGER: &str = "kairos-operator-labels";
/// Field manager of what `kubectl kairos` writes (NodeOpUpgrades it creates, `spec.version` and
/// `spec.paused` it sets).
pub const PLUGIN_FIELD_MANAGER: &str = "kubectl-kairos";
/// Finalizer the operator puts on a `NodeOp` so it can clean up Jobs and cordons on deletion.
pub const NODEOP_FINALIZER: &str = "operator.kairos.io/nodeop-cleanup";
/// Finalizer the operator puts on a `NodeOpConfig` so it can remove the managed file from the
/// nodes it wrote it to before the object goes.
pub const NODEOPCONFIG_FINALIZER: &str = "operator.kairos.io/config-removal";

/// Audience of the projected service-account token an agent presents.
pub const AGENT_TOKEN_AUDIENCE: &str = "kairos-operator";
/// Name of the agent's service account (in the operator's namespace).
pub const AGENT_SERVICE_ACCOUNT: &str = "kairos-node-agent";
/// Name of the operator's service account (in the operator's namespace).
pub const OPERATOR_SERVICE_ACCOUNT: &str = "kairos-operator";
/// Secret holding the report channel's CA and serving certificate.
pub const TLS_SECRET: &str = "kairos-operator-grpc-tls";
/// ConfigMap publishing the report channel's CA bundle to the agents.
pub const CA_CONFIGMAP: &str = "kairos-operator-ca";
/// Key of the CA bundle in [`CA_CONFIGMAP`].
pub const CA_CONFIGMAP_KEY: &str = "ca.crt";

/// Node label set on every node whose agent reports a Kairos release.
pub const LABEL_MANAGED: &str = "kairos.io/managed";
/// Prefix of the node labels and annotations derived from the release files.
pub const LABEL_PREFIX: &str = "kairos.io/";
/// Label put on Jobs and pods to link them to their `NodeOp` (its name).
pub const LABEL_NODEOP: &str = "operator.kairos.io/nodeop";
/// Label put on Jobs and pods to link them to their target node.
pub const LABEL_NODE: &str = "operator.kairos.io/node";
/// Label put on the Jobs, pods and `NodeOpTarget`s of a `NodeOp` and on the node locks it holds:
/// the `NodeOp`'s UID.
pub const LABEL_NODEOP_UID: &str = "operator.kairos.io/nodeop-uid";
/// Label of the per-node lock Leases (in the operator's namespace): the node's name.
pub const LABEL_NODE_LOCK: &str = "operator.kairos.io/node-lock";
/// Annotation of a node lock Lease: `true` when the node was a control-plane node when it was
/// taken.
pub const ANNOTATION_LOCK_CONTROL_PLANE: &str = "operator.kairos.io/control-plane";
/// Annotation of a node lock Lease: the full name of the node it locks (a label value is
/// limited to 63 characters).
pub const ANNOTATION_LOCK_NODE: &str = "operator.kairos.io/node";
/// Label saying what a pod of the engine is for: `job`, `reboot` or `preflight`.
pub const LABEL_ROLE: &str = "operator.kairos.io/role";
/// Label put on the `NodeOp` a `NodeOpUpgrade` owns (the upgrade's name).
pub const LABEL_NODEOP_UPGRADE: &str = "operator.kairos.io/nodeopupgrade";
/// Label put on the `NodeOp` created for a `KairosNode` spec upgrade (the node's name).
pub const LABEL_KAIROSNODE: &str = "operator.kairos.io/kairosnode";
/// Label put on the `NodeOp` writing or removing a `KairosNode`'s declared cloud-config (the
/// node's name).
pub const LABEL_KAIROSNODE_CONFIG: &str = "operator.kairos.io/kairosnode-config";
/// Label put on the `NodeOp`s a `NodeOpConfig` owns, writing its document or removing its file
/// (the NodeOpConfig's name).
pub const LABEL_NODEOP_CONFIG: &str = "operator.kairos.io/nodeopconfig";
/// Annotation on a cloud-config `NodeOp`: where its Job reads the document from,
/// `secret/<name>/<key>` or `configmap/<name>/<key>` (mounted read-only into the Job's pod; the
/// engine honours it only on NodeOps in its Jobs' namespace carrying
/// [`LABEL_KAIROSNODE_CONFIG`] or [`LABEL_NODEOP_CONFIG`]).
pub const ANNOTATION_CONFIG_SOURCE: &str = "operator.kairos.io/config-source";
/// The default file a `KairosNode`'s declared cloud-config becomes on the node.
pub const DEFAULT_CLOUD_CONFIG_PATH: &str = "/oem/90_kairos-operator.yaml";
/// What a declared cloud-config's path must match: a `.yaml` file directly under `/oem`.
pub const CLOUD_CONFIG_PATH_PATTERN: &str = r"^/oem/[A-Za-z0-9_][A-Za-z0-9_.-]*\.yaml$";
/// What a `kairos-agent run-stage` stage name must match.
pub const STAGE_PATTERN: &str = r"^[a-z][a-z0-9._-]*$";
/// Annotation on an upgrade `NodeOp` whose Job does not run in the image it installs (a
/// trusted-boot upgrade: the host's `kairos-agent` installs the UKI image): that image.
pub const ANNOTATION_UPGRADE_IMAGE: &str = "operator.kairos.io/upgrade-image";
/// Node annotation recording which operation cordoned the node: `<ns>/<name>@<uid>`.
pub const ANNOTATION_CORDONED_BY: &str = "operator.kairos.io/cordoned-by";

/// Node labels that mark a control-plane node.
pub const CONTROL_PLANE_LABELS: [&str; 2] = [
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// Condition types and reasons. Types are CamelCase nouns; reasons are CamelCase causes.
pub mod conditions {
    /// KairosNode: the agent reported recently.
    pub const REPORTING: &str = "Reporting";
    /// KairosNode: the node runs `spec.version` (true when no version is requested).
    pub const UP_TO_DATE: &str = "UpToDate";
    /// KairosNode: an upgrade of this node is in flight.
    pub const UPGRADING: &str = "Upgrading";
    /// KairosNode: the report carries errors (malformed release files, failed upgrade).
    pub const DEGRADED: &str = "Degraded";
    /// NodeOp/NodeOpUpgrade: the operation is running.
    pub const PROGRESSING: &str = "Progressing";
    /// NodeOp/NodeOpUpgrade: the operation finished (successfully or not).
    pub const COMPLETE: &str = "Complete";
    /// NodeOp/NodeOpUpgrade: at least one node failed.
    pub const FAILED: &str = "Failed";
    /// NodeOp/NodeOpUpgrade: whether the current spec is in effect (False names what is not).
    pub const SPEC_APPLIED: &str = "SpecApplied";
    /// NodeOp/NodeOpUpgrade: a gate (window, postCompleteDelay, alertGate, paused) holds new
    /// starts; the reason says which, the message until when or why.
    pub const HELD: &str = "Held";
    /// KairosNode: the node reports the declared cloud-config file (`spec.config`); False says
    /// why not (pending, applying, drifted, failed, refused). NodeOpConfig: every node it
    /// applies to reports the document.
    pub const CONFIG_APPLIED: &str = "ConfigApplied";
}
