//! One harness API over two backends. [`Cluster::start`] picks the **real** backend (etcd +
//! kube-apiserver, see [`real`]) when `KUBEBUILDER_ASSETS` or `KUBE_APISERVER_BIN` + `ETCD_BIN`
//! are set, else the **sim** backend (the in-process [`kairos_kube_sim`]). It gives a kube `Client`,
//! a kubeconfig file, simulated nodes, the kubelet stand-in and operator processes; everything it
//! started stops when the `Cluster` is dropped (also on panic). Does process, file and API I/O.

pub mod auto;
pub mod certs;
pub mod cluster;
pub mod faults;
pub mod fixtures;
pub mod fleet;
pub mod identity;
pub mod install;
pub mod kubelet;
pub mod node;
pub mod node_exec;
pub mod plugin;
pub mod process;
pub mod real;

pub use auto::{AutoAction, AutoEvent, AutoKubelet, Policy, default_policy, upgrading_policy};
pub use cluster::{
    BackendKind, Cluster, INSTALL_NAMESPACE, client_from, kubectl_available, wait_for,
};
pub use fixtures::{BootMode, Distribution, Flavor, ReleaseFixture, Variant};
pub use fleet::{OperatorHandle, http_get, metric_value};
pub use kubelet::{Kubelet, Outcome, job_image};
pub use node::{NodeHandle, RebootChange, SimNode};
pub use node_exec::{Images, Run, run_action, run_container};
pub use plugin::{PluginRun, ensure_plugin_built};
pub use process::{Proc, ensure_built, locate};
pub use real::{RealApiServer, RealBinaries};
