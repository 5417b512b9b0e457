//! Gates that hold new starts of an operation while nodes in flight finish: maintenance
//! windows ([`window`]). Pure: each gate takes what was observed and `now`.

pub mod window;
