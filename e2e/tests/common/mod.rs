//! Shared helpers of the e2e test binaries: cluster start, fresh namespaces, error inspection,
//! and small object builders. Does API I/O.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};

use kairos_e2e::harness::Cluster;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// Starts a cluster on the backend the environment selects, with a fresh namespace.
pub async fn cluster(test: &str) -> (Cluster, String) {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let c = Cluster::start().await.expect("cluster starts");
    let ns = fresh_ns(&c, test).await;
    (c, ns)
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A new namespace (with its `default` service account).
pub async fn fresh_ns(c: &Cluster, test: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let ns = format!("{}-{n}", test.replace('_', "-"))
        .chars()
        .take(50)
        .collect::<String>();
    c.ensure_namespace(&ns).await.expect("namespace");
    ns
}

/// `(code, reason)` of an API error.
pub fn api_err<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The NodeOp resource.
pub fn nodeop_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("operator.kairos.io", "v1alpha1", "NodeOp"),
        "nodeops",
    )
}

/// The KairosNode resource.
pub fn kairosnode_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("operator.kairos.io", "v1alpha1", "KairosNode"),
        "kairosnodes",
    )
}

/// A dynamic object from JSON.
pub fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).expect("valid object")
}

/// A minimal NodeOp like the seed's example.
pub fn nodeop(name: &str) -> DynamicObject {
    dynamic(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": name},
        "spec": {"nodeSelector": {"matchLabels": {"kairos.io/managed": "true"}}, "image": "busybox:latest",
            "command": ["sh", "-c", "echo hello"]},
    }))
}

/// A pod with one container, optionally bound to a node.
pub fn pod(name: &str, labels: Value, node: Option<&str>) -> k8s_openapi::api::core::v1::Pod {
    let mut spec = json!({"containers": [{"name": "c", "image": "busybox:latest"}], "terminationGracePeriodSeconds": 0});
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))
        .expect("pod")
}

/// The columns of kubectl's table header: each title (titles are at least two spaces apart, so
/// `LAST SEEN` is one) with the offset where it starts.
fn kubectl_columns(header: &str) -> Vec<(usize, String)> {
    let mut columns: Vec<(usize, String)> = Vec::new();
    let mut gap = 2;
    for (i, ch) in header.char_indices() {
        if ch == ' ' {
            gap += 1;
            continue;
        }
        match columns.last_mut() {
            Some((_, title)) if gap < 2 => {
                title.extend(std::iter::repeat_n(' ', gap));
                title.push(ch);
            }
            _ => columns.push((i, ch.to_string())),
        }
        gap = 0;
    }
    columns
}

/// The titles of kubectl's table output `out`, in order.
pub fn kubectl_header(out: &str) -> Vec<String> {
    kubectl_columns(out.lines().next().unwrap_or_default())
        .into_iter()
        .map(|(_, title)| title)
        .collect()
}

/// The rows of kubectl's table output `out`, each cut at the header's column starts, by title
/// (an empty cell is an empty string).
pub fn kubectl_rows(out: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = out.lines();
    let columns = kubectl_columns(lines.next().unwrap_or_default());
    lines
        .map(|l| {
            columns
                .iter()
                .enumerate()
                .map(|(k, (start, title))| {
                    let end = columns
                        .get(k + 1)
                        .map_or(l.len(), |(e, _)| (*e).min(l.len()));
                    let cell = l.get((*start).min(end)..end).unwrap_or_default();
                    (title.clone(), cell.trim().to_owned())
                })
                .collect()
        })
        .collect()
}
