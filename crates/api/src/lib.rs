//! Kubernetes API types of the Kairos operator: the `NodeOp`, `NodeOpTarget`, `NodeOpUpgrade`,
//! `NodeOpConfig` and `KairosNode` custom resources of group `operator.kairos.io`, and the well-known names every component shares.
//! Declarations only: no I/O.
#![deny(missing_docs)]

pub mod names;
pub mod v1alpha1;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use v1alpha1::{KairosNode, NodeOp, NodeOpConfig, NodeOpTarget, NodeOpUpgrade};

/// Every CustomResourceDefinition of the project, in a stable order (used by codegen and tests).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        KairosNode::crd(),
        NodeOp::crd(),
        NodeOpConfig::crd(),
        NodeOpTarget::crd(),
        NodeOpUpgrade::crd(),
    ]
}
