//! What the cloud-config planner reads besides the KairosNode ([`ConfigObserved`]) and what it
//! decides ([`ConfigPlan`]). Pure: no I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::names::conditions::CONFIG_APPLIED;
use kairos_api::v1alpha1::{ConfigStatus, KairosNodeStatus, NodeOp};

/// The referenced Secret or ConfigMap key, as the operator read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceRead {
    /// The object or its key does not exist; the message says which.
    Missing(String),
    /// The key's content.
    Content(Vec<u8>),
}

/// Everything [`plan_config`](super::plan_config) reads besides the KairosNode itself.
#[derive(Clone, Debug, Default)]
pub struct ConfigObserved {
    /// The source `spec.config` names; `None` when the spec names none.
    pub source: Option<SourceRead>,
    /// The newest cloud-config NodeOp of this node (label
    /// `operator.kairos.io/kairosnode-config=<label_value(node)>` in the operator's namespace).
    pub own_nodeop: Option<NodeOp>,
    /// No agent reports for this KairosNode (made by hand): nothing is written.
    pub no_agent_report: bool,
}

/// What [`plan_config`](super::plan_config) decided.
#[derive(Clone, Debug, Default)]
pub struct ConfigPlan {
    /// The NodeOp to server-side apply.
    pub nodeop_to_apply: Option<NodeOp>,
    /// Name of a finished cloud-config NodeOp (in the operator's namespace) to delete first.
    pub delete_nodeop: Option<String>,
    /// The new `status.config`; `None` when no configuration was ever declared.
    pub config: Option<ConfigStatus>,
    /// The new `ConfigApplied` condition (merged, transition time kept); `None` with `config`.
    pub condition: Option<Condition>,
}

impl ConfigPlan {
    /// Writes the plan into `status`: `config` and the `ConfigApplied` condition are replaced,
    /// other fields and conditions kept.
    pub fn apply_to(&self, status: &mut KairosNodeStatus) {
        status.config.clone_from(&self.config);
        status.conditions.retain(|c| c.type_ != CONFIG_APPLIED);
        status.conditions.extend(self.condition.iter().cloned());
        status.conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    }
}
