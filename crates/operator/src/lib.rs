//! The Kairos operator: controllers for `NodeOp`, `NodeOpUpgrade` and `KairosNode`, the gRPC
//! report service the node agents talk to, and the admin HTTP server.

mod admin;
mod cli;
pub mod report;
mod crd;
mod telemetry;

pub use cli::Cli;
