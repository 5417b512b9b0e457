//! Tests of the cloud-config module: the document check, the source's names and volume, the
//! planner's rules (given, when, then), and the scripts run with `sh` against a fake host root.

mod plan;
mod script_run;
mod source;
mod validate;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::Gates;

use crate::upgrade::node::NodeConfig;

/// The operator's namespace in the planners' tests.
pub(crate) const NS: &str = "kairos-system";

/// The planners' `now`.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

/// The planners' settings: the operator's namespace, a 10-minute verify timeout, no gates.
pub(crate) fn settings() -> NodeConfig {
    NodeConfig {
        namespace: NS.into(),
        verify_timeout: Duration::from_secs(600),
        gates: Gates::default(),
    }
}
