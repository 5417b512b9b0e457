//! Tests of the cloud-config module: the document check, the source's names and volume, the
//! planner's rules (given, when, then), and the scripts run with `sh` against a fake host root.

mod plan;
mod script_run;
mod source;
mod validate;
