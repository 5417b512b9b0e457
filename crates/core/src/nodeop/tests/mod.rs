//! Tests of the `NodeOp` engine: table tests of the planner by topic, the seed document's
//! example, and property tests against a fake cluster, with their shared builders. Test-only;
//! no I/O.

mod convert;
mod drain;
mod engine;
mod fake_cluster;
mod fixtures;
mod gates;
mod order;
mod parts;
mod plan;
mod proptests;
mod seed;
mod status;
mod verify;
