//! End to end: Kairos upgrades (issue 6) with the real `kairos-operator` and real
//! `kairos-node-agent`s against the API server (the simulator in CI). The kubelet stand-in runs
//! the upgrade Jobs and reboot pods; a reboot rewrites the node's release files and boot ID and
//! restarts its agent, whose report decides the result. Every assertion reads objects through
//! the API, so the tests hold on a real kube-apiserver too.

mod common;
mod ops;

use std::collections::BTreeMap;
use std::time::Duration;

use kairos_api::v1alpha1::{BootState, KairosNode, NodeOpUpgrade, UpgradeState};
use kairos_e2e::harness::{BootMode, Cluster, RebootChange, ReleaseFixture, SimNode, wait_for};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use ops::*;

const FROM: &str = "v3.5.0";

/// Adds `n1..=n<count>` on [`FROM`] (the names in `cp` are control plane), starts the operator
/// and every node's agent, and waits until each KairosNode reports [`FROM`] booted active.
async fn fleet(c: &Cluster, count: usize, cp: &[&str]) -> Operator {
    let nodes: Vec<(String, bool, &str)> = (1..=count)
        .map(|i| {
            let name = format!("n{i}");
            let is_cp = cp.contains(&name.as_str());
            (name, is_cp, FROM)
        })
        .collect();
    fleet_of(c, &nodes).await
}

fn upgrade_state(kn: &KairosNode) -> Option<UpgradeState> {
    kn.status.as_ref()?.upgrade.as_ref().map(|u| u.state)
}

#[tokio::test]
async fn upgrade_fleet_six_nodes() {
    let (c, ns) = common::cluster("upgrade-fleet").await;
    let cp = ["n2", "n4", "n6"];
    let op = fleet(&c, 6, &cp).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.0"));
    let target = image("v3.6.0");
    create_upgrade(
        &c,
        &ns,
        "to-360",
        json!({"image": target, "concurrency": 2, "upgradeActive": true, "stopOnFailure": true}),
    )
    .await;
    let done = wait_upgrade(&c, &op, &ns, "to-360", 55).await;
    let st = done.status.clone().expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    assert_eq!((st.total, st.completed, st.failed), (6, 6, 0), "{st:#?}");

    // Control plane first, one at a time; then workers, never more than 2 at a time.
    let t = rec.timeline();
    assert_eq!(&t.job_order[..3], cp, "{t:#?}");
    assert_eq!(t.job_order.len(), 6, "{t:#?}");
    assert_eq!(t.max_in_flight, 2, "{t:#?}");
    assert!(t.jobs_per_node.values().all(|j| j.len() == 1), "{t:#?}");
    let times = &st.node_statuses;
    let cp_done = cp
        .iter()
        .map(|n| times[*n].finished_at.clone().expect("finishedAt").0)
        .max()
        .expect("cp");
    for w in ["n1", "n3", "n5"] {
        let started = times[w].started_at.clone().expect("startedAt").0;
        assert!(
            started >= cp_done,
            "worker {w} started before the control plane finished"
        );
    }
    for pair in cp.windows(2) {
        let prev = times[pair[0]].finished_at.clone().expect("finishedAt").0;
        let next = times[pair[1]].started_at.clone().expect("startedAt").0;
        assert!(
            next >= prev,
            "{} started before {} finished",
            pair[1],
            pair[0]
        );
    }

    // Every Job ran the target image; every node reports v3.6.0 booted active after one reboot,
    // its agent restarted, uncordoned, KairosNode upgrade Completed.
    let jobs = engine_jobs(&c, &op.opts.namespace).await;
    assert_eq!(jobs.len(), 6);
    for j in &jobs {
        let image = j
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        assert_eq!(image.as_deref(), Some(target.as_str()), "{}", j.name_any());
    }
    for i in 1..=6 {
        let name = format!("n{i}");
        let h = c.node(&name).expect("sim node");
        assert_eq!(h.boots(), 2, "{name} rebooted once");
        assert!(h.agent_running(), "{name}'s agent runs after the reboot");
        let kn = kairos_node(&c, &name).await;
        assert!(
            reports(&kn, "v3.6.0", BootState::Active),
            "{name}: {:?}",
            kn.status
        );
        let s = kn.status.clone().expect("status");
        assert_eq!(s.boot_id.as_deref(), Some(h.boot_id().as_str()), "{name}");
        assert_eq!(
            upgrade_state(&kn),
            Some(UpgradeState::Completed),
            "{name}: {:#?}",
            s.upgrade
        );
        let n = node(&c, &name).await;
        assert!(
            !unschedulable(&n) && cordoned_by(&n).is_none(),
            "{name} uncordoned"
        );
    }

    // `kubectl get kairosnodes` shows them on v3.6.0, Completed, booted active.
    match c.kubectl(&["get", "kairosnodes"]).await {
        None => println!("kubectl not installed: skipping the kubectl view"),
        Some((ok, out)) => {
            assert!(ok, "{out}");
            let table = common::kubectl_rows(&out);
            for i in 1..=6 {
                let name = format!("n{i}");
                let row = table
                    .iter()
                    .find(|r| r.get("NAME") == Some(&name))
                    .unwrap_or_else(|| panic!("{name} missing:\n{out}"));
                assert_eq!(row["VERSION"], "v3.6.0", "{out}");
                assert_eq!(row["STATE"], "Completed", "{out}");
                assert_eq!(row["BOOT"], "active", "{out}");
                assert_eq!(row["DESIRED"], "", "{out}");
            }
        }
    }
}

#[tokio::test]
async fn upgrade_kairosnode_patch_one_node() {
    let (c, _ns) = common::cluster("upgrade-patch").await;
    let op = fleet(&c, 4, &["n1"]).await;
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.1"));
    let api: Api<KairosNode> = Api::all(c.client());
    // Follow n4's status.upgrade.state through the API while it runs.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<UpgradeState>::new()));
    let watcher = {
        let (api, seen) = (api.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                if let Ok(kn) = api.get("n4").await {
                    let s = upgrade_state(&kn).unwrap_or_default();
                    let mut v = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if v.last() != Some(&s) {
                        v.push(s);
                    }
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    // `kubectl patch kairosnode n4 --type merge -p '{"spec":{"version":"v3.6.1"}}'` (the same
    // merge patch through the API when kubectl is not installed).
    let patch = r#"{"spec":{"version":"v3.6.1"}}"#;
    match c
        .kubectl(&["patch", "kairosnode", "n4", "--type", "merge", "-p", patch])
        .await
    {
        Some((ok, out)) => assert!(
            ok && out.contains("kairosnode.operator.kairos.io/n4 patched"),
            "{out}"
        ),
        None => {
            let v: serde_json::Value = serde_json::from_str(patch).expect("json");
            api.patch("n4", &PatchParams::default(), &Patch::Merge(v))
                .await
                .expect("patch");
        }
    }
    let r = wait_for(Duration::from_secs(40), || async {
        let kn = api.get("n4").await.ok()?;
        matches!(
            upgrade_state(&kn),
            Some(UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack)
        )
        .then_some(kn)
    })
    .await;
    let kn = r.unwrap_or_else(|e| panic!("n4 did not finish: {e}\n{}", op.logs(&c)));
    watcher.abort();
    let up = kn
        .status
        .as_ref()
        .and_then(|s| s.upgrade.clone())
        .expect("upgrade");
    assert_eq!(
        up.state,
        UpgradeState::Completed,
        "{up:#?}\n{}",
        op.logs(&c)
    );
    assert_eq!(up.target_version.as_deref(), Some("v3.6.1"), "{up:#?}");
    // No spec.image: derived from the reported image repo and label.
    assert_eq!(
        up.image.as_deref(),
        Some(image("v3.6.1").as_str()),
        "{up:#?}"
    );
    assert_eq!(up.attempts, 1, "{up:#?}");
    assert!(
        up.started_at.is_some() && up.finished_at.is_some(),
        "{up:#?}"
    );
    assert!(reports(&kn, "v3.6.1", BootState::Active), "{:?}", kn.status);
    let conds = &kn.status.as_ref().expect("status").conditions;
    let cond = |t: &str| {
        conds
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| c.status.clone())
    };
    assert_eq!(cond("UpToDate").as_deref(), Some("True"), "{conds:#?}");
    assert_eq!(cond("Upgrading").as_deref(), Some("False"), "{conds:#?}");

    // The states walked forward: InProgress, Rebooting, Completed, in that order.
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if seen.last() != Some(&up.state) {
        // The final read above may have come before the follower's next poll.
        seen.push(up.state);
    }
    let rank = |s: &UpgradeState| match s {
        UpgradeState::Idle => 0,
        UpgradeState::Pending => 1,
        UpgradeState::InProgress => 2,
        UpgradeState::Rebooting => 3,
        _ => 4,
    };
    assert!(
        seen.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
        "{seen:?}"
    );
    for s in [
        UpgradeState::InProgress,
        UpgradeState::Rebooting,
        UpgradeState::Completed,
    ] {
        assert!(seen.contains(&s), "{s:?} never seen: {seen:?}");
    }

    // Only n4 was touched.
    let jobs = engine_jobs(&c, &op.opts.namespace).await;
    let nodes: Vec<String> = jobs
        .iter()
        .filter_map(|j| j.labels().get("operator.kairos.io/node").cloned())
        .collect();
    assert_eq!(nodes, ["n4"]);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(c.node(n).expect("sim node").boots(), 1, "{n} rebooted");
        let kn = kairos_node(&c, n).await;
        assert!(reports(&kn, FROM, BootState::Active), "{n}");
        assert!(!unschedulable(&node(&c, n).await), "{n} cordoned");
    }
    assert!(!unschedulable(&node(&c, "n4").await), "n4 left cordoned");
}

#[tokio::test]
async fn upgrade_rollback_stops_fleet() {
    let (c, ns) = common::cluster("upgrade-rollback").await;
    // n3 is the only control-plane node, so it goes first; it comes back on the passive slot
    // (the fallback, still v3.5.0).
    let op = fleet(&c, 4, &["n3"]).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let policy = node_policy(
        Duration::from_millis(200),
        |_, _, _| None,
        |n| {
            if n.name() == "n3" {
                RebootChange {
                    release: None,
                    boot_mode: Some(BootMode::Passive),
                }
            } else {
                RebootChange {
                    release: Some(n.release().with_version("v3.6.0")),
                    boot_mode: None,
                }
            }
        },
    );
    let _kubelet = c.kubelet().run_auto(policy);
    create_upgrade(
        &c,
        &ns,
        "canary",
        json!({"image": image("v3.6.0"), "concurrency": 1, "upgradeActive": true, "stopOnFailure": true}),
    )
    .await;
    let done = wait_upgrade(&c, &op, &ns, "canary", 45).await;
    let st = done.status.clone().expect("status");
    let phases: BTreeMap<String, String> = st
        .node_statuses
        .iter()
        .map(|(n, s)| (n.clone(), phase_str(Some(&s.phase)).unwrap_or_default()))
        .collect();
    assert_eq!(phases["n3"], "RolledBack", "{st:#?}");
    for n in ["n1", "n2", "n4"] {
        assert_eq!(phases[n], "Stopped", "{st:#?}");
    }
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Stopped"),
        "{st:#?}"
    );
    let t = rec.timeline();
    assert_eq!(t.job_order, ["n3"], "nothing else started: {t:#?}");
    assert_eq!(t.cordon_order, ["n3"], "{t:#?}");

    let kn = kairos_node(&c, "n3").await;
    assert!(reports(&kn, FROM, BootState::Passive), "{:?}", kn.status);
    assert_eq!(
        upgrade_state(&kn),
        Some(UpgradeState::RolledBack),
        "{:#?}",
        kn.status
    );
    let n3 = node(&c, "n3").await;
    assert!(
        unschedulable(&n3) && cordoned_by(&n3).is_some(),
        "n3 stays cordoned"
    );
    for n in ["n1", "n2", "n4"] {
        assert_eq!(c.node(n).expect("sim node").boots(), 1, "{n} rebooted");
        assert!(!unschedulable(&node(&c, n).await), "{n} cordoned");
        assert!(
            reports(&kairos_node(&c, n).await, FROM, BootState::Active),
            "{n}"
        );
    }
}

#[tokio::test]
async fn upgrade_fleet_skips_up_to_date_and_pinned_nodes() {
    let (c, ns) = common::cluster("upgrade-skips").await;
    let nodes = [
        ("n1".to_owned(), false, "v3.6.0"),
        ("n2".to_owned(), false, FROM),
        ("n3".to_owned(), false, FROM),
        ("n4".to_owned(), false, FROM),
    ];
    let op = fleet_of(&c, &nodes).await;
    // The admin pinned n2 to the version it runs: the fleet must not upgrade it behind their back.
    Api::<KairosNode>::all(c.client())
        .patch(
            "n2",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": FROM}})),
        )
        .await
        .expect("pin n2");
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.0"));
    create_upgrade(
        &c,
        &ns,
        "to-360",
        json!({"image": image("v3.6.0"), "concurrency": 0, "upgradeActive": true}),
    )
    .await;
    let done = wait_upgrade(&c, &op, &ns, "to-360", 45).await;
    let st = done.status.clone().expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    let entry = |n: &str| {
        let s = &st.node_statuses[n];
        (
            phase_str(Some(&s.phase)).unwrap_or_default(),
            s.message.clone().unwrap_or_default(),
        )
    };
    let (p1, m1) = entry("n1");
    assert_eq!(p1, "Skipped", "{st:#?}");
    assert!(m1.contains("already runs v3.6.0"), "{m1}");
    let (p2, m2) = entry("n2");
    assert_eq!(p2, "Skipped", "{st:#?}");
    assert!(m2.contains("pinned"), "{m2}");
    for n in ["n3", "n4"] {
        assert_eq!(entry(n).0, "Completed", "{st:#?}");
        assert!(
            reports(&kairos_node(&c, n).await, "v3.6.0", BootState::Active),
            "{n}"
        );
    }
    // Only n3 and n4 ran a Job or rebooted; the skipped nodes were never cordoned.
    let t = rec.timeline();
    let mut ran = t.job_order.clone();
    ran.sort();
    assert_eq!(ran, ["n3", "n4"], "{t:#?}");
    assert!(
        !t.cordon_order.iter().any(|n| n == "n1" || n == "n2"),
        "{t:#?}"
    );
    for n in ["n1", "n2"] {
        assert_eq!(c.node(n).expect("sim node").boots(), 1, "{n} rebooted");
    }
    assert!(reports(
        &kairos_node(&c, "n2").await,
        FROM,
        BootState::Active
    ));
}

#[tokio::test]
async fn upgrade_no_report_after_reboot_fails() {
    let (c, _ns) = common::cluster("upgrade-silent").await;
    let mut opts = OperatorOpts::new();
    opts.reboot_timeout = "4s";
    let op = start_operator(&c, &opts).await;
    let h = c
        .add_node(SimNode::worker("n1", ReleaseFixture::ubuntu_k3s(FROM)))
        .await
        .expect("node");
    start_agent(&c, &op, &h).await;
    let api: Api<KairosNode> = Api::all(c.client());
    wait_for(Duration::from_secs(30), || async {
        reports(&api.get("n1").await.ok()?, FROM, BootState::Active).then_some(())
    })
    .await
    .expect("agent reports");
    // The node reboots into v3.6.0 but its agent never comes back: no report confirms it.
    h.stop_agent().await;
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.0"));
    api.patch(
        "n1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"version": "v3.6.0"}})),
    )
    .await
    .expect("patch");
    let r = wait_for(Duration::from_secs(40), || async {
        let kn = api.get("n1").await.ok()?;
        matches!(
            upgrade_state(&kn),
            Some(UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack)
        )
        .then_some(kn)
    })
    .await;
    let kn = r.unwrap_or_else(|e| panic!("n1 did not finish: {e}\n{}", op.logs(&c)));
    let up = kn
        .status
        .as_ref()
        .and_then(|s| s.upgrade.clone())
        .expect("upgrade");
    assert_eq!(up.state, UpgradeState::Failed, "{up:#?}");
    // The node did reboot (the kubelet shows it); its agent never reported the new boot.
    let msg = up.message.clone().unwrap_or_default();
    assert!(msg.contains("agent did not report it"), "{msg}");
    assert_eq!(h.boots(), 2, "the node did reboot");
    // The last report is still the old one; the node stays cordoned for a person to look at.
    assert!(reports(&kn, FROM, BootState::Active), "{:?}", kn.status);
    let n = node(&c, "n1").await;
    assert!(
        unschedulable(&n) && cordoned_by(&n).is_some(),
        "n1 stays cordoned"
    );
    let conds = &kn.status.as_ref().expect("status").conditions;
    let up_to_date = conds.iter().find(|c| c.type_ == "UpToDate");
    assert_eq!(
        up_to_date.map(|c| c.status.as_str()),
        Some("False"),
        "{conds:#?}"
    );
}

#[tokio::test]
async fn upgrade_fleet_survives_operator_restarts() {
    use rand::Rng as _;
    let (c, ns) = common::cluster("upgrade-restarts").await;
    let mut op = fleet(&c, 4, &["n1"]).await;
    let rec = Recorder::start(c.client(), &op.opts.namespace);
    let _kubelet = c.kubelet().run_auto(node_policy(
        Duration::from_millis(500),
        |_, _, _| None,
        |n| RebootChange {
            release: Some(n.release().with_version("v3.6.0")),
            boot_mode: None,
        },
    ));
    create_upgrade(
        &c,
        &ns,
        "to-360",
        json!({"image": image("v3.6.0"), "concurrency": 2, "upgradeActive": true}),
    )
    .await;
    let api: Api<NodeOpUpgrade> = Api::namespaced(c.client(), &ns);
    let mut restarts = 0;
    while restarts < 5 {
        let delay = rand::rng().random_range(300..1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let u = api.get("to-360").await.expect("get");
        let p = u.status.as_ref().and_then(|s| phase_str(s.phase.as_ref()));
        if matches!(p.as_deref(), Some("Completed" | "Failed" | "Stopped")) {
            break;
        }
        op = op.restart(&c).await;
        restarts += 1;
    }
    assert!(restarts >= 3, "only {restarts} restarts before the end");
    let done = wait_upgrade(&c, &op, &ns, "to-360", 50).await;
    let st = done.status.clone().expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    let t = rec.timeline();
    assert_eq!(t.jobs_per_node.len(), 4, "{t:#?}");
    assert!(t.jobs_per_node.values().all(|j| j.len() == 1), "{t:#?}");
    assert_eq!(t.job_order[0], "n1", "{t:#?}");
    assert!(t.max_in_flight <= 2, "{t:#?}");
    for i in 1..=4 {
        let name = format!("n{i}");
        assert_eq!(
            c.node(&name).expect("sim node").boots(),
            2,
            "{name} rebooted once"
        );
        let kn = kairos_node(&c, &name).await;
        assert!(
            reports(&kn, "v3.6.0", BootState::Active),
            "{name}: {:?}",
            kn.status
        );
        assert_eq!(upgrade_state(&kn), Some(UpgradeState::Completed), "{name}");
        assert!(!unschedulable(&node(&c, &name).await), "{name} cordoned");
    }
}

#[tokio::test]
async fn upgrade_spec_edits_reach_the_nodeop_or_are_refused() {
    let (c, ns) = common::cluster("upgrade-edits").await;
    let op = fleet(&c, 3, &[]).await;
    // Jobs wait until the test lets them run.
    let go = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = go.clone();
    let _kubelet = c.kubelet().run_auto(node_policy(
        Duration::ZERO,
        move |_, _, _| {
            (!gate.load(std::sync::atomic::Ordering::SeqCst))
                .then_some(kairos_e2e::harness::AutoAction::Ignore)
        },
        |n| RebootChange {
            release: Some(n.release().with_version("v3.6.0")),
            boot_mode: None,
        },
    ));
    create_upgrade(
        &c,
        &ns,
        "edits",
        json!({"image": image("v3.6.0"), "concurrency": 1, "upgradeActive": true}),
    )
    .await;
    let ups: Api<NodeOpUpgrade> = Api::namespaced(c.client(), &ns);
    let nop_name = wait_for(Duration::from_secs(20), || async {
        ups.get("edits").await.ok()?.status?.node_op_name
    })
    .await
    .unwrap_or_else(|e| panic!("no NodeOp: {e}\n{}", op.logs(&c)));
    let nops = nodeops(&c, &ns);
    let concurrency = |n: kairos_api::NodeOp| n.spec.concurrency;
    assert_eq!(nops.get(&nop_name).await.map(concurrency).ok(), Some(1));

    // An edit the NodeOp can take reaches it.
    ups.patch(
        "edits",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"concurrency": 3}})),
    )
    .await
    .expect("patch");
    wait_for(Duration::from_secs(20), || async {
        (nops.get(&nop_name).await.ok()?.spec.concurrency == 3).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("concurrency never reached the NodeOp: {e}\n{}", op.logs(&c)));

    // An edit of the fixed target list is refused, visibly.
    ups.patch(
        "edits",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"targetNodes": ["n1"]}})),
    )
    .await
    .expect("patch");
    let cond = wait_for(Duration::from_secs(20), || async {
        let u = ups.get("edits").await.ok()?;
        let generation = u.metadata.generation;
        let st = u.status?;
        let c = st
            .conditions
            .iter()
            .find(|c| c.type_ == "SpecApplied")?
            .clone();
        (c.status == "False" && c.observed_generation == generation).then_some(c)
    })
    .await
    .unwrap_or_else(|e| panic!("no SpecApplied=False: {e}\n{}", op.logs(&c)));
    assert_eq!(cond.reason, "TargetsFixed", "{cond:?}");
    let targets = nops.get(&nop_name).await.expect("nodeop").spec.target_nodes;
    assert_eq!(
        targets.map(|mut t| {
            t.sort();
            t
        }),
        Some(vec!["n1".to_owned(), "n2".to_owned(), "n3".to_owned()])
    );

    // The run then finishes on all three nodes.
    go.store(true, std::sync::atomic::Ordering::SeqCst);
    let done = wait_upgrade(&c, &op, &ns, "edits", 40).await;
    let st = done.status.expect("status");
    assert_eq!(
        phase_str(st.phase.as_ref()).as_deref(),
        Some("Completed"),
        "{st:#?}"
    );
    assert_eq!(st.completed, 3, "{st:#?}");
}

#[tokio::test]
async fn upgrade_paused_kairosnode_waits_until_resumed() {
    let (c, _ns) = common::cluster("upgrade-paused").await;
    let op = fleet(&c, 2, &[]).await;
    let _kubelet = c.kubelet().run_auto(upgrade_policy("v3.6.0"));
    let api: Api<KairosNode> = Api::all(c.client());
    api.patch(
        "n2",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"version": "v3.6.0", "paused": true}})),
    )
    .await
    .expect("patch");
    // Held: after several reconciles nothing ran.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(engine_jobs(&c, &op.opts.namespace).await.is_empty());
    assert_eq!(c.node("n2").expect("n2").boots(), 1);
    let kn = kairos_node(&c, "n2").await;
    let held = upgrade_state(&kn);
    assert!(
        matches!(
            held,
            None | Some(UpgradeState::Idle | UpgradeState::Pending)
        ),
        "{:#?}",
        kn.status
    );
    api.patch(
        "n2",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": false}})),
    )
    .await
    .expect("patch");
    let r = wait_for(Duration::from_secs(40), || async {
        let kn = api.get("n2").await.ok()?;
        matches!(
            upgrade_state(&kn),
            Some(UpgradeState::Completed | UpgradeState::Failed | UpgradeState::RolledBack)
        )
        .then_some(kn)
    })
    .await;
    let kn = r.unwrap_or_else(|e| panic!("n2 did not finish: {e}\n{}", op.logs(&c)));
    assert_eq!(
        upgrade_state(&kn),
        Some(UpgradeState::Completed),
        "{:#?}",
        kn.status
    );
    assert!(reports(&kn, "v3.6.0", BootState::Active));
    assert_eq!(c.node("n1").expect("n1").boots(), 1, "n1 untouched");
}
