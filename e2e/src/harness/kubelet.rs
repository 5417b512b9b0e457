//! The kubelet (and Job controller) stand-in: finds Jobs and pods aimed at simulated nodes,
//! creates a Job's pods as the Job controller would (labels, owner reference, one new pod per
//! failure up to `backoffLimit`), finishes them Succeeded/Failed with a termination message,
//! updates Job status and conditions, completes graceful pod deletions, and reboots nodes. Does
//! API I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::node::{NodeHandle, RebootChange};

/// How a pod ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0, with an optional termination message.
    Succeed(Option<String>),
    /// Exit 1, with an optional termination message.
    Fail(Option<String>),
}

/// The kubelet stand-in for every simulated node of a cluster.
#[derive(Clone)]
pub struct Kubelet {
    pub(crate) client: Client,
    pub(crate) nodes: Arc<Mutex<BTreeMap<String, NodeHandle>>>,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The node a pod template is pinned to: `nodeName`, a `kubernetes.io/hostname` node selector,
/// or a required node affinity on `kubernetes.io/hostname`/`metadata.name`.
pub fn pinned_node(spec: &Value) -> Option<String> {
    if let Some(n) = spec["nodeName"].as_str().filter(|n| !n.is_empty()) {
        return Some(n.into());
    }
    if let Some(n) = spec["nodeSelector"]["kubernetes.io/hostname"].as_str() {
        return Some(n.into());
    }
    let terms = &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"];
    for t in terms.as_array().into_iter().flatten() {
        for e in t["matchFields"]
            .as_array()
            .into_iter()
            .chain(t["matchExpressions"].as_array())
            .flatten()
        {
            let key_ok = matches!(
                e["key"].as_str(),
                Some("metadata.name" | "kubernetes.io/hostname")
            );
            if key_ok
                && e["operator"] == "In"
                && let Some(v) = e["values"][0].as_str()
            {
                return Some(v.into());
            }
        }
    }
    None
}

/// The image of the first container of `job`'s pod template.
pub fn job_image(job: &Job) -> Option<String> {
    job.spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()
}

/// Whether a Job has a Complete or Failed condition.
pub fn job_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

impl Kubelet {
    /// The node handle of a simulated node.
    pub fn node(&self, name: &str) -> Option<NodeHandle> {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Jobs (all namespaces) whose pods are pinned to `node`.
    pub async fn jobs_on_node(&self, node: &str) -> anyhow::Result<Vec<Job>> {
        let jobs = Api::<Job>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .context("failed to list jobs")?;
        Ok(jobs
            .items
            .into_iter()
            .filter(|j| self.job_node(j).as_deref() == Some(node))
            .collect())
    }

    /// The node a Job's pods run on.
    pub fn job_node(&self, job: &Job) -> Option<String> {
        let v = serde_json::to_value(job).ok()?;
        pinned_node(&v["spec"]["template"]["spec"])
    }

    /// Pods (all namespaces) bound to `node`.
    pub async fn pods_on_node(&self, node: &str) -> anyhow::Result<Vec<Pod>> {
        let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
        Ok(Api::<Pod>::all(self.client.clone())
            .list(&lp)
            .await
            .context("failed to list pods")?
            .items)
    }

    async fn job_pods(&self, job: &Job) -> anyhow::Result<Vec<Pod>> {
        let ns = job.namespace().unwrap_or_default();
        let uid = job.uid().unwrap_or_default();
        let lp = ListParams::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}"));
        Ok(Api::<Pod>::namespaced(self.client.clone(), &ns)
            .list(&lp)
            .await
            .context("failed to list job pods")?
            .items)
    }

    /// Creates the next pod of a Job (what the Job controller does), pinned to its node.
    pub async fn create_job_pod(&self, job: &Job) -> anyhow::Result<Pod> {
        let ns = job.namespace().unwrap_or_default();
        let v = serde_json::to_value(job)?;
        let tmpl = &v["spec"]["template"];
        let mut spec = tmpl["spec"].clone();
        if let Some(n) = pinned_node(&spec) {
            spec["nodeName"] = json!(n);
        }
        let mut labels = tmpl["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        let uid = job.uid().unwrap_or_default();
        let name = job.name_any();
        for (k, val) in [
            ("batch.kubernetes.io/controller-uid", &uid),
            ("controller-uid", &uid),
            ("batch.kubernetes.io/job-name", &name),
            ("job-name", &name),
        ] {
            labels[k] = json!(val);
        }
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": format!("{name}-"), "namespace": ns, "labels": labels,
                "annotations": tmpl["metadata"]["annotations"],
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": spec,
        }))?;
        let pod = Api::<Pod>::namespaced(self.client.clone(), &ns)
            .create(&PostParams::default(), &pod)
            .await
            .context("failed to create job pod")?;
        let mut st = json!({"status": {"active": 1, "ready": 0, "terminating": 0}});
        if job
            .status
            .as_ref()
            .and_then(|s| s.start_time.as_ref())
            .is_none()
        {
            st["status"]["startTime"] = json!(now());
        }
        Api::<Job>::namespaced(self.client.clone(), &ns)
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&st))
            .await
            .context("failed to update job status")?;
        Ok(pod)
    }

    /// Marks a pod Running on its node (containers started, Ready).
    pub async fn run_pod(&self, ns: &str, name: &str) -> anyhow::Result<Pod> {
        let t = now();
        let body = json!({"status": {"phase": "Running", "startTime": t,
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}, {"type": "PodScheduled", "status": "True", "lastTransitionTime": t}]}});
        let api = Api::<Pod>::namespaced(self.client.clone(), ns);
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .with_context(|| format!("failed to run pod {ns}/{name}"))
    }

    /// Leaves a pod Pending with every container waiting for `reason` (the kubelet's
    /// `ErrImagePull`, `ImagePullBackOff`, ...) with `message`.
    pub async fn hold_waiting(
        &self,
        ns: &str,
        name: &str,
        reason: &str,
        message: &str,
    ) -> anyhow::Result<Pod> {
        let api = Api::<Pod>::namespaced(self.client.clone(), ns);
        let pod = api
            .get(name)
            .await
            .with_context(|| format!("failed to get pod {ns}/{name}"))?;
        let statuses: Vec<Value> = pod.spec.as_ref().map(|s| s.containers.iter().map(|c| {
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                "state": {"waiting": {"reason": reason, "message": message}}})
        }).collect()).unwrap_or_default();
        let t = now();
        let body = json!({"status": {"phase": "Pending", "containerStatuses": statuses,
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": t}]}});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .with_context(|| format!("failed to hold pod {ns}/{name} waiting"))
    }

    /// The pods of `job` (by its `job-name` label).
    pub async fn pods_of_job(&self, job: &Job) -> anyhow::Result<Vec<Pod>> {
        let ns = job.namespace().unwrap_or_default();
        let lp = ListParams::default().labels(&format!("job-name={}", job.name_any()));
        Ok(Api::<Pod>::namespaced(self.client.clone(), &ns)
            .list(&lp)
            .await
            .context("failed to list the pods of a job")?
            .items)
    }

    /// Ends a pod: phase Succeeded/Failed with a terminated container status (and message).
    pub async fn finish_pod(&self, ns: &str, name: &str, outcome: &Outcome) -> anyhow::Result<Pod> {
        let api = Api::<Pod>::namespaced(self.client.clone(), ns);
        let pod = api
            .get(name)
            .await
            .with_context(|| format!("failed to get pod {ns}/{name}"))?;
        let (phase, code, reason, msg) = match outcome {
            Outcome::Succeed(m) => ("Succeeded", 0, "Completed", m.clone()),
            Outcome::Fail(m) => ("Failed", 1, "Error", m.clone()),
        };
        let t = now();
        let statuses: Vec<Value> = pod.spec.as_ref().map(|s| s.containers.iter().map(|c| {
            let mut term = json!({"exitCode": code, "reason": reason, "startedAt": t, "finishedAt": t});
            if let Some(m) = &msg {
                term["message"] = json!(m);
            }
            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false, "restartCount": 0, "started": false, "state": {"terminated": term}})
        }).collect()).unwrap_or_default();
        let body = json!({"status": {"phase": phase, "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": t}]}});
        api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .with_context(|| format!("failed to finish pod {ns}/{name}"))
    }

    /// Runs every Job of `ns` that appears (on a watch, so it scales to thousands) for
    /// `duration`, then succeeds it with its node's boot ID. Stops when the handle is dropped
    /// or aborted.
    pub fn serve_jobs(
        &self,
        ns: &str,
        duration: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        use futures::StreamExt as _;
        use kube::runtime::{WatchStreamExt as _, watcher};
        let kubelet = self.clone();
        let api = Api::<Job>::namespaced(self.client.clone(), ns);
        let ns = ns.to_owned();
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(ev) = events.next().await {
                let Ok(job) = ev else { continue };
                if job_finished(&job) || job.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                if !seen.insert(job.name_any()) {
                    continue;
                }
                let (kubelet, ns) = (kubelet.clone(), ns.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(duration).await;
                    let boot_id = kubelet
                        .job_node(&job)
                        .and_then(|n| kubelet.node(&n))
                        .map(|n| n.boot_id());
                    for _ in 0..5 {
                        let outcome = Outcome::Succeed(boot_id.clone());
                        match kubelet.finish_job(&ns, &job.name_any(), outcome).await {
                            Ok(_) => break,
                            Err(e) => {
                                tracing::debug!(error = %format!("{e:#}"), "finishing a Job (retrying)");
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
            }
        })
    }

    /// Runs one attempt of a Job to the given outcome: uses (or creates) its pending pod, ends
    /// it, and updates the Job status as the Job controller would (Complete, or a new pod after a
    /// failure, or Failed with `BackoffLimitExceeded` once failures exceed `backoffLimit`).
    pub async fn finish_job(&self, ns: &str, name: &str, outcome: Outcome) -> anyhow::Result<Job> {
        let japi = Api::<Job>::namespaced(self.client.clone(), ns);
        let job = japi
            .get(name)
            .await
            .with_context(|| format!("failed to get job {ns}/{name}"))?;
        anyhow::ensure!(!job_finished(&job), "job {ns}/{name} already finished");
        let pending = self.job_pods(&job).await?.into_iter().find(|p| {
            let ph = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default();
            ph != "Succeeded" && ph != "Failed" && p.metadata.deletion_timestamp.is_none()
        });
        let pod = match pending {
            Some(p) => p,
            None => self.create_job_pod(&job).await?,
        };
        let pname = pod.name_any();
        self.run_pod(ns, &pname).await?;
        self.finish_pod(ns, &pname, &outcome).await?;
        let s = job.status.clone().unwrap_or_default();
        let (succeeded, failed) = (s.succeeded.unwrap_or(0), s.failed.unwrap_or(0));
        let limit = job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6);
        let t = now();
        let mut st =
            json!({"active": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
        if s.start_time.is_none() {
            st["startTime"] = json!(t);
        }
        let mut next_pod = false;
        match outcome {
            Outcome::Succeed(_) => {
                st["succeeded"] = json!(succeeded + 1);
                st["completionTime"] = json!(t);
                st["conditions"] = json!([
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": t, "lastTransitionTime": t},
                ]);
            }
            Outcome::Fail(_) => {
                st["failed"] = json!(failed + 1);
                if failed + 1 > limit {
                    st["conditions"] = json!([
                        {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": t, "lastTransitionTime": t},
                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": t, "lastTransitionTime": t},
                    ]);
                } else {
                    next_pod = true;
                }
            }
        }
        let job = japi
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": st})),
            )
            .await
            .context("failed to update job status")?;
        if next_pod {
            self.create_job_pod(&job).await?;
            return japi.get(name).await.context("failed to get job");
        }
        Ok(job)
    }

    /// Finishes graceful deletions of pods on `node` (deletes them with grace period 0).
    pub async fn reap_terminating(&self, node: &str) -> anyhow::Result<usize> {
        let mut n = 0;
        for p in self
            .pods_on_node(node)
            .await?
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
        {
            let api =
                Api::<Pod>::namespaced(self.client.clone(), &p.namespace().unwrap_or_default());
            match api
                .delete(&p.name_any(), &DeleteParams::default().grace_period(0))
                .await
            {
                Ok(_) => n += 1,
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e).context("failed to delete terminating pod"),
            }
        }
        Ok(n)
    }

    /// Reboots a simulated node (see [`NodeHandle::reboot`]).
    pub async fn reboot(&self, node: &str, change: RebootChange) -> anyhow::Result<()> {
        let h = self
            .node(node)
            .with_context(|| format!("no simulated node {node}"))?;
        h.reboot(change).await
    }

    /// Runs a reboot pod: reboots its node (with `change`), then the pod ends Succeeded (on a real
    /// node the restarted pod sees a new boot ID and exits 0).
    pub async fn run_reboot_pod(
        &self,
        ns: &str,
        name: &str,
        change: RebootChange,
    ) -> anyhow::Result<()> {
        let pod = Api::<Pod>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
            .with_context(|| format!("failed to get pod {ns}/{name}"))?;
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .with_context(|| format!("reboot pod {ns}/{name} is not bound to a node"))?;
        self.run_pod(ns, name).await?;
        self.reboot(&node, change).await?;
        self.finish_pod(ns, name, &Outcome::Succeed(None)).await?;
        Ok(())
    }
}
