//! An in-process Kubernetes API simulator for tests: enough of the HTTP API for kube-rs and
//! kubectl (see `e2e/README.md` for what it checks and what it does not). Every request is
//! authenticated (the admin token of the kubeconfigs it writes, service-account tokens it issued,
//! or anonymous) and authorized by RBAC, and every decision is recorded ([`Sim::permissions`]).
//! Does network and file I/O (CRD files, kubeconfig).
//!
//! The public surface:
//! - [`SimServer`]: a running simulator. [`SimServer::start`] binds a loopback port and serves
//!   until dropped; [`SimServer::restart`] takes it down and brings it back with the same state;
//!   [`SimServer::kubeconfig_yaml`] is an admin kubeconfig for it.
//! - [`SimConfig`]: its settings; [`default_crd_dir`]: the project's CRDs, installed at start.
//! - [`Sim`]: its state, for white-box tests: the request log ([`Sim::requests`]: [`RequestLog`]
//!   of [`RequestKey`] and [`StoredKey`]), the authorization decisions ([`Sim::permissions`]:
//!   [`PermissionLog`] of [`Access`] and [`Denial`], by [`Attributes`] and [`Grant`],
//!   [`RuleRef`], [`ObjectRef`]), and the faults a test can inject (held LISTs, failing writes,
//!   dropped watches).
//!
//! Inside, modules depend on each other without cycles: [`SimServer`] serves `http`, which
//! authenticates, authorizes and routes each request to `handlers`; handlers work on the
//! `store` through `objects` (create, update), `lifecycle` (what follows a write, deletion) and
//! the smaller modules (`apply`, `patch`, `watch`, `eviction`, `tokens`, ...).

mod access;
mod apply;
mod attributes;
mod audit;
mod authn;
mod binding;
mod bootstrap;
mod cel;
mod config;
mod discovery;
mod disruption;
mod dryrun;
mod error;
mod events;
mod eviction;
mod gate;
mod handlers;
mod http;
mod lifecycle;
mod lists;
mod meta;
mod negotiate;
mod objects;
mod openapi;
mod patch;
mod pod_update;
mod rbac;
mod registry;
mod request;
mod reviews;
mod schema;
mod selectors;
mod server;
mod sim;
mod store;
mod table;
mod tls;
mod token_cache;
mod tokens;
mod watch;

pub use access::{Access, Denial, PermissionLog};
pub use attributes::Attributes;
pub use audit::{RequestKey, RequestLog, StoredKey};
pub use config::{SimConfig, default_crd_dir};
pub use rbac::{Grant, ObjectRef, RuleRef};
pub use server::SimServer;
pub use sim::Sim;
