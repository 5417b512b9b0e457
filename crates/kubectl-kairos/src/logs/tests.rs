use serde_json::json;

use super::*;

fn job(name: &str, created: &str, status: serde_json::Value) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "kairos-system", "uid": format!("uid-{name}"),
            "creationTimestamp": created,
            "labels": {"operator.kairos.io/nodeop": "fw", "operator.kairos.io/node": "n4"}},
        "status": status,
    }))
    .expect("job")
}

fn pod(name: &str, owner: &str, created: &str, phase: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "creationTimestamp": created,
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": owner, "uid": format!("uid-{owner}")}]},
        "status": {"phase": phase},
    }))
    .expect("pod")
}

#[test]
fn the_latest_job_and_its_latest_pod_are_read() {
    let jobs = [
        job("a", "2026-01-02T00:00:00Z", json!({})),
        job("b", "2026-01-03T00:00:00Z", json!({})),
        job("c", "2026-01-01T00:00:00Z", json!({})),
    ];
    let latest = latest_job(&jobs).expect("a job");
    assert_eq!(latest.metadata.name.as_deref(), Some("b"));
    let pods = [
        pod("b-1", "b", "2026-01-03T00:00:01Z", "Failed"),
        pod("b-2", "b", "2026-01-03T00:00:09Z", "Running"),
        pod("a-1", "a", "2026-01-04T00:00:00Z", "Succeeded"),
    ];
    let p = latest_pod(&pods, latest).expect("a pod");
    assert_eq!(p.metadata.name.as_deref(), Some("b-2"));
    assert!(latest_job(&[]).is_none());
    assert!(latest_pod(&pods[2..], latest).is_none());
}

#[test]
fn the_header_names_job_nodeop_state_and_pod() {
    let done = job(
        "fw-n4-1a2b",
        "2026-01-01T00:00:00Z",
        json!({"conditions": [{"type": "Complete", "status": "True"}]}),
    );
    let p = pod(
        "fw-n4-1a2b-xyz",
        "fw-n4-1a2b",
        "2026-01-01T00:00:01Z",
        "Succeeded",
    );
    assert_eq!(
        header("n4", &done, Some(&p)),
        "Job kairos-system/fw-n4-1a2b of NodeOp fw on node n4: Complete\nPod fw-n4-1a2b-xyz: Succeeded\n"
    );
    let running = job("r", "2026-01-01T00:00:00Z", json!({"active": 1}));
    assert_eq!(
        header("n4", &running, None),
        "Job kairos-system/r of NodeOp fw on node n4: Running\nPod: none yet\n"
    );
}

#[test]
fn selectors_use_the_engines_labels() {
    assert_eq!(
        job_selector("n4"),
        "operator.kairos.io/node=n4,operator.kairos.io/role=job"
    );
    assert_eq!(pod_selector("j"), "batch.kubernetes.io/job-name=j");
}
