//! Conformance suite: the same assertions on whichever backend `Cluster::start` picks (the
//! simulator in CI, a real kube-apiserver when its binaries are given), so the simulator cannot
//! drift from the real server. Does API I/O.

mod common;

/// The suite, one module per area (in `tests/conformance/`).
mod conformance {
    mod crud;
    mod custom;
    mod events;
    mod lifecycle;
    mod limits;
    mod patch;
    mod rbac;
    mod tokens;
    mod watch;
}

/// What every conformance module uses.
#[allow(unused_imports)]
mod prelude {
    pub(crate) use std::time::Duration;

    pub(crate) use crate::common::*;
    pub(crate) use crate::{cm, cms};
    pub(crate) use futures::{StreamExt, TryStreamExt};
    pub(crate) use k8s_openapi::api::authentication::v1::TokenReview;
    pub(crate) use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
    pub(crate) use k8s_openapi::api::policy::v1::{Eviction, PodDisruptionBudget};
    pub(crate) use kairos_e2e::harness::{ReleaseFixture, SimNode, wait_for};
    pub(crate) use kube::api::{
        Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
        WatchParams,
    };
    pub(crate) use kube::core::response::Status;
    pub(crate) use kube::{Client, ResourceExt};
    pub(crate) use serde_json::{Value, json};
}

use prelude::*;

pub(crate) fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .expect("cm")
}

pub(crate) fn cms(c: &Client, ns: &str) -> Api<ConfigMap> {
    Api::namespaced(c.clone(), ns)
}
