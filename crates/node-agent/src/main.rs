//! Entry point of `kairos-node-agent`.
fn main() {}
