//! Tests of the upgrade module: table tests for every rule (given, when, then) and property
//! tests for untrusted input (image references, versions).

mod script;
mod version;
