//! Entry point of `kairos-operator`.
fn main() {}
