//! Automatic kubelet mode: a background loop that polls Jobs and pods aimed at simulated nodes and
//! lets a policy closure decide what happens to each (succeed, fail, reboot the node, keep
//! running, ignore), so e2e tests can drive whole rollouts. Graceful pod deletions on simulated
//! nodes are always completed. Does API I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use tokio::task::JoinHandle;

use super::fixtures::BootMode;
use super::kubelet::{Kubelet, Outcome, job_finished, job_image};
use super::node::{NodeHandle, RebootChange};

/// Something the automatic kubelet must decide about.
pub enum AutoEvent<'a> {
    /// An unfinished Job pinned to a simulated node; `attempt` counts from 1.
    Job {
        /// The Job.
        job: &'a Job,
        /// Its node.
        node: &'a NodeHandle,
        /// Which attempt this is (failed pods so far + 1).
        attempt: i32,
    },
    /// A pending pod (not owned by a Job) bound to a simulated node.
    Pod {
        /// The pod.
        pod: &'a Pod,
        /// Its node.
        node: &'a NodeHandle,
        /// The `operator.kairos.io/role` label (`reboot`, `preflight`, ...), if any.
        role: Option<&'a str>,
    },
}

/// What the automatic kubelet does.
#[derive(Debug, Clone, PartialEq)]
pub enum AutoAction {
    /// End Succeeded (with a termination message).
    Succeed(Option<String>),
    /// End Failed (with a termination message).
    Fail(Option<String>),
    /// Reboot the pod's node with these changes, then end the pod Succeeded.
    Reboot(RebootChange),
    /// Mark the pod Running and leave it.
    Run,
    /// Leave the pod Pending with its containers waiting for this kubelet reason and message
    /// (`ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`): the image cannot be pulled. A
    /// Job gets one such pod.
    CannotStart(String, String),
    /// Do nothing (asked again on the next pass).
    Ignore,
}

/// A policy: called for each event on each pass.
pub type Policy = Arc<dyn Fn(&AutoEvent<'_>) -> AutoAction + Send + Sync>;

/// The default policy: Jobs succeed with the node's boot ID as termination message (what the
/// engine's Jobs record), reboot pods reboot their node, other pods succeed.
pub fn default_policy() -> Policy {
    Arc::new(|ev| match ev {
        AutoEvent::Job { node, .. } => AutoAction::Succeed(Some(node.boot_id())),
        AutoEvent::Pod {
            role: Some("reboot"),
            ..
        } => AutoAction::Reboot(RebootChange::default()),
        AutoEvent::Pod { .. } => AutoAction::Succeed(None),
    })
}

/// The Kairos version in an image tag such as
/// `quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1` (the first
/// `-`-separated part of the tag that looks like `vX.Y.Z`).
fn version_in_image(image: &str) -> Option<String> {
    let tag = image.rsplit_once(':').map(|(_, t)| t)?;
    tag.split('-')
        .find(|part| {
            part.strip_prefix('v').is_some_and(|v| {
                let nums: Vec<&str> = v.split('.').collect();
                nums.len() == 3
                    && nums
                        .iter()
                        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .map(str::to_owned)
}

/// Jobs succeed (with the boot ID as termination message) and reboot pods reboot their node,
/// each after `delay`; a node whose last Job ran a Kairos image of another version comes back
/// from its reboot with that version.
pub fn upgrading_policy(delay: Duration) -> Policy {
    let seen: Mutex<BTreeMap<String, std::time::Instant>> = Mutex::new(BTreeMap::new());
    let pending_version: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let due = move |key: String| {
        let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
        s.entry(key)
            .or_insert_with(std::time::Instant::now)
            .elapsed()
            >= delay
    };
    Arc::new(move |ev| match ev {
        AutoEvent::Job { job, node, attempt } => {
            if !due(format!("job/{}/{attempt}", job.uid().unwrap_or_default())) {
                return AutoAction::Ignore;
            }
            if let Some(v) = job_image(job).as_deref().and_then(version_in_image) {
                pending_version
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(node.name().to_owned(), v);
            }
            AutoAction::Succeed(Some(node.boot_id()))
        }
        AutoEvent::Pod {
            pod,
            node,
            role: Some("reboot"),
        } => {
            if !due(format!("pod/{}", pod.uid().unwrap_or_default())) {
                return AutoAction::Ignore;
            }
            let version = pending_version
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(node.name());
            AutoAction::Reboot(RebootChange {
                release: version.map(|v| node.release().with_version(&v)),
                boot_mode: Some(BootMode::Active),
            })
        }
        AutoEvent::Pod { pod, .. } => {
            if !due(format!("pod/{}", pod.uid().unwrap_or_default())) {
                return AutoAction::Ignore;
            }
            AutoAction::Succeed(None)
        }
    })
}

/// A running automatic kubelet; stops when dropped.
#[derive(Debug)]
pub struct AutoKubelet {
    task: JoinHandle<()>,
}

impl Drop for AutoKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Kubelet {
    /// Starts the automatic mode with `policy`, polling every 150 ms.
    pub fn run_auto(&self, policy: Policy) -> AutoKubelet {
        let k = self.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = k.auto_pass(&policy).await {
                    tracing::warn!(error = %format!("{e:#}"), "automatic kubelet pass failed");
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        });
        AutoKubelet { task }
    }

    async fn auto_pass(&self, policy: &Policy) -> anyhow::Result<()> {
        let nodes: Vec<NodeHandle> = self
            .nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for n in &nodes {
            self.reap_terminating(n.name()).await?;
        }
        let jobs = Api::<Job>::all(self.client.clone())
            .list(&ListParams::default())
            .await?;
        for job in jobs
            .items
            .iter()
            .filter(|j| !job_finished(j) && j.metadata.deletion_timestamp.is_none())
        {
            let Some(node) = self.job_node(job).and_then(|n| self.node(&n)) else {
                continue;
            };
            let attempt = job.status.as_ref().and_then(|s| s.failed).unwrap_or(0) + 1;
            let ns = job.namespace().unwrap_or_default();
            let outcome = match policy(&AutoEvent::Job {
                job,
                node: &node,
                attempt,
            }) {
                AutoAction::Succeed(m) => Outcome::Succeed(m),
                AutoAction::Fail(m) => Outcome::Fail(m),
                AutoAction::CannotStart(reason, message) => {
                    if self.pods_of_job(job).await?.is_empty() {
                        let pod = self.create_job_pod(job).await?;
                        self.hold_waiting(&ns, &pod.name_any(), &reason, &message)
                            .await?;
                    }
                    continue;
                }
                _ => continue,
            };
            self.finish_job(&ns, &job.name_any(), outcome).await?;
        }
        let pods = Api::<Pod>::all(self.client.clone())
            .list(&ListParams::default())
            .await?;
        for pod in &pods.items {
            let owned_by_job = pod.owner_references().iter().any(|o| o.kind == "Job");
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("Pending");
            if owned_by_job || pod.metadata.deletion_timestamp.is_some() || phase != "Pending" {
                continue;
            }
            let Some(node) = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .and_then(|n| self.node(&n))
            else {
                continue;
            };
            let role = pod
                .labels()
                .get(kairos_api::names::LABEL_ROLE)
                .map(String::as_str);
            let ns = pod.namespace().unwrap_or_default();
            let name = pod.name_any();
            match policy(&AutoEvent::Pod {
                pod,
                node: &node,
                role,
            }) {
                AutoAction::Succeed(m) => {
                    self.run_pod(&ns, &name).await?;
                    self.finish_pod(&ns, &name, &Outcome::Succeed(m)).await?;
                }
                AutoAction::Fail(m) => {
                    self.run_pod(&ns, &name).await?;
                    self.finish_pod(&ns, &name, &Outcome::Fail(m)).await?;
                }
                AutoAction::Reboot(change) => self.run_reboot_pod(&ns, &name, change).await?,
                AutoAction::Run => {
                    self.run_pod(&ns, &name).await?;
                }
                AutoAction::CannotStart(reason, message) => {
                    self.hold_waiting(&ns, &name, &reason, &message).await?;
                }
                AutoAction::Ignore => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
