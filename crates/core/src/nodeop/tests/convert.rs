//! Tests of the conversions from Kubernetes objects to the planner's view. Test-only; no I/O.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::nodeop::{EnginePod, EngineRole, JobCondition, JobInfo, NodeInfo, NodePod, PodPhase};

fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_yaml::from_str(s).unwrap()
}

#[test]
fn a_node_is_read_with_its_cordon_annotation_readiness_and_boot_id() {
    let node: Node = yaml(
        r#"
metadata:
  name: cp1
  labels: {node-role.kubernetes.io/control-plane: ""}
  annotations: {operator.kairos.io/cordoned-by: default/op@u1}
spec: {unschedulable: true}
status:
  conditions: [{type: Ready, status: "True"}]
  nodeInfo: {bootID: b1, machineID: m, systemUUID: s, kernelVersion: k, osImage: o,
             containerRuntimeVersion: c, kubeletVersion: v, kubeProxyVersion: v,
             operatingSystem: linux, architecture: amd64}
"#,
    );
    let info = NodeInfo::from_node(&node);
    assert_eq!(info.name, "cp1");
    assert!(info.unschedulable && info.ready);
    assert_eq!(info.cordoned_by.as_deref(), Some("default/op@u1"));
    assert_eq!(info.boot_id.as_deref(), Some("b1"));
    let bare = NodeInfo::from_node(&yaml("metadata: {name: w1}"));
    assert!(!bare.unschedulable && !bare.ready && bare.boot_id.is_none());
}

#[test]
fn a_job_is_read_with_its_condition_and_the_latest_termination_message() {
    let job: Job = yaml(
        r#"
metadata: {name: op-w1-12345678}
spec:
  template:
    spec: {nodeName: w1, containers: [{name: nodeop}]}
status:
  failed: 2
  succeeded: 1
  conditions:
    - {type: SuccessCriteriaMet, status: "True"}
    - {type: Complete, status: "True"}
"#,
    );
    let pod = |at: &str, msg: &str| -> Pod {
        yaml(&format!(
            "metadata: {{name: p}}\nstatus:\n  containerStatuses:\n  - name: nodeop\n    image: i\n    imageID: i\n    ready: false\n    restartCount: 0\n    state: {{terminated: {{exitCode: 0, finishedAt: \"{at}\", message: \"{msg}\"}}}}\n"
        ))
    };
    let pods = [
        pod("2026-01-01T00:00:05Z", "new"),
        pod("2026-01-01T00:00:01Z", "old"),
    ];
    let info = JobInfo::from_job(&job, &pods);
    assert_eq!(info.node, "w1");
    assert_eq!((info.active, info.succeeded, info.failed), (0, 1, 2));
    assert_eq!(info.condition, Some(JobCondition::Complete));
    assert_eq!(info.termination_message.as_deref(), Some("new"));
    let failed: Job = yaml(
        "metadata: {name: j}\nstatus:\n  conditions: [{type: Failed, status: \"True\", reason: BackoffLimitExceeded, message: limit}]",
    );
    let info = JobInfo::from_job(&failed, &[]);
    let expected = JobCondition::Failed {
        reason: "BackoffLimitExceeded".into(),
        message: "limit".into(),
    };
    assert_eq!(info.condition, Some(expected));
}

#[test]
fn pods_are_read_for_the_drain_and_the_engine() {
    let pod: Pod = yaml(
        r#"
metadata:
  namespace: kube-system
  name: etcd-cp1
  annotations: {kubernetes.io/config.mirror: abc}
  deletionTimestamp: "2026-01-01T00:00:00Z"
  ownerReferences:
    - {apiVersion: v1, kind: Node, name: cp1, uid: u, controller: true}
spec:
  containers: [{name: etcd}]
  volumes: [{name: scratch, emptyDir: {}}]
status: {phase: Running}
"#,
    );
    let p = NodePod::from_pod(&pod);
    assert_eq!(p.controller_kind.as_deref(), Some("Node"));
    assert!(p.is_mirror && p.has_empty_dir && p.deleting);
    assert_eq!(p.phase, PodPhase::Running);
    assert_eq!(EnginePod::from_pod(&pod), None);
    let reboot: Pod = yaml(
        "metadata: {name: r, labels: {operator.kairos.io/role: reboot}}\nspec: {nodeName: w1, containers: [{name: reboot}]}\nstatus: {phase: Succeeded}",
    );
    let e = EnginePod::from_pod(&reboot).unwrap();
    assert_eq!(
        (e.role, e.phase, e.node.as_str()),
        (EngineRole::Reboot, PodPhase::Succeeded, "w1")
    );
}

#[test]
fn a_job_pod_that_cannot_pull_its_image_says_so_and_a_slow_pull_does_not() {
    use k8s_openapi::api::batch::v1::Job;
    let job: Job = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"nodeName": "w1", "containers": []}}},
        "status": {"active": 1},
    }))
    .unwrap();
    let pod = |reason: &str| -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "j-x"},
            "status": {"phase": "Pending", "containerStatuses": [{
                "name": "c", "image": "nope:1", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": "no such image"}},
            }]},
        }))
        .unwrap()
    };
    let info = JobInfo::from_job(&job, &[pod("ErrImagePull")]);
    assert_eq!(
        info.cannot_start.as_deref(),
        Some("ErrImagePull: no such image")
    );
    let info = JobInfo::from_job(&job, &[pod("ContainerCreating")]);
    assert_eq!(info.cannot_start, None);
}

fn json<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid object")
}

#[test]
fn a_node_not_ready_or_with_an_empty_boot_id_reads_so() {
    let node: Node = json(serde_json::json!({
        "metadata": {"name": "w1"},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
            "nodeInfo": {"bootID": "", "machineID": "", "systemUUID": "", "kernelVersion": "",
                "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "",
                "kubeProxyVersion": "", "operatingSystem": "", "architecture": ""}},
    }));
    let info = NodeInfo::from_node(&node);
    assert!(!info.ready);
    assert_eq!(info.boot_id, None);
}

#[test]
fn an_unknown_pod_phase_reads_as_pending_and_unknown_as_unknown() {
    let with_phase = |phase: &str| -> Pod {
        json(serde_json::json!({"metadata": {"name": "p"}, "status": {"phase": phase}}))
    };
    assert_eq!(
        NodePod::from_pod(&with_phase("Evicted")).phase,
        PodPhase::Pending
    );
    assert_eq!(
        NodePod::from_pod(&with_phase("Unknown")).phase,
        PodPhase::Unknown
    );
    assert_eq!(
        NodePod::from_pod(&with_phase("Failed")).phase,
        PodPhase::Failed
    );
}

#[test]
fn only_the_controlling_owner_manages_a_pod() {
    let pod: Pod = json(
        serde_json::json!({"metadata": {"name": "p", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "1"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "2", "controller": true},
        ]}}),
    );
    assert_eq!(
        NodePod::from_pod(&pod).controller_kind.as_deref(),
        Some("ReplicaSet")
    );
    let bare: Pod = json(
        serde_json::json!({"metadata": {"name": "p", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "1", "controller": false},
        ]}}),
    );
    assert_eq!(NodePod::from_pod(&bare).controller_kind, None);
}

#[test]
fn an_init_container_that_cannot_start_is_reported_with_its_reason_alone_when_silent() {
    let pod: Pod = json(serde_json::json!({
        "metadata": {"name": "r", "labels": {"operator.kairos.io/role": "preflight"}},
        "spec": {"nodeName": "w1", "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{
            "name": "init", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "  "}},
        }]},
    }));
    let e = EnginePod::from_pod(&pod).expect("an engine pod");
    assert_eq!(e.role, EngineRole::Preflight);
    assert_eq!(
        e.cannot_start.as_deref(),
        Some("CreateContainerConfigError")
    );
}

#[test]
fn a_blank_termination_message_reads_as_none() {
    let pod: Pod = json(serde_json::json!({
        "metadata": {"name": "r", "labels": {"operator.kairos.io/role": "reboot"}},
        "spec": {"nodeName": "w1", "containers": [{"name": "c"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [{
            "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "message": " \n "}},
        }]},
    }));
    assert_eq!(
        EnginePod::from_pod(&pod)
            .expect("engine pod")
            .termination_message,
        None
    );
}

#[test]
fn a_job_pod_or_an_unlabelled_pod_is_no_preflight_or_reboot_pod() {
    let job_pod: Pod = json(serde_json::json!({
        "metadata": {"name": "j", "labels": {"operator.kairos.io/role": "job"}},
        "spec": {"nodeName": "w1", "containers": [{"name": "c"}]},
    }));
    assert_eq!(EnginePod::from_pod(&job_pod), None);
    let plain: Pod = json(serde_json::json!({"metadata": {"name": "p"}}));
    assert_eq!(EnginePod::from_pod(&plain), None);
}

#[test]
fn a_false_failed_condition_is_no_failure_and_a_deleting_job_says_so() {
    let job: Job = json(serde_json::json!({
        "metadata": {"name": "j", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"conditions": [{"type": "Failed", "status": "False"}]},
    }));
    let info = JobInfo::from_job(&job, &[]);
    assert_eq!(info.condition, None);
    assert!(info.deleting);
}

#[test]
fn a_deleting_pod_that_cannot_start_does_not_count_for_its_job() {
    let job: Job = json(serde_json::json!({"metadata": {"name": "j"}, "status": {"active": 1}}));
    let pod: Pod = json(serde_json::json!({
        "metadata": {"name": "j-x", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"phase": "Pending", "containerStatuses": [{
            "name": "c", "image": "nope:1", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff"}},
        }]},
    }));
    assert_eq!(JobInfo::from_job(&job, &[pod]).cannot_start, None);
}
