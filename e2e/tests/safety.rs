//! End to end: bad input never disrupts a node. A nonsense `KairosNode.spec.version` is refused
//! by the API server, a `NodeOpUpgrade` whose image names no version fails before anything
//! runs, a KairosNode made by hand (no agent reports for it) is never upgraded, one whose
//! Node does not exist is removed, and a NodeOp the operator cannot decode is left alone
//! without stopping anything else. Each test then checks that nothing was cordoned or run
//! where it must not be, and that a valid per-node upgrade of another node still completes.
//! Real `kairos-operator` and `kairos-node-agent`s against the API server; every assertion
//! reads objects through the API. Does API and process I/O.

mod common;
mod ops;

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kairos_api::names::{LABEL_KAIROSNODE, conditions};
use kairos_api::v1alpha1::{KairosNode, NodeOpUpgrade, UpgradeState};
use kairos_e2e::harness::{Cluster, ReleaseFixture, SimNode, wait_for};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use ops::*;

const FROM: &str = "v3.5.0";
const TO: &str = "v3.6.0";

/// Three reporting workers `n1..n3` on [`FROM`], the operator, a recorder and a kubelet that
/// upgrades to [`TO`].
async fn setup(test: &str) -> (Cluster, String, Operator, Recorder, impl Drop) {
    let (c, ns) = common::cluster(test).await;
    let nodes: Vec<(String, bool, &str)> =
        (1..=3).map(|i| (format!("n{i}"), false, FROM)).collect();
    let op = fleet_of(&c, &nodes).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let kubelet = c.kubelet().run_auto(upgrade_policy(TO));
    (c, ns, op, rec, kubelet)
}

fn kairos_nodes(c: &Cluster) -> Api<KairosNode> {
    Api::all(c.client())
}

fn condition<'a>(kn: &'a KairosNode, ty: &str) -> Option<&'a Condition> {
    kn.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == ty)
}

/// The `SpecApplied` condition among an operation's `conditions`.
fn spec_applied(conditions: &[Condition]) -> &Condition {
    conditions
        .iter()
        .find(|c| c.type_ == conditions::SPEC_APPLIED)
        .expect("SpecApplied")
}

/// Waits until `node`'s KairosNode has its `Upgrading` condition with `reason`.
async fn wait_upgrading(c: &Cluster, op: &Operator, node: &str, reason: &str) -> Condition {
    let r = wait_for(Duration::from_secs(20), || async {
        let kn = kairos_nodes(c).get(node).await.ok()?;
        let cond = condition(&kn, conditions::UPGRADING)?.clone();
        (cond.reason == reason).then_some(cond)
    })
    .await;
    r.unwrap_or_else(|e| panic!("no {reason} condition on {node}: {e}\n{}", op.logs(c)))
}

/// A NodeOp named `name` with `spec`, as `create_nodeop` takes it.
fn nodeop_named(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
        "metadata": {"name": name}, "spec": spec})
}

/// The per-node upgrade NodeOps of `node` in the operator's namespace.
async fn own_nodeops(c: &Cluster, op: &Operator, node: &str) -> usize {
    nodeops(c, &op.opts.namespace)
        .list(&ListParams::default().labels(&format!("{LABEL_KAIROSNODE}={node}")))
        .await
        .expect("list NodeOps")
        .items
        .len()
}

/// Asks node `node` for [`TO`] through its KairosNode and waits until it completes: the
/// operator keeps acting on valid requests.
async fn per_node_upgrade_completes(c: &Cluster, op: &Operator, node: &str) {
    kairos_nodes(c)
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": TO}})),
        )
        .await
        .expect("a valid version is accepted");
    let r = wait_for(Duration::from_secs(40), || async {
        let kn = kairos_nodes(c).get(node).await.ok()?;
        let state = kn.status.as_ref()?.upgrade.as_ref()?.state;
        matches!(
            state,
            UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack
        )
        .then_some(kn)
    })
    .await;
    let kn = r.unwrap_or_else(|e| panic!("{node} did not finish: {e}\n{}", op.logs(c)));
    let up = kn.status.as_ref().and_then(|s| s.upgrade.clone());
    assert_eq!(
        up.as_ref().map(|u| u.state),
        Some(UpgradeState::Completed),
        "{up:#?}"
    );
    assert!(reports(&kn, TO, kairos_api::v1alpha1::BootState::Active));
}

/// Only `upgraded` ever got a Job or our cordon, and no node is left cordoned.
async fn only_touched(c: &Cluster, rec: &Recorder, upgraded: &[&str]) {
    let t = rec.timeline();
    let jobs: Vec<&str> = t.jobs_per_node.keys().map(String::as_str).collect();
    assert_eq!(jobs, upgraded, "Jobs ran only where asked: {t:#?}");
    let mut cordoned = t.cordon_order.clone();
    cordoned.sort();
    assert_eq!(cordoned, upgraded, "cordoned only where asked: {t:#?}");
    for node in all_nodes(c).await {
        assert!(!unschedulable(&node), "{node:?} left cordoned");
    }
}

#[tokio::test]
async fn safety_nonsense_version_is_refused_at_apply() {
    let (c, _ns, op, rec, _kubelet) = setup("safety-version").await;
    for bad in ["banana", "latest", "", "v3.6", "3.6.0-k3s1"] {
        let r = kairos_nodes(&c)
            .patch(
                "n1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"version": bad}})),
            )
            .await;
        let (code, reason) = common::api_err(r);
        assert_eq!((code, reason.as_str()), (422, "Invalid"), "{bad:?}");
    }
    if let Some((ok, out)) = c
        .kubectl(&[
            "patch",
            "kn",
            "n1",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"version":"banana"}}"#,
        ])
        .await
    {
        assert!(!ok && out.contains("spec.version"), "{out}");
    }
    let kn = kairos_nodes(&c).get("n1").await.expect("n1");
    assert_eq!(kn.spec.version, None, "nothing was stored");
    // Give the operator time to act on anything it might have seen.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(own_nodeops(&c, &op, "n1").await, 0);

    per_node_upgrade_completes(&c, &op, "n2").await;
    only_touched(&c, &rec, &["n2"]).await;
}

#[tokio::test]
async fn safety_upgrade_without_a_version_is_refused_before_anything_runs() {
    let (c, ns, op, rec, _kubelet) = setup("safety-noversion").await;
    for (name, image) in [
        ("untagged", "quay.io/kairos/ubuntu"),
        ("nginx", "docker.io/library/nginx:1.27"),
    ] {
        create_upgrade(
            &c,
            &ns,
            name,
            json!({"image": image, "targetNodes": ["n1", "n3"], "concurrency": 1}),
        )
        .await;
        let u: NodeOpUpgrade = wait_upgrade(&c, &op, &ns, name, 20).await;
        let st = u.status.clone().expect("status");
        assert_eq!(
            phase_str(st.phase.as_ref()).as_deref(),
            Some("Failed"),
            "{st:#?}"
        );
        assert_eq!(st.node_op_name, None, "{st:#?}");
        let applied = spec_applied(&st.conditions);
        assert_eq!(
            (applied.status.as_str(), applied.reason.as_str()),
            ("False", "VersionUnknown"),
            "{st:#?}"
        );
        assert!(applied.message.contains(image), "{}", applied.message);
        let r = nodeops(&c, &ns).get_opt(name).await.expect("get NodeOp");
        assert!(r.is_none(), "no NodeOp for {name}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    per_node_upgrade_completes(&c, &op, "n2").await;
    only_touched(&c, &rec, &["n2"]).await;
}

#[tokio::test]
async fn safety_hand_made_kairosnode_is_never_upgraded() {
    let (c, _ns, op, rec, _kubelet) = setup("safety-handmade").await;
    // A Kairos node whose agent never runs, and a KairosNode for it made by hand, with an image
    // so that nothing but the missing report holds it.
    c.add_node(SimNode::worker("n9", ReleaseFixture::ubuntu_k3s(FROM)))
        .await
        .expect("node added");
    let kn: KairosNode = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": "n9"}, "spec": {"version": TO, "image": image(TO)},
    }))
    .expect("KairosNode");
    kairos_nodes(&c)
        .create(&PostParams::default(), &kn)
        .await
        .expect("KairosNode created");
    let cond = wait_upgrading(&c, &op, "n9", "NoAgentReport").await;
    assert_eq!(cond.status, "False");
    assert!(
        cond.message.contains("no agent reports for this node"),
        "{}",
        cond.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(own_nodeops(&c, &op, "n9").await, 0);
    let kn = kairos_nodes(&c).get("n9").await.expect("still there");
    assert!(condition(&kn, conditions::UPGRADING).is_some());

    per_node_upgrade_completes(&c, &op, "n2").await;
    assert_eq!(own_nodeops(&c, &op, "n9").await, 0);
    only_touched(&c, &rec, &["n2"]).await;
    let n9 = Api::<Node>::all(c.client()).get("n9").await.expect("n9");
    assert!(cordoned_by(&n9).is_none() && !unschedulable(&n9));
}

#[tokio::test]
async fn safety_kairosnode_without_node_is_removed() {
    let (c, _ns, op, rec, _kubelet) = setup("safety-ghost").await;
    let kn: KairosNode = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": "ghost"}, "spec": {"version": TO},
    }))
    .expect("KairosNode");
    kairos_nodes(&c)
        .create(&PostParams::default(), &kn)
        .await
        .expect("KairosNode created");
    let r = wait_for(Duration::from_secs(20), || async {
        let gone = kairos_nodes(&c).get_opt("ghost").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    r.unwrap_or_else(|e| panic!("KairosNode ghost was not removed: {e}\n{}", op.logs(&c)));
    assert_eq!(own_nodeops(&c, &op, "ghost").await, 0);

    // A hand-made KairosNode (no owner) of a Node that exists stays until the Node goes, and
    // then goes at once (not at its next periodic requeue).
    c.add_node(SimNode::worker("n9", ReleaseFixture::ubuntu_k3s(FROM)))
        .await
        .expect("node added");
    let kn: KairosNode = serde_json::from_value(json!({
        "apiVersion": "operator.kairos.io/v1alpha1", "kind": "KairosNode",
        "metadata": {"name": "n9"}, "spec": {},
    }))
    .expect("KairosNode");
    kairos_nodes(&c)
        .create(&PostParams::default(), &kn)
        .await
        .expect("KairosNode created");
    tokio::time::sleep(Duration::from_secs(1)).await;
    kairos_nodes(&c)
        .get("n9")
        .await
        .expect("kept while its Node exists");
    nodes_api(&c)
        .delete("n9", &Default::default())
        .await
        .expect("Node deleted");
    let r = wait_for(Duration::from_secs(10), || async {
        let gone = kairos_nodes(&c).get_opt("n9").await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    r.unwrap_or_else(|e| panic!("KairosNode n9 outlived its Node: {e}\n{}", op.logs(&c)));
    // KairosNodes of existing nodes stay.
    for n in ["n1", "n2", "n3"] {
        kairos_nodes(&c).get(n).await.expect("KairosNode kept");
    }

    per_node_upgrade_completes(&c, &op, "n2").await;
    only_touched(&c, &rec, &["n2"]).await;
}

/// The NodeOp CRD with `spec.concurrency` as loose as an older schema: any integer.
async fn loosen_nodeop_concurrency(c: &Cluster) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(c.client());
    let crd = crds
        .get("nodeops.operator.kairos.io")
        .await
        .expect("the NodeOp CRD");
    let mut v = serde_json::to_value(&crd).expect("CRD as JSON");
    for version in v["spec"]["versions"].as_array_mut().expect("versions") {
        version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["concurrency"] =
            json!({"type": "integer"});
    }
    let loose: CustomResourceDefinition = serde_json::from_value(v).expect("a CRD");
    crds.replace("nodeops.operator.kairos.io", &PostParams::default(), &loose)
        .await
        .expect("the looser CRD");
}

#[tokio::test]
async fn safety_an_object_the_operator_cannot_read_blocks_nothing() {
    let (c, ns, op, rec, _kubelet) = setup("safety-decode").await;
    // A NodeOp stored while the schema let any integer through (a CRD from before its bounds,
    // as after an upgrade of the operator): its concurrency does not fit the operator's type.
    loosen_nodeop_concurrency(&c).await;
    let bad = json!({
        "command": ["sh", "-c", "true"],
        "targetNodes": ["n1"],
        "cordon": true,
        "concurrency": 99_999_999_999u64,
    });
    let created = wait_for(Duration::from_secs(10), || async {
        let body = json!({
            "apiVersion": "operator.kairos.io/v1alpha1", "kind": "NodeOp",
            "metadata": {"name": "bad", "namespace": ns},
            "spec": bad,
        });
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            c.client(),
            &ns,
            &kube::api::ApiResource::erase::<kairos_api::NodeOp>(&()),
        );
        let obj = serde_json::from_value(body).ok()?;
        api.create(&PostParams::default(), &obj).await.ok()
    })
    .await;
    created.expect("stored under the looser schema");
    c.install_crds(&kairos_kube_sim::default_crd_dir())
        .await
        .expect("the CRDs as shipped again");

    // Live and after a restart, the operator goes on with everything else.
    let valid = |name: &str, node: &str| {
        let spec = json!({"command": ["sh", "-c", "true"], "targetNodes": [node], "cordon": true,
            "rebootOnSuccess": false});
        nodeop_named(name, spec)
    };
    create_nodeop(&c, &ns, valid("good", "n2")).await;
    wait_completed(&c, &op, &ns, "good", 30).await;
    let op = op.restart(&c).await;
    create_nodeop(&c, &ns, valid("again", "n3")).await;
    wait_completed(&c, &op, &ns, "again", 30).await;

    // The bad one was never acted on, and the operator says which object and why.
    only_touched(&c, &rec, &["n2", "n3"]).await;
    let logs = op.logs(&c);
    assert!(
        logs.contains("cannot decode this object") && logs.contains(&format!("{ns}/bad")),
        "{logs}"
    );
    let metrics = kairos_e2e::harness::fleet::http_get(
        format!("127.0.0.1:{}", op.admin).parse().expect("address"),
        "/metrics",
    )
    .await
    .expect("metrics");
    let value = kairos_e2e::harness::fleet::metric_value(
        &metrics.1,
        "kairos_undecodable_objects{kind=\"NodeOp\"}",
    );
    assert_eq!(value, Some(1.0), "{}", metrics.1);
}

#[tokio::test]
async fn safety_an_image_that_does_not_fit_the_node_is_refused_before_anything_runs() {
    let (c, ns, op, rec, _kubelet) = setup("safety-fit").await;
    // The nodes run Ubuntu with k3s; these images install Alpine with k0s, and a core system.
    let alpine = "quay.io/kairos/alpine:3.21-standard-amd64-generic-v3.6.0-k0sv1.33.1-k0s.0";
    create_upgrade(
        &c,
        &ns,
        "alpine",
        json!({"image": alpine, "targetNodes": ["n1", "n3"], "concurrency": 1}),
    )
    .await;
    let u: NodeOpUpgrade = wait_upgrade(&c, &op, &ns, "alpine", 20).await;
    let st = u.status.clone().expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Failed"),
        "{st:#?}"
    );
    let applied = spec_applied(&st.conditions);
    assert_eq!(applied.reason, "ImageMismatch", "{st:#?}");
    for side in [
        "flavor: image alpine, node ubuntu",
        "image k0s, node k3s",
        "n1 (",
        "n3 (",
    ] {
        assert!(
            applied.message.contains(side),
            "{side}: {}",
            applied.message
        );
    }
    assert!(
        nodeops(&c, &ns)
            .get_opt("alpine")
            .await
            .expect("get")
            .is_none()
    );

    let core = "quay.io/kairos/ubuntu:24.04-core-amd64-generic-v3.6.0";
    kairos_nodes(&c)
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": TO, "image": core}})),
        )
        .await
        .expect("patched");
    let cond = wait_upgrading(&c, &op, "n1", "ImageMismatch").await;
    assert!(
        cond.message
            .contains("Kubernetes distribution: image none, node k3s"),
        "{}",
        cond.message
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(own_nodeops(&c, &op, "n1").await, 0);

    per_node_upgrade_completes(&c, &op, "n2").await;
    only_touched(&c, &rec, &["n2"]).await;
}

#[tokio::test]
async fn safety_editing_the_targets_of_a_running_nodeop_is_reported_not_applied() {
    let (c, ns, op, rec, _kubelet) = setup("safety-edit").await;
    let spec = json!({"command": ["sh", "-c", "true"], "targetNodes": ["n1"], "cordon": true,
        "rebootOnSuccess": false, "paused": true});
    create_nodeop(&c, &ns, nodeop_named("edited", spec)).await;
    // The targets are fixed at start, paused or not.
    wait_for(Duration::from_secs(20), || async {
        let o = nodeops(&c, &ns).get("edited").await.ok()?;
        (o.status?.total == 1).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("targets not fixed: {e}\n{}", op.logs(&c)));
    nodeops(&c, &ns)
        .patch(
            "edited",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"targetNodes": ["n1", "n3"], "paused": false}})),
        )
        .await
        .expect("the edit is accepted");
    let done = wait_completed(&c, &op, &ns, "edited", 30).await;
    let st = done.status.expect("status");
    let applied = spec_applied(&st.conditions);
    assert_eq!(
        (applied.status.as_str(), applied.reason.as_str()),
        ("False", "TargetsFixed"),
        "{st:#?}"
    );
    assert!(
        applied.message.contains("targetNodes"),
        "{}",
        applied.message
    );
    assert_eq!(st.total, 1, "{st:#?}");
    // `paused` applied; the new target did not.
    only_touched(&c, &rec, &["n1"]).await;
}

#[tokio::test]
async fn safety_a_job_whose_image_cannot_be_pulled_fails_its_node_at_once() {
    use kairos_e2e::harness::{AutoAction, RebootChange};
    let (c, ns, op, _rec, kubelet) = setup("safety-pull").await;
    drop(kubelet);
    // A kubelet that cannot pull images from registry.invalid, as a real one reports it.
    let _kubelet = c.kubelet().run_auto(node_policy(
        Duration::from_millis(300),
        |job, _, _| {
            let image = kairos_e2e::harness::job_image(job)?;
            image.starts_with("registry.invalid/").then(|| {
                AutoAction::CannotStart(
                    "ErrImagePull".into(),
                    format!("failed to pull and unpack image \"{image}\": not found"),
                )
            })
        },
        |_| RebootChange::default(),
    ));
    let spec = json!({"image": "registry.invalid/nope:1", "command": ["sh", "-c", "true"],
        "targetNodes": ["n1"], "cordon": true, "rebootOnSuccess": false,
        "uncordonOnFailure": true});
    create_nodeop(&c, &ns, nodeop_named("pull", spec)).await;
    // Failed within seconds (the Job timeout is an hour), with the kubelet's reason.
    let done = wait_phase(&c, &ns, "pull", &["Failed"], 30).await;
    let phases = node_phases(&done);
    let (phase, message) = phases.get("n1").expect("n1 listed");
    assert_eq!(phase, "Failed", "{phases:?}");
    assert!(
        message.contains("cannot start on node n1: ErrImagePull: failed to pull"),
        "{message}"
    );
    // Its Job is gone (nothing keeps pulling), and the node is not left cordoned.
    let jobs = wait_for(Duration::from_secs(10), || async {
        let jobs = engine_jobs(&c, &op.opts.namespace).await;
        jobs.is_empty().then_some(())
    })
    .await;
    jobs.unwrap_or_else(|e| panic!("the Job was not deleted: {e}\n{}", op.logs(&c)));
    for node in all_nodes(&c).await {
        assert!(!unschedulable(&node), "{node:?} left cordoned");
    }
}

#[tokio::test]
async fn safety_pause_holds_a_node_whose_preflight_already_ran() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use kairos_e2e::harness::{AutoAction, AutoEvent};
    let (c, _ns, op, rec, kubelet) = setup("safety-pause").await;
    drop(kubelet);
    // The preflight pods wait until released; everything else as in `setup`.
    let released = Arc::new(AtomicBool::new(false));
    let upgrade = upgrade_policy(TO);
    let gate = released.clone();
    let _kubelet = c
        .kubelet()
        .run_auto(Arc::new(move |ev: &AutoEvent<'_>| match ev {
            AutoEvent::Pod {
                role: Some("preflight"),
                ..
            } if !gate.load(Ordering::SeqCst) => AutoAction::Ignore,
            _ => upgrade(ev),
        }));
    kairos_nodes(&c)
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": TO}})),
        )
        .await
        .expect("patched");
    let preflight = wait_for(Duration::from_secs(20), || async {
        let pods = c.kubelet().pods_on_node("n1").await.ok()?;
        pods.into_iter().find(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(kairos_api::names::LABEL_ROLE))
                .is_some_and(|r| r == "preflight")
        })
    })
    .await;
    preflight.unwrap_or_else(|e| panic!("no preflight pod: {e}\n{}", op.logs(&c)));
    // Paused while its preflight runs; the pause reaches the node's NodeOp.
    kairos_nodes(&c)
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await
        .expect("paused");
    wait_for(Duration::from_secs(20), || async {
        let ops = nodeops(&c, &op.opts.namespace)
            .list(&ListParams::default().labels(&format!("{LABEL_KAIROSNODE}=n1")))
            .await
            .ok()?;
        ops.items
            .iter()
            .any(|o| o.spec.paused == Some(true))
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("the pause did not reach the NodeOp: {e}\n{}", op.logs(&c)));
    released.store(true, Ordering::SeqCst);
    // The preflight passes; nothing disruptive follows while paused.
    let passed = wait_for(Duration::from_secs(20), || async {
        let targets: Api<kairos_api::NodeOpTarget> =
            Api::namespaced(c.client(), &op.opts.namespace);
        let list = targets.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find_map(|t| {
            let msg = t.status?.message?;
            (t.spec.node == "n1" && msg.contains("passed; paused")).then_some(msg)
        })
    })
    .await;
    passed.unwrap_or_else(|e| panic!("the preflight did not pass: {e}\n{}", op.logs(&c)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = rec.timeline();
    assert!(t.jobs_per_node.is_empty(), "no Job while paused: {t:#?}");
    assert!(t.cordon_order.is_empty(), "no cordon while paused: {t:#?}");
    assert!(!unschedulable(&nodes_api(&c).get("n1").await.expect("n1")));

    // Resumed, it completes.
    kairos_nodes(&c)
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": false}})),
        )
        .await
        .expect("resumed");
    let r = wait_for(Duration::from_secs(40), || async {
        let kn = kairos_nodes(&c).get("n1").await.ok()?;
        let state = kn.status.as_ref()?.upgrade.as_ref()?.state;
        (state == UpgradeState::Completed).then_some(())
    })
    .await;
    r.unwrap_or_else(|e| panic!("n1 did not complete once resumed: {e}\n{}", op.logs(&c)));
    only_touched(&c, &rec, &["n1"]).await;
}

fn nodes_api(c: &Cluster) -> Api<Node> {
    Api::all(c.client())
}

#[tokio::test]
async fn safety_an_upgrade_image_that_cannot_be_pulled_fails_before_the_cordon() {
    use kairos_e2e::harness::{AutoAction, AutoEvent};
    use std::sync::Arc;
    let (c, ns, op, rec, kubelet) = setup("safety-prepull").await;
    drop(kubelet);
    // A kubelet that cannot pull from registry.invalid; otherwise as in `setup`.
    let upgrade = upgrade_policy(TO);
    let _kubelet = c.kubelet().run_auto(Arc::new(move |ev: &AutoEvent<'_>| {
        let image = match ev {
            AutoEvent::Pod { pod, .. } => pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.clone()),
            AutoEvent::Job { job, .. } => kairos_e2e::harness::job_image(job),
        };
        match image.filter(|i| i.starts_with("registry.invalid/")) {
            Some(i) => AutoAction::CannotStart(
                "ErrImagePull".into(),
                format!("failed to pull and unpack image \"{i}\": not found"),
            ),
            None => upgrade(ev),
        }
    }));
    // Forced, so no node could be skipped up front: the preflight still pulls the image first.
    let missing = image(TO).replace("quay.io/", "registry.invalid/");
    create_upgrade(
        &c,
        &ns,
        "missing",
        json!({"image": missing, "targetNodes": ["n1"], "force": true}),
    )
    .await;
    let done = wait_phase(&c, &ns, "missing", &["Failed"], 30).await;
    let phases = node_phases(&done);
    let (phase, message) = phases.get("n1").expect("n1 listed");
    assert_eq!(phase, "Failed", "{phases:?}");
    assert!(
        message.contains("cannot start on node n1: ErrImagePull")
            && message.contains("nothing was cordoned"),
        "{message}"
    );
    let t = rec.timeline();
    assert!(t.cordon_order.is_empty(), "nothing cordoned: {t:#?}");
    assert!(t.jobs_per_node.is_empty(), "no Job: {t:#?}");

    per_node_upgrade_completes(&c, &op, "n2").await;
    only_touched(&c, &rec, &["n2"]).await;
}
