//! The Kairos operator: controllers for `NodeOp`, `NodeOpUpgrade`, `NodeOpConfig` and
//! `KairosNode`, the gRPC report service the node agents talk to, and the admin HTTP server.

mod admin;
mod alerts;
mod backoff;
mod cli;
mod context;
mod controllers;
mod crd;
mod error;
mod events;
mod fleet_metrics;
mod leader;
mod metrics;
mod metrics_registry;
mod permissions;
pub mod report;
mod scope;

pub use cli::Cli;
