//! Tests of the upgrade module: table tests for every rule (given, when, then) and property
//! tests for untrusted input (image references, versions).

mod fixtures;
mod fleet;
mod node;
mod node_map;
mod scenario;
mod script;
mod script_run;
mod trusted_boot;
mod verify;
mod version;
