//! Gates that hold new starts of an operation while nodes in flight finish: maintenance
//! windows ([`window`]) and pacing between nodes ([`pacing`]). Pure: each gate takes what was
//! observed and `now`.

pub mod pacing;
pub mod window;
