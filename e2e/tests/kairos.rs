//! End to end: upgrades on every Kairos boot mode, with the real `kairos-operator` and real
//! `kairos-node-agent`s. Simulated nodes run the engine's Jobs and preflight pods as a Kairos
//! node would (`harness::node_exec`: the command runs with `sh` against the node's host root,
//! and each `kairos-agent upgrade` installs, or fails, as Kairos' agent does on that node); a
//! reboot boots what the upgrade staged, or the boot assessment's fallback. Every assertion
//! reads objects through the API, so the tests hold on a real kube-apiserver too.

mod common;
mod ops;

use std::sync::Arc;
use std::time::Duration;

use kairos_api::v1alpha1::{BootState, NodeOpUpgrade, NodeOpUpgradeStatus};
use kairos_e2e::harness::{
    AutoAction, AutoEvent, AutoKubelet, BootMode, Cluster, Images, NodeHandle, Policy,
    RebootChange, ReleaseFixture, run_action,
};
use serde_json::json;

use ops::*;

const FROM: &str = "v3.5.0";
const TO: &str = "v3.6.0";

/// One worker `n1` on `release`, the operator and its agent, reporting.
async fn one_node(c: &Cluster, release: ReleaseFixture) -> Operator {
    fleet_of_releases(c, &[("n1".to_owned(), false, release)]).await
}

/// Jobs and preflight pods run as the node would (see the module docs) against a registry
/// holding `images`; reboot pods reboot with `reboot(node)`.
fn kairos_policy(
    images: &[ReleaseFixture],
    reboot: impl Fn(&NodeHandle) -> RebootChange + Send + Sync + 'static,
) -> Policy {
    let images = Images::of(images);
    let others = node_policy(Duration::from_millis(200), |_, _, _| None, reboot);
    Arc::new(move |ev| match ev {
        AutoEvent::Job { .. }
        | AutoEvent::Pod {
            role: Some("preflight"),
            ..
        } => run_action(ev, &images).unwrap_or(AutoAction::Ignore),
        AutoEvent::Pod { .. } => others(ev),
    })
}

/// A test's cluster (and namespace): one worker `n1` on `from`, reporting through the operator,
/// and the kubelet stand-in running Jobs as the node would against a registry holding the same
/// system at [`TO`], which it returns too.
async fn setup(
    test: &str,
    from: ReleaseFixture,
    reboot: impl Fn(&NodeHandle) -> RebootChange + Send + Sync + 'static,
) -> (Cluster, String, Operator, ReleaseFixture, AutoKubelet) {
    let (c, ns) = common::cluster(test).await;
    let to = from.with_version(TO);
    let op = one_node(&c, from).await;
    let kubelet = c
        .kubelet()
        .run_auto(kairos_policy(std::slice::from_ref(&to), reboot));
    (c, ns, op, to, kubelet)
}

/// A reboot that boots what the upgrade staged.
fn boots_staged(_: &NodeHandle) -> RebootChange {
    RebootChange::default()
}

/// A reboot whose upgraded active system fails its tries: the boot assessment falls back.
fn falls_back(_: &NodeHandle) -> RebootChange {
    RebootChange {
        release: None,
        boot_mode: Some(BootMode::FallbackPassive),
    }
}

/// `n1`'s phase and message in the upgrade's status.
fn n1(st: &NodeOpUpgradeStatus) -> (String, String) {
    let s = st.node_statuses.get("n1").expect("n1 in the status");
    (
        phase_str(Some(&s.phase)).unwrap_or_default(),
        s.message.clone().unwrap_or_default(),
    )
}

/// Runs the upgrade `name` with `spec` to its end.
async fn upgrade(
    c: &Cluster,
    op: &Operator,
    ns: &str,
    name: &str,
    spec: serde_json::Value,
) -> NodeOpUpgradeStatus {
    create_upgrade(c, ns, name, spec).await;
    let done: NodeOpUpgrade = wait_upgrade(c, op, ns, name, 60).await;
    done.status.expect("status")
}

#[tokio::test]
async fn kairos_trusted_boot_upgrade_completes_verified() {
    let (c, ns, op, to, _kubelet) = setup(
        "kairos-uki",
        ReleaseFixture::ubuntu_k3s(FROM).trusted(),
        boots_staged,
    )
    .await;
    let kn = kairos_node(&c, "n1").await;
    assert_eq!(kn.status.and_then(|s| s.trusted_boot), Some(true));
    let image = to.upgrade_image();
    let st = upgrade(
        &c,
        &op,
        &ns,
        "uki",
        json!({"image": image, "trustedBoot": true}),
    )
    .await;
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    assert_eq!(n1(&st).0, "Completed", "{st:#?}");
    // The Job entered the host (hostPID) to run the host's own agent from the UKI image, in
    // another image than the UKI one (which has no shell).
    let jobs = engine_jobs(&c, &op.opts.namespace).await;
    let pod = jobs
        .first()
        .and_then(|j| j.spec.as_ref())
        .and_then(|s| s.template.spec.clone())
        .expect("the upgrade's Job");
    assert_eq!(pod.host_pid, Some(true));
    let container = &pod.containers[0];
    assert_ne!(container.image.as_deref(), Some(image.as_str()));
    let script = container
        .args
        .iter()
        .flatten()
        .last()
        .cloned()
        .unwrap_or_default();
    assert!(
        script.contains(&format!("--source 'oci:{image}'")),
        "{script}"
    );

    let kn = kairos_node(&c, "n1").await;
    assert!(reports(&kn, TO, BootState::Active), "{:?}", kn.status);
    assert_eq!(kn.status.as_ref().and_then(|s| s.trusted_boot), Some(true));
    assert!(!unschedulable(&node(&c, "n1").await), "n1 left cordoned");
}

#[tokio::test]
async fn kairos_uki_fallback_is_rolled_back_with_the_evidence() {
    let (c, ns, op, to, _kubelet) = setup(
        "kairos-uki-fallback",
        ReleaseFixture::ubuntu_k3s(FROM).trusted(),
        falls_back,
    )
    .await;
    let st = upgrade(
        &c,
        &op,
        &ns,
        "uki",
        json!({"image": to.upgrade_image(), "trustedBoot": true}),
    )
    .await;
    let (phase, message) = n1(&st);
    assert_eq!(phase, "RolledBack", "{st:#?}");
    assert!(
        message.contains("trusted-boot entry") && message.contains("systemd-boot's boot counting"),
        "{message}"
    );
    let kn = kairos_node(&c, "n1").await;
    assert!(reports(&kn, FROM, BootState::Passive), "{:?}", kn.status);
    let n1 = node(&c, "n1").await;
    assert!(
        unschedulable(&n1) && cordoned_by(&n1).is_some(),
        "left cordoned for a person"
    );
}

#[tokio::test]
async fn kairos_grub_upgrade_failure_fallback_is_rolled_back_with_the_evidence() {
    let (c, ns, op, to, _kubelet) = setup(
        "kairos-grub-fallback",
        ReleaseFixture::ubuntu_k3s(FROM),
        falls_back,
    )
    .await;
    let st = upgrade(&c, &op, &ns, "grub", json!({"image": to.upgrade_image()})).await;
    let (phase, message) = n1(&st);
    assert_eq!(phase, "RolledBack", "{st:#?}");
    assert!(
        message.contains("the boot assessment fell back (upgrade_failure)"),
        "{message}"
    );
    let kn = kairos_node(&c, "n1").await;
    assert!(reports(&kn, FROM, BootState::Passive), "{:?}", kn.status);
    assert_eq!(
        kn.status.as_ref().and_then(|s| s.upgrade_failure),
        Some(true)
    );
}

#[tokio::test]
async fn kairos_a_kairos_image_for_a_uki_node_is_refused_with_nothing_cordoned() {
    let (c, ns, op, _, _kubelet) = setup(
        "kairos-uki-mismatch",
        ReleaseFixture::ubuntu_k3s(FROM).trusted(),
        boots_staged,
    )
    .await;
    // The Kairos image of the same system: it would install on a GRUB node, not on this one.
    let grub = ReleaseFixture::ubuntu_k3s(TO);
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let image = grub.upgrade_image();
    let st = upgrade(&c, &op, &ns, "grub-image", json!({"image": image})).await;
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Failed"),
        "{st:#?}"
    );
    let applied = st
        .conditions
        .iter()
        .find(|c| c.type_ == kairos_api::names::conditions::SPEC_APPLIED)
        .expect("SpecApplied");
    assert_eq!(applied.reason, "TrustedBootMismatch", "{st:#?}");
    assert!(
        applied.message.contains("node n1 boots trusted") && applied.message.contains(&image),
        "{}",
        applied.message
    );
    assert!(
        nodeops(&c, &ns)
            .get_opt("grub-image")
            .await
            .expect("read")
            .is_none(),
        "no NodeOp"
    );
    // Give the operator time to act wrongly, then check it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = rec.timeline();
    assert!(
        t.job_order.is_empty() && t.cordon_order.is_empty(),
        "{t:#?}"
    );
    assert!(engine_jobs(&c, &op.opts.namespace).await.is_empty());
    assert!(!unschedulable(&node(&c, "n1").await), "n1 cordoned");
    let kn = kairos_node(&c, "n1").await;
    assert!(reports(&kn, FROM, BootState::Active), "{:?}", kn.status);
}

#[tokio::test]
async fn kairos_trusted_boot_node_upgrade_by_spec_version_completes_verified() {
    let (c, _, op, to, _kubelet) = setup(
        "kairos-uki-node",
        ReleaseFixture::ubuntu_k3s(FROM).trusted(),
        boots_staged,
    )
    .await;
    let api: kube::Api<kairos_api::v1alpha1::KairosNode> = kube::Api::all(c.client());
    let state = |kn: &kairos_api::v1alpha1::KairosNode| {
        kn.status
            .as_ref()
            .and_then(|s| s.upgrade.as_ref())
            .map(|u| u.state)
    };
    // Without trustedBoot the derived image is the node's base image: refused, nothing started.
    let patch = |spec: serde_json::Value| kube::api::Patch::Merge(json!({ "spec": spec }));
    api.patch(
        "n1",
        &kube::api::PatchParams::default(),
        &patch(json!({"version": TO})),
    )
    .await
    .expect("patch");
    let refused = kairos_e2e::harness::wait_for(Duration::from_secs(20), || async {
        let kn = api.get("n1").await.ok()?;
        kn.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == kairos_api::names::conditions::UPGRADING)
            .filter(|c| c.reason == "TrustedBootMismatch")
            .map(|c| c.message.clone())
    })
    .await
    .unwrap_or_else(|e| panic!("no TrustedBootMismatch: {e}\n{}", op.logs(&c)));
    assert!(refused.contains("node n1 boots trusted"), "{refused}");
    assert!(engine_jobs(&c, &op.opts.namespace).await.is_empty());
    assert!(!unschedulable(&node(&c, "n1").await), "n1 cordoned");

    // The declared UKI image: upgraded by the host's own agent, verified booted active.
    api.patch(
        "n1",
        &kube::api::PatchParams::default(),
        &patch(json!({"image": to.upgrade_image(), "trustedBoot": true})),
    )
    .await
    .expect("patch");
    let kn = kairos_e2e::harness::wait_for(Duration::from_secs(60), || async {
        let kn = api.get("n1").await.ok()?;
        matches!(
            state(&kn),
            Some(
                kairos_api::v1alpha1::UpgradeState::Completed
                    | kairos_api::v1alpha1::UpgradeState::Failed
                    | kairos_api::v1alpha1::UpgradeState::RolledBack
            )
        )
        .then_some(kn)
    })
    .await
    .unwrap_or_else(|e| panic!("n1 did not finish: {e}\n{}", op.logs(&c)));
    assert_eq!(
        state(&kn),
        Some(kairos_api::v1alpha1::UpgradeState::Completed),
        "{:#?}",
        kn.status
    );
    assert!(reports(&kn, TO, BootState::Active), "{:?}", kn.status);
    let installed = kn
        .status
        .as_ref()
        .and_then(|s| s.upgrade.as_ref()?.image.clone());
    assert_eq!(installed, Some(to.upgrade_image()), "{:#?}", kn.status);
    assert!(!unschedulable(&node(&c, "n1").await), "n1 left cordoned");
}
