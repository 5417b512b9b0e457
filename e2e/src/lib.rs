//! End-to-end harness: runs the real binaries against an API server (simulated or real). Does I/O.
//! The simulator is the `kairos-kube-sim` crate (`e2e/kube-sim`).
//!
//! - [`harness`]: one API over both backends (`Cluster::start`), simulated nodes, the kubelet
//!   stand-in, and process spawning for `kairos-operator` and `kairos-node-agent`.
//! - [`bench`]: `cargo xtask bench`, the operator at fleet scale.
//! - [`soak`]: `cargo xtask soak`, operations under random faults, then the invariants.
//! - [`tool`]: the `main` plumbing of the tool binaries.
//! - [`load`]: fleets of in-process reporters and `/proc` sampling, for the measuring programs.

pub mod bench;
pub mod harness;
pub mod load;
pub mod soak;
pub mod tool;
