//! `kubectl kairos logs NODE`: which of the engine's Jobs is the node's latest, which of its
//! pods to read, and the header printed above the logs. Pure: no I/O.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kairos_api::names::{LABEL_NODE, LABEL_NODEOP, LABEL_ROLE};
use kairos_core::k8s_names::label_value;

/// The label selector of the engine's Jobs on `node` (as the engine labels them).
pub(crate) fn job_selector(node: &str) -> String {
    format!("{LABEL_NODE}={},{LABEL_ROLE}=job", label_value(node))
}

/// The label selector of a Job's pods.
pub(crate) fn pod_selector(job: &str) -> String {
    format!("batch.kubernetes.io/job-name={job}")
}

/// The most recently created Job (the last by name among equals).
pub(crate) fn latest_job(jobs: &[Job]) -> Option<&Job> {
    jobs.iter().max_by(|a, b| {
        (a.metadata.creation_timestamp.as_ref(), &a.metadata.name)
            .cmp(&(b.metadata.creation_timestamp.as_ref(), &b.metadata.name))
    })
}

/// The most recently created pod that `job` owns.
pub(crate) fn latest_pod<'a>(pods: &'a [Pod], job: &Job) -> Option<&'a Pod> {
    let uid = job.metadata.uid.as_deref()?;
    pods.iter()
        .filter(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        })
        .max_by(|a, b| {
            (a.metadata.creation_timestamp.as_ref(), &a.metadata.name)
                .cmp(&(b.metadata.creation_timestamp.as_ref(), &b.metadata.name))
        })
}

/// A Job's state: a true `Complete` or `Failed` condition, else `Running` with active pods,
/// else `Pending`.
fn job_state(job: &Job) -> &'static str {
    let status = job.status.as_ref();
    let holds = |t: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
    };
    if holds("Complete") {
        "Complete"
    } else if holds("Failed") {
        "Failed"
    } else if status.and_then(|s| s.active).unwrap_or(0) > 0 {
        "Running"
    } else {
        "Pending"
    }
}

/// What is shown above the logs: the Job, its NodeOp and state, and the pod read.
pub(crate) fn header(node: &str, job: &Job, pod: Option<&Pod>) -> String {
    let meta = &job.metadata;
    let nodeop = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_NODEOP))
        .map_or("unknown", String::as_str);
    let mut out = format!(
        "Job {}/{} of NodeOp {nodeop} on node {node}: {}\n",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
        job_state(job),
    );
    match pod {
        Some(p) => out.push_str(&format!(
            "Pod {}: {}\n",
            p.metadata.name.as_deref().unwrap_or_default(),
            p.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending"),
        )),
        None => out.push_str("Pod: none yet\n"),
    }
    out
}

#[cfg(test)]
mod tests;
