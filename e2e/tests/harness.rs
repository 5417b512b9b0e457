//! The harness itself: simulated nodes and their host roots, the kubelet stand-in (Jobs,
//! backoff, reboots, automatic mode), agent identities, and spawning the real binaries. Runs on
//! whichever backend `Cluster::start` picks. Does API, file and process I/O.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kairos_e2e::harness::{
    BootMode, Outcome, RebootChange, ReleaseFixture, SimNode, default_policy, ensure_built,
    wait_for,
};
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn pinned_job(name: &str, node: &str, backoff: i32) -> Job {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"backoffLimit": backoff, "template": {"spec": {
        "restartPolicy": "Never", "nodeName": node, "containers": [{"name": "run", "image": "busybox:latest"}]}}}}))
    .expect("test fixture")
}

#[tokio::test]
async fn harness_nodes_have_realistic_host_roots_and_node_objects() {
    let (c, _ns) = cluster("harness-nodes").await;
    let cp = c
        .add_node(SimNode::control_plane(
            "hn-cp",
            ReleaseFixture::opensuse_k0s("v3.5.0"),
        ))
        .await
        .unwrap();
    let root = cp.host_root();
    let kr = std::fs::read_to_string(root.join("etc/kairos-release")).unwrap();
    assert!(
        kr.contains("KAIROS_VERSION=\"v3.5.0\"")
            && kr.contains("KAIROS_FLAVOR=\"opensuse\"")
            && kr.contains("KAIROS_SOFTWARE_VERSION_PREFIX=\"k0s\""),
        "{kr}"
    );
    assert_eq!(
        std::fs::read_link(root.join("etc/os-release"))
            .unwrap()
            .to_str(),
        Some("../usr/lib/os-release")
    );
    assert!(
        std::fs::read_to_string(root.join("etc/os-release"))
            .unwrap()
            .contains("ID=\"opensuse-leap\"")
    );
    assert!(
        std::fs::read_to_string(root.join("proc/cmdline"))
            .unwrap()
            .contains("COS_ACTIVE")
    );
    assert!(root.join("run/cos/active_mode").exists());
    assert!(
        root.join("oem/90_custom.yaml").exists()
            && root.join("usr/local/cloud-config/10_k8s.yaml").exists()
    );
    let boot_id = std::fs::read_to_string(root.join("proc/sys/kernel/random/boot_id")).unwrap();
    assert_eq!(boot_id.trim(), cp.boot_id());

    let node = Api::<Node>::all(c.client()).get("hn-cp").await.unwrap();
    assert!(
        node.labels()
            .contains_key("node-role.kubernetes.io/control-plane")
    );
    assert_eq!(node.labels()["kubernetes.io/hostname"], "hn-cp");
    let status = node.status.unwrap();
    assert_eq!(status.node_info.unwrap().boot_id, cp.boot_id());
    assert!(
        status
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );

    let plain = c
        .add_node(SimNode::worker("hn-debian", ReleaseFixture::plain_debian()))
        .await
        .unwrap();
    assert!(!plain.host_root().join("etc/kairos-release").exists());
    assert!(!plain.host_root().join("run/cos").exists());
    let legacy = c
        .add_node(SimNode::worker(
            "hn-legacy",
            ReleaseFixture::legacy_kairos("v2.4.3"),
        ))
        .await
        .unwrap();
    assert!(!legacy.host_root().join("etc/kairos-release").exists());
    assert!(
        std::fs::read_to_string(legacy.host_root().join("etc/os-release"))
            .unwrap()
            .contains("ID=\"kairos\"")
    );
}

#[tokio::test]
async fn harness_kubelet_completes_a_job_like_the_job_controller() {
    let (c, ns) = cluster("harness-job").await;
    c.add_node(SimNode::worker(
        "hj-w1",
        ReleaseFixture::ubuntu_k3s("v3.5.0"),
    ))
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(c.client(), &ns);
    jobs.create(&PostParams::default(), &pinned_job("run-hj", "hj-w1", 2))
        .await
        .unwrap();
    let k = c.kubelet();
    assert_eq!(
        k.jobs_on_node("hj-w1")
            .await
            .unwrap()
            .iter()
            .map(|j| j.name_any())
            .collect::<Vec<_>>(),
        ["run-hj"]
    );
    let job = k
        .finish_job(&ns, "run-hj", Outcome::Succeed(Some("boot-123".into())))
        .await
        .unwrap();
    let st = job.status.unwrap();
    assert_eq!(st.succeeded, Some(1));
    assert!(
        st.conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
    );
    let pods = Api::<Pod>::namespaced(c.client(), &ns)
        .list(&ListParams::default().labels("job-name=run-hj"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 1);
    let p = &pods.items[0];
    assert_eq!(p.labels()["batch.kubernetes.io/job-name"], "run-hj");
    assert_eq!(p.owner_references()[0].kind, "Job");
    let ps = p.status.clone().unwrap();
    assert_eq!(ps.phase.as_deref(), Some("Succeeded"));
    let term = ps.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.message.as_deref(), Some("boot-123"));
    assert!(
        k.finish_job(&ns, "run-hj", Outcome::Succeed(None))
            .await
            .is_err(),
        "a finished job cannot run again"
    );
}

#[tokio::test]
async fn harness_kubelet_respects_backoff_limit() {
    let (c, ns) = cluster("harness-backoff").await;
    c.add_node(SimNode::worker(
        "hb-w1",
        ReleaseFixture::alpine_core("v3.5.0"),
    ))
    .await
    .unwrap();
    let jobs: Api<Job> = Api::namespaced(c.client(), &ns);
    jobs.create(&PostParams::default(), &pinned_job("flaky", "hb-w1", 1))
        .await
        .unwrap();
    let k = c.kubelet();
    let j = k
        .finish_job(&ns, "flaky", Outcome::Fail(Some("oops".into())))
        .await
        .unwrap();
    assert_eq!(j.status.as_ref().unwrap().failed, Some(1));
    assert!(
        j.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .is_none_or(|cs| cs.iter().all(|c| c.type_ != "Failed")),
        "one failure is within backoffLimit 1"
    );
    let j = k
        .finish_job(&ns, "flaky", Outcome::Fail(None))
        .await
        .unwrap();
    let failed = j
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .expect("Failed condition");
    assert_eq!(failed.reason.as_deref(), Some("BackoffLimitExceeded"));
    let pods = Api::<Pod>::namespaced(c.client(), &ns)
        .list(&ListParams::default().labels("job-name=flaky"))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 2, "one pod per attempt");
}

#[tokio::test]
async fn harness_reboot_changes_boot_id_release_and_boot_mode() {
    let (c, _ns) = cluster("harness-reboot").await;
    let n = c
        .add_node(SimNode::worker(
            "hr-w1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let before = n.boot_id();
    c.kubelet()
        .reboot(
            "hr-w1",
            RebootChange {
                release: Some(n.release().with_version("v3.6.0")),
                boot_mode: Some(BootMode::Passive),
            },
        )
        .await
        .unwrap();
    assert_ne!(n.boot_id(), before);
    assert_eq!(n.boots(), 2);
    let root = n.host_root();
    assert!(
        std::fs::read_to_string(root.join("etc/kairos-release"))
            .unwrap()
            .contains("KAIROS_VERSION=\"v3.6.0\"")
    );
    assert!(
        std::fs::read_to_string(root.join("proc/cmdline"))
            .unwrap()
            .contains("COS_PASSIVE")
    );
    assert!(
        root.join("run/cos/passive_mode").exists() && !root.join("run/cos/active_mode").exists()
    );
    let node = Api::<Node>::all(c.client()).get("hr-w1").await.unwrap();
    assert_eq!(node.status.unwrap().node_info.unwrap().boot_id, n.boot_id());
}

#[tokio::test]
async fn harness_auto_kubelet_drives_jobs_and_reboot_pods() {
    let (c, ns) = cluster("harness-auto").await;
    let n = c
        .add_node(SimNode::worker(
            "ha-w1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let boot_id = n.boot_id();
    let _auto = c.kubelet().run_auto(default_policy());
    let jobs: Api<Job> = Api::namespaced(c.client(), &ns);
    jobs.create(&PostParams::default(), &pinned_job("auto-job", "ha-w1", 0))
        .await
        .unwrap();
    wait_for(Duration::from_secs(10), || async {
        let j = jobs.get("auto-job").await.ok()?;
        (j.status?.succeeded == Some(1)).then_some(())
    })
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(c.client(), &ns);
    let job_pod = &pods
        .list(&ListParams::default().labels("job-name=auto-job"))
        .await
        .unwrap()
        .items[0];
    let msg = job_pod.status.clone().unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap()
        .message;
    assert_eq!(
        msg,
        Some(boot_id.clone()),
        "the default policy records the boot ID"
    );
    let mut reboot = pod(
        "reboot-ha-w1",
        json!({kairos_api::names::LABEL_ROLE: "reboot"}),
        Some("ha-w1"),
    );
    reboot.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
    pods.create(&PostParams::default(), &reboot).await.unwrap();
    wait_for(Duration::from_secs(10), || async {
        let p = pods.get("reboot-ha-w1").await.ok()?;
        (p.status?.phase.as_deref() == Some("Succeeded")).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(n.boots(), 2);
    assert_ne!(n.boot_id(), boot_id);
}

#[tokio::test]
async fn harness_agent_identity_reviews_as_its_node() {
    let (c, _ns) = cluster("harness-identity").await;
    let n = c
        .add_node(SimNode::worker(
            "hi-w1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let id = c
        .agent_identity(&n, "kairos-system", kairos_api::names::AGENT_TOKEN_AUDIENCE)
        .await
        .unwrap();
    let token = std::fs::read_to_string(&id.token_file).unwrap();
    let review: TokenReview = serde_json::from_value(
        json!({"spec": {"token": token, "audiences": [kairos_api::names::AGENT_TOKEN_AUDIENCE]}}),
    )
    .unwrap();
    let st = Api::<TokenReview>::all(c.client())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(st.authenticated, Some(true));
    let user = st.user.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:kairos-system:kairos-node-agent")
    );
    assert_eq!(
        user.extra.unwrap()["authentication.kubernetes.io/node-name"],
        ["hi-w1"]
    );
}

#[tokio::test]
async fn harness_spawns_the_real_binaries() {
    let (c, _ns) = cluster("harness-spawn").await;
    if let Err(e) = ensure_built().await {
        panic!("building kairos-operator and kairos-node-agent failed: {e:#}");
    }
    let n = c
        .add_node(SimNode::worker(
            "hs-w1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    n.spawn_agent(&["--help"]).await.unwrap();
    let idx = c.spawn_operator(&["--help"], &[]).await.unwrap();
    wait_for(Duration::from_secs(20), || async {
        (!n.agent_running() && !n.agent_logs().is_empty() && !c.operator_logs(idx).is_empty())
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: agent log {:?}, operator log {:?}",
            n.agent_logs(),
            c.operator_logs(idx)
        )
    });
    assert!(
        n.agent_logs().to_lowercase().contains("usage"),
        "{}",
        n.agent_logs()
    );
    assert!(
        c.operator_logs(idx).to_lowercase().contains("usage"),
        "{}",
        c.operator_logs(idx)
    );
}

#[tokio::test]
async fn harness_real_backend_pki_gives_a_tls_client() {
    let dir = tempfile::tempdir().unwrap();
    let pki = kairos_e2e::harness::certs::generate(dir.path()).unwrap();
    for f in [
        &pki.ca_cert,
        &pki.serving_cert,
        &pki.serving_key,
        &pki.sa_key,
        &pki.sa_pub,
    ] {
        let pem = std::fs::read_to_string(f).unwrap();
        assert!(pem.starts_with("-----BEGIN "), "{}", f.display());
    }
    assert!(
        std::fs::read_to_string(&pki.sa_pub)
            .unwrap()
            .contains("BEGIN PUBLIC KEY")
    );
    let kc = kairos_e2e::harness::real::admin_kubeconfig(&pki, 6443);
    let kc = kube::config::Kubeconfig::from_yaml(&kc).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    assert_eq!(cfg.cluster_url.to_string(), "https://127.0.0.1:6443/");
    kube::Client::try_from(cfg).expect("the generated CA and client certificate load into rustls");
}

/// Needs the real backend: `KUBEBUILDER_ASSETS` or `KUBE_APISERVER_BIN` + `ETCD_BIN`.
#[tokio::test]
async fn harness_real_backend_starts_with_crds_established() {
    let Some(bins) = kairos_e2e::harness::RealBinaries::from_env() else {
        println!(
            "skipping harness_real_backend_starts_with_crds_established: set KUBEBUILDER_ASSETS or KUBE_APISERVER_BIN + ETCD_BIN"
        );
        return;
    };
    let c = kairos_e2e::harness::Cluster::start_real(&bins)
        .await
        .unwrap();
    assert_eq!(c.backend(), kairos_e2e::harness::BackendKind::Real);
    let crds = c
        .client()
        .list_api_group_resources("operator.kairos.io/v1alpha1")
        .await
        .unwrap();
    assert!(crds.resources.iter().any(|r| r.name == "nodeops"));
    let ns = Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(c.client(), "default");
    assert!(ns.get_opt("default").await.unwrap().is_some());
}
