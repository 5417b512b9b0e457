//! Gates that hold new starts of an operation while nodes in flight finish: maintenance
//! windows ([`window`]), pacing between nodes ([`pacing`]) and Prometheus alerts ([`alerts`]).
//! Pure: each gate takes what was observed and `now`.

pub mod alerts;
pub mod pacing;
pub mod window;
