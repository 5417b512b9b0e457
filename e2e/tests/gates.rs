//! End to end: the gates that hold a rollout's new starts (maintenance window, postCompleteDelay,
//! blocking pods, a Prometheus alert) and the pods' resources, with the real `kairos-operator`
//! against the API server and a fake Prometheus in the test. Every assertion reads the API, so
//! the tests hold on a real kube-apiserver too. Windows are opened by editing the spec, never by
//! waiting for the clock.

mod common;
mod ops;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kairos_api::NodeOp;
use kairos_api::names::conditions::HELD;
use kairos_e2e::harness::{AutoAction, AutoEvent, Cluster, default_policy, wait_for};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use ops::*;

/// `HH:MM` of now plus `hours` (UTC), for windows relative to the test's clock.
fn clock(hours: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(hours))
        .format("%H:%M")
        .to_string()
}

fn held(op: &NodeOp) -> Option<(String, String)> {
    let st = op.status.as_ref()?;
    let reason = st.held.clone()?;
    let c = st.conditions.iter().find(|c| c.type_ == HELD)?;
    (c.status == "True").then(|| (reason, c.message.clone()))
}

/// Waits until NodeOp `name` is held for `reason`; returns the condition's message.
async fn wait_held(c: &Cluster, ns: &str, name: &str, reason: &str, secs: u64) -> String {
    let api = nodeops(c, ns);
    let r = wait_for(Duration::from_secs(secs), || async {
        let op = api.get(name).await.ok()?;
        held(&op).filter(|(r, _)| r == reason).map(|(_, m)| m)
    })
    .await;
    match r {
        Ok(message) => message,
        Err(e) => {
            let status = api.get(name).await.ok().and_then(|o| o.status);
            panic!("{name} not held for {reason}: {e}; {status:#?}")
        }
    }
}

/// Creates NodeOp `name` in `ns` with `spec`.
async fn nodeop(c: &Cluster, ns: &str, name: &str, spec: serde_json::Value) {
    let object = json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    });
    create_nodeop(c, ns, object).await;
}

/// A cluster of `workers` and an operator started with `opts`.
async fn setup(test: &str, names: &[&str], opts: &OperatorOpts) -> (Cluster, String, Operator) {
    let (c, ns) = common::cluster(test).await;
    workers(&c, names).await;
    let op = start_operator(&c, opts).await;
    (c, ns, op)
}

async fn no_job_yet(c: &Cluster, ns: &str) {
    let jobs = engine_jobs(c, ns).await;
    assert!(jobs.is_empty(), "a held rollout created Jobs: {jobs:#?}");
}

#[tokio::test]
async fn gates_a_closed_window_holds_every_start_and_opening_it_starts_them() {
    let opts = OperatorOpts::new();
    let (c, ns, op) = setup("gates-window", &["w1", "w2"], &opts).await;
    let _kubelet = c.kubelet().run_auto(default_policy());
    let closed = json!({"startTime": clock(2), "endTime": clock(3), "timeZone": "UTC"});
    nodeop(
        &c,
        &ns,
        "windowed",
        json!({"command": ["true"], "targetNodes": ["w1", "w2"], "window": closed}),
    )
    .await;
    let message = wait_held(&c, &ns, "windowed", "Window", 30).await;
    assert!(message.contains("opens at"), "{message}");
    // Held for a while: still nothing runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    no_job_yet(&c, &opts.namespace).await;
    let running = nodeops(&c, &ns).get("windowed").await.expect("get");
    assert_eq!(phase_of(&running).as_deref(), Some("Pending"));

    // The window is moved over now: the rollout starts and completes.
    let open = json!({"spec": {"window": {"startTime": clock(-1), "endTime": clock(1), "timeZone": "UTC"}}});
    nodeops(&c, &ns)
        .patch("windowed", &PatchParams::default(), &Patch::Merge(&open))
        .await
        .expect("window edited");
    let done = wait_completed(&c, &op, &ns, "windowed", 60).await;
    let st = done.status.expect("status");
    assert_eq!(st.held, None);
    let cond = st
        .conditions
        .iter()
        .find(|c| c.type_ == HELD)
        .expect("Held");
    assert_eq!(cond.status, "False");
}

#[tokio::test]
async fn gates_post_complete_delay_spaces_the_nodes() {
    let opts = OperatorOpts::new();
    let (c, ns, op) = setup("gates-delay", &["w1", "w2", "w3"], &opts).await;
    let _kubelet = c.kubelet().run_auto(default_policy());
    nodeop(
        &c,
        &ns,
        "paced",
        json!({"command": ["true"], "targetNodes": ["w1", "w2", "w3"], "concurrency": 1,
                     "postCompleteDelay": "4s"}),
    )
    .await;
    let message = wait_held(&c, &ns, "paced", "PostCompleteDelay", 30).await;
    assert!(message.contains("postCompleteDelay 4s"), "{message}");
    let done = wait_completed(&c, &op, &ns, "paced", 90).await;
    let st = done.status.expect("status");
    let mut runs: Vec<_> = st
        .node_statuses
        .values()
        .map(|s| {
            let start = s.started_at.clone().expect("startedAt").0;
            let end = s.finished_at.clone().expect("finishedAt").0;
            (start, end)
        })
        .collect();
    runs.sort();
    for pair in runs.windows(2) {
        let gap = pair[1].0.duration_since(pair[0].1);
        assert!(
            gap.as_secs() >= 4,
            "started {gap:?} after the previous finished: {runs:?}"
        );
    }
}

#[tokio::test]
async fn gates_a_blocking_pod_holds_its_node_and_its_removal_releases_it() {
    let opts = OperatorOpts::new();
    let (c, ns, op) = setup("gates-blocking", &["w1", "w2"], &opts).await;
    // The backup pod runs (the default kubelet policy would end every other pod at once).
    let base = default_policy();
    let _kubelet = c
        .kubelet()
        .run_auto(Arc::new(move |ev: &AutoEvent<'_>| match ev {
            AutoEvent::Pod { pod, .. } if pod.metadata.name.as_deref() == Some("backup-0") => {
                AutoAction::Run
            }
            other => base(other),
        }));
    c.ensure_namespace("apps").await.expect("ns");
    let pods: Api<Pod> = Api::namespaced(c.client(), "apps");
    let backup: Pod = serde_json::from_value(json!({
        "metadata": {"name": "backup-0", "labels": {"app": "backup"}},
        "spec": {"nodeName": "w1", "containers": [{"name": "b", "image": "busybox"}]},
    }))
    .expect("a pod");
    pods.create(&PostParams::default(), &backup)
        .await
        .expect("backup pod");
    nodeop(
        &c,
        &ns,
        "blocked",
        json!({"command": ["true"], "targetNodes": ["w1", "w2"], "concurrency": 1,
                     "blockingPodSelector": {"matchLabels": {"app": "backup"}}}),
    )
    .await;
    // w2 goes first and finishes; w1 waits for the pod, saying which.
    let api = nodeops(&c, &ns);
    let r = wait_for(Duration::from_secs(60), || async {
        let o = api.get("blocked").await.ok()?;
        let phases = node_phases(&o);
        let w2_done = phases.get("w2").is_some_and(|(p, _)| p == "Completed");
        let w1_waits = phases
            .get("w1")
            .is_some_and(|(p, m)| p == "Pending" && m.contains("apps/backup-0"));
        (w2_done && w1_waits).then_some(())
    })
    .await;
    if let Err(e) = r {
        let status = api.get("blocked").await.ok().and_then(|o| o.status);
        panic!("{e}: {status:#?}\n{}", op.logs(&c));
    }
    pods.delete("backup-0", &DeleteParams::default().grace_period(0))
        .await
        .expect("backup pod deleted");
    wait_completed(&c, &op, &ns, "blocked", 60).await;
}

/// A fake Prometheus: `GET /api/v1/alerts` answers what the test last set (`None`: 503).
#[derive(Clone, Default)]
struct Prometheus {
    answer: Arc<Mutex<Option<serde_json::Value>>>,
}

impl Prometheus {
    async fn start(&self) -> String {
        let answer = self.answer.clone();
        let app = axum::Router::new().route(
            "/api/v1/alerts",
            axum::routing::get(move || {
                let body = answer.lock().unwrap_or_else(|e| e.into_inner()).clone();
                async move {
                    match body {
                        Some(b) => (axum::http::StatusCode::OK, b.to_string()),
                        None => (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            json!({"status": "error", "error": "unavailable"}).to_string(),
                        ),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn set(&self, firing: &[&str]) {
        let alerts: Vec<_> = firing
            .iter()
            .map(|n| json!({"labels": {"alertname": n}, "state": "firing"}))
            .collect();
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(json!({"status": "success", "data": {"alerts": alerts}}));
    }
}

#[tokio::test]
async fn gates_a_firing_alert_holds_the_rollout_and_its_resolution_releases_it() {
    let prometheus = Prometheus::default();
    let url: &'static str = Box::leak(prometheus.start().await.into_boxed_str());
    let mut opts = OperatorOpts::new();
    opts.extra = vec!["--prometheus-url", url];
    let (c, ns, op) = setup("gates-alert", &["w1"], &opts).await;
    let _kubelet = c.kubelet().run_auto(default_policy());
    // Prometheus does not answer: the gate holds and says why.
    nodeop(
        &c,
        &ns,
        "alerted",
        json!({"command": ["true"], "targetNodes": ["w1"],
                     "alertGate": {"alertNames": "KubeNode.*"}}),
    )
    .await;
    let message = wait_held(&c, &ns, "alerted", "AlertsUnknown", 30).await;
    assert!(
        message.contains("cannot be read") || message.contains("unavailable"),
        "{message}"
    );
    // A matching alert fires: held, naming it; an unrelated one does not matter.
    prometheus.set(&["KubeNodeNotReady", "Watchdog"]);
    let message = wait_held(&c, &ns, "alerted", "Alert", 30).await;
    assert!(
        message.contains("KubeNodeNotReady") && !message.contains("Watchdog"),
        "{message}"
    );
    no_job_yet(&c, &opts.namespace).await;
    // It resolves: the rollout runs.
    prometheus.set(&["Watchdog"]);
    wait_completed(&c, &op, &ns, "alerted", 60).await;
}

#[tokio::test]
async fn gates_resources_reach_the_job_and_the_pods() {
    let opts = OperatorOpts::new();
    let (c, ns, op) = setup("gates-resources", &["w1"], &opts).await;
    let _kubelet = c.kubelet().run_auto(default_policy());
    nodeop(
        &c,
        &ns,
        "sized",
        json!({"command": ["true"], "targetNodes": ["w1"], "rebootOnSuccess": true,
                     "preflight": {"command": ["true"]},
                     "resources": {"limits": {"memory": "256Mi"}},
                     "rebootResources": {}}),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(c.client(), &opts.namespace);
    // Each object may be gone by the time the next one appears: keep the first sight of each.
    let sightings: Mutex<(Option<_>, Option<Pod>, Option<Pod>)> = Mutex::new((None, None, None));
    let seen = wait_for(Duration::from_secs(60), || async {
        let jobs = engine_jobs(&c, &opts.namespace).await;
        let all = pods.list(&Default::default()).await.ok()?;
        let role = |p: &Pod, r: &str| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(kairos_api::names::LABEL_ROLE))
                .is_some_and(|v| v == r)
        };
        let mut s = sightings.lock().unwrap_or_else(|e| e.into_inner());
        if s.0.is_none() {
            s.0 = jobs.first().cloned();
        }
        if s.1.is_none() {
            s.1 = all.items.iter().find(|p| role(p, "preflight")).cloned();
        }
        if s.2.is_none() {
            s.2 = all.items.iter().find(|p| role(p, "reboot")).cloned();
        }
        match &*s {
            (Some(j), Some(p), Some(r)) => Some((j.clone(), p.clone(), r.clone())),
            _ => None,
        }
    })
    .await;
    let (job, preflight, reboot) = seen.unwrap_or_else(|e| panic!("{e}\n{}", op.logs(&c)));
    let resources = |spec: Option<&k8s_openapi::api::core::v1::PodSpec>| {
        spec.and_then(|s| s.containers.first())
            .and_then(|c| c.resources.clone())
    };
    let job_resources = resources(job.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    let limit = |r: &k8s_openapi::api::core::v1::ResourceRequirements, k: &str| {
        r.limits
            .as_ref()
            .and_then(|l| l.get(k))
            .map(|q| q.0.clone())
    };
    assert_eq!(
        job_resources
            .as_ref()
            .and_then(|r| limit(r, "memory"))
            .as_deref(),
        Some("256Mi")
    );
    let pre = resources(preflight.spec.as_ref()).expect("default preflight resources");
    assert_eq!(limit(&pre, "cpu").as_deref(), Some("200m"));
    assert_eq!(limit(&pre, "memory").as_deref(), Some("128Mi"));
    let reboot_resources = resources(reboot.spec.as_ref());
    assert!(
        reboot_resources.is_none_or(|r| r.limits.is_none() && r.requests.is_none()),
        "rebootResources {{}} means none"
    );
    wait_completed(&c, &op, &ns, "sized", 60).await;
}
