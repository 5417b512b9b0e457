//! Version `v1alpha1` of the `operator.kairos.io` API. Declarations only: no I/O.

mod common;
#[allow(unreachable_pub)]
mod gates;
// The `KubeSchema` derive emits a private copy of each struct for its schema, which trips
// `unreachable_pub`; the types themselves are re-exported below.
#[allow(unreachable_pub)]
mod kairos_node;
#[allow(unreachable_pub)]
mod node_config;
#[allow(unreachable_pub)]
mod nodeop;
#[allow(unreachable_pub)]
mod nodeop_config;
#[allow(unreachable_pub)]
mod nodeop_target;
#[allow(unreachable_pub)]
mod nodeop_upgrade;

pub use common::{NodePhase, NodeStatus, OperationPhase};
pub use gates::{AlertGate, Gates, MaintenanceWindow, WINDOW_DAYS};
pub use kairos_node::{
    BootState, KairosInfo, KairosNode, KairosNodeSpec, KairosNodeStatus, OsInfo, UpgradeState,
    UpgradeStatus,
};
pub use node_config::{ConfigKeyRef, ConfigState, ConfigStatus, NodeConfigSpec};
pub use nodeop::{DrainOptions, NodeOp, NodeOpSpec, NodeOpStatus, Preflight};
pub use nodeop_config::{NodeOpConfig, NodeOpConfigSpec, NodeOpConfigStatus};
pub use nodeop_target::{NodeOpTarget, NodeOpTargetSpec};
pub use nodeop_upgrade::{NodeOpUpgrade, NodeOpUpgradeSpec, NodeOpUpgradeStatus};
