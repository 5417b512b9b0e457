//! Pure logic of the Kairos operator: release-file parsing, planners, status and condition
//! computation, script rendering. Performs no I/O, never awaits and never reads the clock.

pub mod boot;
pub mod cloud_config;
pub mod conditions;
pub mod gates;
pub mod hash;
pub mod k8s_names;
pub mod kairos_node;
pub mod meta;
pub mod node_labels;
pub mod nodeop;
pub mod release;
pub mod report;
mod shell;
pub mod upgrade;
pub mod upgrade_verifier;
