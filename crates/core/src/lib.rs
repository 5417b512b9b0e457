//! Pure logic of the Kairos operator: release-file parsing, planners, status and condition
//! computation, script rendering. Performs no I/O, never awaits and never reads the clock.

pub mod conditions;
pub mod boot;
pub mod node_labels;
pub mod release;
pub mod report;
pub mod nodeop;
pub mod kairos_node;
pub mod upgrade;
pub mod upgrade_verifier;
