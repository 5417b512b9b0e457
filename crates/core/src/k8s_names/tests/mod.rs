//! Tests of the Kubernetes names module, by topic. Test-only; no I/O.

mod names;
mod selector;
