//! Issue 4 end to end: real `kairos-node-agent` processes on simulated nodes report to the real
//! `kairos-operator` (report channel in plain text on loopback, tokens checked with TokenReview
//! against the API server), which keeps one KairosNode per Kairos node and labels the Nodes.
//! Assertions hold on the simulator and on a real kube-apiserver. Runs processes, does API I/O.

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::Node;
use kairos_api::v1alpha1::{BootState, KairosNode, KairosNodeStatus};
use kairos_e2e::harness::{
    BootMode, Cluster, NodeHandle, OperatorHandle, Proc, RebootChange, ReleaseFixture, SimNode,
    ensure_built, locate, wait_for,
};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

/// The operator's namespace in these tests.
const NS: &str = "kairos-system";
/// How long a fleet may take to show up (agents start, TokenReview, first writes).
const SETTLE: Duration = Duration::from_secs(30);

const ACCEPTED: &str = "kairos_reports_total{result=\"accepted\"}";
const WRONG_NODE: &str = "kairos_reports_total{result=\"rejected_wrong_node\"}";
const UNAUTHENTICATED: &str = "kairos_reports_total{result=\"rejected_unauthenticated\"}";

async fn setup(test: &str) -> (Cluster, OperatorHandle) {
    ensure_built().await.expect("the binaries build");
    let (c, _ns) = cluster(test).await;
    let op = c
        .start_report_operator(NS, &["--heartbeat", "10s"])
        .await
        .expect("operator starts");
    (c, op)
}

fn kairos_nodes(c: &Cluster) -> Api<KairosNode> {
    Api::all(c.client())
}

fn nodes(c: &Cluster) -> Api<Node> {
    Api::all(c.client())
}

async fn status_of(c: &Cluster, name: &str) -> Option<KairosNodeStatus> {
    kairos_nodes(c).get_opt(name).await.ok()??.status
}

fn kairos_labels(n: &Node) -> BTreeMap<String, String> {
    n.labels()
        .iter()
        .filter(|(k, _)| k.starts_with("kairos.io/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn boot_state(mode: BootMode) -> BootState {
    match mode {
        BootMode::Active => BootState::Active,
        BootMode::Passive | BootMode::FallbackPassive => BootState::Passive,
        BootMode::Recovery => BootState::Recovery,
        BootMode::LiveCd => BootState::Livecd,
    }
}

fn boot_label(mode: BootMode) -> &'static str {
    match mode {
        BootMode::Active => "active",
        BootMode::Passive | BootMode::FallbackPassive => "passive",
        BootMode::Recovery => "recovery",
        BootMode::LiveCd => "livecd",
    }
}

/// The flavour name a fixture's kairos-release carries.
fn flavor_name(r: &ReleaseFixture) -> &'static str {
    match r.flavor {
        kairos_e2e::harness::Flavor::Ubuntu | kairos_e2e::harness::Flavor::LegacyKairos => "ubuntu",
        kairos_e2e::harness::Flavor::Alpine => "alpine",
        kairos_e2e::harness::Flavor::OpenSuse => "opensuse",
        kairos_e2e::harness::Flavor::Debian => "debian",
    }
}

fn variant_name(r: &ReleaseFixture) -> &'static str {
    match r.variant {
        kairos_e2e::harness::Variant::Core => "core",
        kairos_e2e::harness::Variant::Standard => "standard",
    }
}

/// The pretty name of a fixture's os-release.
fn pretty_name(r: &ReleaseFixture) -> String {
    r.os_release()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default()
}

/// Whether the KairosNode status shows exactly what `node` runs now.
fn shows(st: &KairosNodeStatus, node: &NodeHandle) -> bool {
    let r = node.release();
    let k = st.kairos.as_ref();
    k.and_then(|k| k.version.as_deref()) == Some(r.version.as_str())
        && st.boot_id.as_deref() == Some(node.boot_id().as_str())
        && st.boot_state == Some(boot_state(node.boot_mode()))
}

/// Logs of every node agent and the operator, for failure messages.
fn all_logs(c: &Cluster, op: &OperatorHandle, ns: &[&NodeHandle]) -> String {
    let mut out = format!("--- operator ---\n{}", c.operator_logs(op.index));
    for n in ns {
        out.push_str(&format!("--- agent {} ---\n{}", n.name(), n.agent_logs()));
    }
    out
}

/// The 19 Kairos fixtures of the fleet: every flavour, variant and distribution, several
/// versions and boot modes; 3 control-plane nodes.
fn fleet_spec() -> Vec<SimNode> {
    let makers: [fn(&str) -> ReleaseFixture; 8] = [
        ReleaseFixture::ubuntu_k3s,
        ReleaseFixture::ubuntu_k0s,
        ReleaseFixture::ubuntu_core,
        ReleaseFixture::alpine_k3s,
        ReleaseFixture::alpine_core,
        ReleaseFixture::opensuse_k3s,
        ReleaseFixture::opensuse_k0s,
        ReleaseFixture::legacy_kairos,
    ];
    let versions = ["v3.5.0", "v3.4.2", "v3.6.0"];
    let modes = [
        BootMode::Active,
        BootMode::Active,
        BootMode::Passive,
        BootMode::Active,
        BootMode::Recovery,
        BootMode::Active,
        BootMode::LiveCd,
    ];
    (0..19)
        .map(|i| {
            let release = makers[i % makers.len()](versions[i % versions.len()]);
            let mut n = if i < 3 {
                SimNode::control_plane(&format!("cp-{i}"), release)
            } else {
                SimNode::worker(&format!("worker-{i:02}"), release)
            };
            n.boot_mode = modes[i % modes.len()];
            n
        })
        .collect()
}

#[tokio::test]
async fn agent_fleet_of_twenty() {
    let (c, op) = setup("agent-fleet").await;
    let mut kairos = vec![];
    for spec in fleet_spec() {
        kairos.push(c.add_node(spec).await.unwrap());
    }
    let debian = c
        .add_node(SimNode::worker("debian-1", ReleaseFixture::plain_debian()))
        .await
        .unwrap();
    let started = Instant::now();
    for n in kairos.iter().chain([&debian]) {
        c.start_agent(n, &op, &[]).await.unwrap();
    }
    let everyone: Vec<&NodeHandle> = kairos.iter().chain([&debian]).collect();

    // Every Kairos node has its KairosNode showing what it runs, and every agent (the Debian
    // one too) had a report accepted.
    let kn_api = kairos_nodes(&c);
    let settled = wait_for(SETTLE, || async {
        let list = kn_api.list(&ListParams::default()).await.ok()?;
        let ok = list.items.len() == kairos.len()
            && kairos.iter().all(|n| {
                list.items.iter().any(|kn| {
                    kn.name_any() == n.name() && kn.status.as_ref().is_some_and(|s| shows(s, n))
                })
            });
        let accepted = op.metric(ACCEPTED).await.ok()?;
        // The operator counts a report before the agent logs its answer, and one agent may be
        // counted twice: the Debian agent's own line says its report went through.
        let debian_delivered = debian.agent_logs().contains("report delivered");
        (ok && accepted >= everyone.len() as f64 && debian_delivered).then_some(list)
    })
    .await;
    let list = match settled {
        Ok(l) => l,
        Err(e) => panic!(
            "fleet did not settle: {e}\n{}",
            all_logs(&c, &op, &everyone)
        ),
    };
    println!(
        "19 KairosNodes correct {:?} after the agents started",
        started.elapsed()
    );
    assert_eq!(list.items.len(), 19);

    let node_api = nodes(&c);
    for n in &kairos {
        let r = n.release();
        let kn = list
            .items
            .iter()
            .find(|kn| kn.name_any() == n.name())
            .unwrap();
        let st = kn.status.as_ref().unwrap();
        let k = st.kairos.as_ref().unwrap();
        let ctx = format!("{}: {st:?}", n.name());
        assert_eq!(k.version.as_deref(), Some(r.version.as_str()), "{ctx}");
        assert_eq!(k.release.as_deref(), Some(r.version.as_str()), "{ctx}");
        assert_eq!(k.flavor.as_deref(), Some(flavor_name(&r)), "{ctx}");
        assert_eq!(k.variant.as_deref(), Some(variant_name(&r)), "{ctx}");
        let sw = r.software_version();
        assert_eq!(k.software_version.as_deref().unwrap_or(""), sw, "{ctx}");
        assert_eq!(st.boot_state, Some(boot_state(n.boot_mode())), "{ctx}");
        // The command line and the /run/cos sentinel agree on every simulated node.
        assert_eq!(st.boot_state_message, None, "{ctx}");
        assert_eq!(st.upgrade_failure, Some(false), "{ctx}");
        assert_eq!(st.in_ram, Some(false), "{ctx}");
        assert_eq!(st.trusted_boot, Some(false), "{ctx}");
        assert_eq!(st.boot_id.as_deref(), Some(n.boot_id().as_str()), "{ctx}");
        assert_eq!(
            st.os.as_ref().and_then(|o| o.pretty_name.clone()),
            Some(pretty_name(&r)),
            "{ctx}"
        );
        assert!(st.report_errors.is_empty(), "{ctx}");
        assert!(
            st.cloud_config_hash.as_ref().is_some_and(|h| h.len() == 64),
            "{ctx}"
        );
        let cond = |t: &str| {
            st.conditions
                .iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status.as_str())
        };
        assert_eq!(cond("Reporting"), Some("True"), "{ctx}");
        assert_eq!(cond("Degraded"), Some("False"), "{ctx}");
        // Owned by its Node, so it goes away with it.
        let owner = kn.owner_references().iter().find(|o| o.kind == "Node");
        assert_eq!(owner.map(|o| o.name.as_str()), Some(n.name()), "{ctx}");

        let node = node_api.get(n.name()).await.unwrap();
        let labels = kairos_labels(&node);
        let ctx = format!("{}: {labels:?}", n.name());
        assert_eq!(
            labels.get("kairos.io/managed").map(String::as_str),
            Some("true"),
            "{ctx}"
        );
        assert_eq!(
            labels.get("kairos.io/flavor").map(String::as_str),
            Some(flavor_name(&r)),
            "{ctx}"
        );
        assert_eq!(
            labels.get("kairos.io/release").map(String::as_str),
            Some(r.version.as_str()),
            "{ctx}"
        );
        assert_eq!(
            labels.get("kairos.io/variant").map(String::as_str),
            Some(variant_name(&r)),
            "{ctx}"
        );
        assert_eq!(
            labels.get("kairos.io/boot-state").map(String::as_str),
            Some(boot_label(n.boot_mode())),
            "{ctx}"
        );
        // Label values are sanitised: `v1.33.1+k3s1` becomes `v1.33.1-k3s1`; core has none.
        assert_eq!(
            labels.get("kairos.io/software-version").cloned(),
            Some(sw.replace('+', "-")).filter(|s| !s.is_empty()),
            "{ctx}"
        );
        assert_eq!(
            node.annotations()
                .get("kairos.io/version")
                .map(String::as_str),
            Some(r.version.as_str()),
            "{}",
            n.name()
        );
    }

    // Exactly 19 managed Nodes: the selector the seed's NodeOp uses finds all Kairos nodes and
    // not the Debian one.
    let managed = node_api
        .list(&ListParams::default().labels("kairos.io/managed=true"))
        .await
        .unwrap();
    assert_eq!(managed.items.len(), 19);
    assert!(managed.items.iter().all(|n| n.name_any() != "debian-1"));

    // The Debian node: its agent reported (not Kairos), no KairosNode, no kairos.io labels.
    assert!(kn_api.get_opt("debian-1").await.unwrap().is_none());
    let deb = node_api.get("debian-1").await.unwrap();
    assert!(kairos_labels(&deb).is_empty(), "{:?}", deb.labels());
    assert!(
        deb.annotations()
            .keys()
            .all(|k| !k.starts_with("kairos.io/")),
        "{:?}",
        deb.annotations()
    );
    let dlog = debian.agent_logs();
    assert!(
        dlog.contains("report delivered") && dlog.contains("kairos=false"),
        "{dlog}"
    );
    for n in &everyone {
        assert!(
            n.agent_running(),
            "agent of {} exited:\n{}",
            n.name(),
            n.agent_logs()
        );
    }
    assert_eq!(op.metric(WRONG_NODE).await.unwrap(), 0.0);
    assert_eq!(op.metric(UNAUTHENTICATED).await.unwrap(), 0.0);
}

#[tokio::test]
async fn agent_reboot_updates_status() {
    let (c, op) = setup("agent-reboot").await;
    let a = c
        .add_node(SimNode::worker(
            "reboot-a",
            ReleaseFixture::opensuse_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let b = c
        .add_node(SimNode::worker(
            "reboot-b",
            ReleaseFixture::alpine_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    for n in [&a, &b] {
        c.start_agent(n, &op, &[]).await.unwrap();
    }
    for n in [&a, &b] {
        wait_for(SETTLE, || async {
            status_of(&c, n.name()).await.filter(|s| shows(s, n))
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.name(), all_logs(&c, &op, &[&a, &b])));
    }
    let old_boot = a.boot_id();
    let b_before = status_of(&c, b.name()).await.unwrap();

    // A reboots into v3.6.0 (what an upgrade leaves behind).
    let upgraded = a.release().with_version("v3.6.0");
    c.kubelet()
        .reboot(
            a.name(),
            RebootChange {
                release: Some(upgraded),
                boot_mode: None,
            },
        )
        .await
        .unwrap();
    assert_ne!(a.boot_id(), old_boot);
    assert_eq!(a.boots(), 2);
    let st = wait_for(SETTLE, || async {
        status_of(&c, a.name()).await.filter(|s| shows(s, &a))
    })
    .await
    .unwrap_or_else(|e| panic!("after reboot: {e}\n{}", all_logs(&c, &op, &[&a])));
    assert_eq!(
        st.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.6.0")
    );
    assert_eq!(st.boot_id.as_deref(), Some(a.boot_id().as_str()));
    assert_eq!(st.boot_state, Some(BootState::Active));
    let labels = wait_for(SETTLE, || async {
        let n = nodes(&c).get(a.name()).await.ok()?;
        let l = kairos_labels(&n);
        (l.get("kairos.io/release").map(String::as_str) == Some("v3.6.0")).then_some(l)
    })
    .await
    .unwrap();
    assert_eq!(
        labels.get("kairos.io/managed").map(String::as_str),
        Some("true")
    );

    // A rolls back: another reboot, into the passive image with the old version.
    c.kubelet()
        .reboot(
            a.name(),
            RebootChange {
                release: Some(a.release().with_version("v3.5.0")),
                boot_mode: Some(BootMode::Passive),
            },
        )
        .await
        .unwrap();
    let st = wait_for(SETTLE, || async {
        status_of(&c, a.name()).await.filter(|s| shows(s, &a))
    })
    .await
    .unwrap_or_else(|e| panic!("after rollback: {e}\n{}", all_logs(&c, &op, &[&a])));
    assert_eq!(st.boot_state, Some(BootState::Passive));
    assert_eq!(
        st.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.5.0")
    );
    wait_for(SETTLE, || async {
        let n = nodes(&c).get(a.name()).await.ok()?;
        (n.labels().get("kairos.io/boot-state").map(String::as_str) == Some("passive"))
            .then_some(())
    })
    .await
    .unwrap();

    // B never rebooted: same boot ID and version.
    let b_after = status_of(&c, b.name()).await.unwrap();
    assert_eq!(b_after.boot_id, b_before.boot_id);
    assert_eq!(b_after.kairos, b_before.kairos);
    assert!(a.agent_running(), "{}", a.agent_logs());
}

/// Starts a rogue `kairos-node-agent` outside any node handle, logging to `<cluster dir>/<name>.log`.
fn spawn_rogue(c: &Cluster, name: &str, args: &[String]) -> Proc {
    let bin = locate("kairos-node-agent", "KAIROS_AGENT_BIN").expect("agent binary");
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let env = vec![("RUST_LOG".to_string(), OsString::from("info"))];
    Proc::spawn(
        name,
        &bin,
        &args,
        &env,
        &c.dir().join(format!("{name}.log")),
    )
    .expect("rogue agent spawns")
}

#[tokio::test]
async fn agent_wrong_node_refused() {
    let (c, op) = setup("agent-wrong-node").await;
    let a = c
        .add_node(SimNode::worker(
            "node-a",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let b = c
        .add_node(SimNode::worker(
            "node-b",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let a_id = c.start_agent(&a, &op, &[]).await.unwrap();
    c.start_agent(&b, &op, &[]).await.unwrap();
    for n in [&a, &b] {
        wait_for(SETTLE, || async {
            status_of(&c, n.name()).await.filter(|s| shows(s, n))
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.name(), all_logs(&c, &op, &[&a, &b])));
    }
    let b_before = status_of(&c, b.name()).await.unwrap();
    let b_labels_before = kairos_labels(&nodes(&c).get(b.name()).await.unwrap());
    let rejected_before = op.metric(WRONG_NODE).await.unwrap();

    // A host root claiming another version and boot, reported as node B with A's token.
    let fake = c.dir().join("fake-host");
    let fake_release = ReleaseFixture::alpine_core("v9.9.9");
    for (rel, text) in [
        ("etc/kairos-release", fake_release.kairos_release().unwrap()),
        ("etc/os-release", fake_release.os_release()),
        ("proc/cmdline", "root=LABEL=COS_RECOVERY\n".to_string()),
        (
            "proc/sys/kernel/random/boot_id",
            "00000000-0000-0000-0000-000000000bad\n".into(),
        ),
    ] {
        let p = fake.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let mut rogue = spawn_rogue(
        &c,
        "rogue-agent",
        &[
            "--node-name".into(),
            b.name().into(),
            "--host-root".into(),
            fake.to_string_lossy().into_owned(),
            "--operator-endpoint".into(),
            op.endpoint(),
            "--token-file".into(),
            a_id.token_file.to_string_lossy().into_owned(),
            "--poll-interval".into(),
            "500ms".into(),
            "--heartbeat".into(),
            "5s".into(),
        ],
    );
    // The operator counts the rejection and the agent says it was refused (and keeps retrying
    // with backoff rather than crashing).
    wait_for(SETTLE, || async {
        (op.metric(WRONG_NODE).await.ok()? > rejected_before).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n--- rogue ---\n{}",
            c.operator_logs(op.index),
            rogue.logs()
        )
    });
    wait_for(SETTLE, || async {
        rogue
            .logs()
            .contains("the operator refused this agent")
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- rogue ---\n{}", rogue.logs()));
    let log = rogue.logs();
    assert!(log.contains("permission_denied"), "{log}");
    assert!(
        log.contains("node-a"),
        "the refusal names the token's node: {log}"
    );
    assert!(
        rogue.try_exit_status().is_none(),
        "the rogue agent crashed: {log}"
    );
    assert!(
        c.operator_logs(op.index)
            .contains("the token belongs to another node"),
        "{}",
        c.operator_logs(op.index)
    );
    // Let it retry a little more: B stays as its own agent reported it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let b_after = status_of(&c, b.name()).await.unwrap();
    assert_eq!(b_after.kairos, b_before.kairos);
    assert_eq!(b_after.os, b_before.os);
    assert_eq!(b_after.boot_id, b_before.boot_id);
    assert_eq!(b_after.boot_state, b_before.boot_state);
    assert_eq!(b_after.cloud_config_hash, b_before.cloud_config_hash);
    assert_eq!(
        b_after.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.5.0")
    );
    assert_eq!(
        kairos_labels(&nodes(&c).get(b.name()).await.unwrap()),
        b_labels_before
    );
    // A is untouched too, and the honest agents are still accepted.
    assert!(shows(&status_of(&c, a.name()).await.unwrap(), &a));
    rogue.kill().await;
}

#[tokio::test]
async fn agent_wrong_audience_refused() {
    let (c, op) = setup("agent-audience").await;
    let n = c
        .add_node(SimNode::worker(
            "aud-1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let id = c
        .agent_identity(&n, NS, "some-other-audience")
        .await
        .unwrap();
    let endpoint = op.endpoint();
    let token = id.token_file.to_string_lossy().into_owned();
    let root = n.host_root().to_string_lossy().into_owned();
    n.spawn_agent(&[
        "--node-name",
        n.name(),
        "--host-root",
        &root,
        "--operator-endpoint",
        &endpoint,
        "--token-file",
        &token,
        "--poll-interval",
        "500ms",
        "--heartbeat",
        "5s",
    ])
    .await
    .unwrap();
    wait_for(SETTLE, || async {
        (op.metric(UNAUTHENTICATED).await.ok()? >= 1.0).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&n])));
    wait_for(SETTLE, || async {
        n.agent_logs()
            .contains("the operator refused this agent")
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", n.agent_logs()));
    let log = n.agent_logs();
    assert!(log.contains("unauthenticated"), "{log}");
    assert!(log.contains("audience"), "the refusal says why: {log}");
    assert!(n.agent_running(), "{log}");
    assert_eq!(op.metric(ACCEPTED).await.unwrap(), 0.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(kairos_nodes(&c).get_opt(n.name()).await.unwrap().is_none());
    assert!(kairos_labels(&nodes(&c).get(n.name()).await.unwrap()).is_empty());

    // The same agent with a token of the right audience is accepted.
    c.start_agent(&n, &op, &[]).await.unwrap();
    wait_for(SETTLE, || async {
        status_of(&c, n.name()).await.filter(|s| shows(s, &n))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&n])));
}

const TOKEN_REVIEWS: &str = "kairos_report_token_reviews_total";

#[tokio::test]
async fn agent_token_of_a_deleted_pod_is_refused_within_a_minute() {
    let (c, op) = setup("agent-deleted-pod").await;
    let n = c
        .add_node(SimNode::worker(
            "gone-1",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .expect("node");
    let id = c.start_agent(&n, &op, &[]).await.expect("agent");
    wait_for(SETTLE, || async {
        status_of(&c, n.name()).await.filter(|s| shows(s, &n))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&n])));

    // Steady state: reports keep coming, each answered from the cached token check.
    let reviews = op.metric(TOKEN_REVIEWS).await.expect("reviews");
    let accepted = op.metric(ACCEPTED).await.expect("accepted");
    // The agent reports at least every 10 s (its shortest heartbeat), whatever it is asked.
    wait_for(Duration::from_secs(60), || async {
        (op.metric(ACCEPTED).await.ok()? >= accepted + 2.0).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&n])));
    assert_eq!(
        op.metric(TOKEN_REVIEWS).await.expect("reviews"),
        reviews,
        "no TokenReview per report at steady state"
    );

    // The pod the token is bound to goes: the same token is refused within a minute.
    let refused = op.metric(UNAUTHENTICATED).await.expect("refused");
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.client(), NS);
    pods.delete(&id.pod, &kube::api::DeleteParams::default().grace_period(0))
        .await
        .expect("the agent pod is deleted");
    let deleted = Instant::now();
    wait_for(Duration::from_secs(60), || async {
        (op.metric(UNAUTHENTICATED).await.ok()? > refused).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&n])));
    eprintln!("refused {:?} after the pod was deleted", deleted.elapsed());
    wait_for(SETTLE, || async {
        n.agent_logs()
            .contains("the operator refused this agent")
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", n.agent_logs()));
}

#[tokio::test]
async fn agent_malformed_release_reported() {
    let (c, op) = setup("agent-malformed").await;
    let bad = c
        .add_node(SimNode::worker(
            "bad-quotes",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let binary = c
        .add_node(SimNode::worker(
            "bad-bytes",
            ReleaseFixture::alpine_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    // An unterminated quote on the version line, a line without `=`, a lower-case key: the
    // version must not be guessed from the broken line.
    let good = bad.release().kairos_release().unwrap();
    let broken = good
        .replace("KAIROS_VERSION=\"v3.5.0\"", "KAIROS_VERSION=\"v3.5.0")
        .replace(
            "KAIROS_RELEASE=\"v3.5.0\"",
            "KAIROS_RELEASE=v3.5.0 $(reboot)",
        )
        + "this line is not an assignment\nkairos_lower=1\n";
    std::fs::write(bad.host_root().join("etc/kairos-release"), &broken).unwrap();
    // Not UTF-8 at all.
    std::fs::write(
        binary.host_root().join("etc/kairos-release"),
        b"\xff\xfe\x00KAIROS_VERSION=\x80\x81\n",
    )
    .unwrap();
    for n in [&bad, &binary] {
        c.start_agent(n, &op, &[]).await.unwrap();
    }
    for n in [&bad, &binary] {
        let st = wait_for(SETTLE, || async {
            status_of(&c, n.name())
                .await
                .filter(|s| !s.report_errors.is_empty())
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.name(), all_logs(&c, &op, &[n])));
        let ctx = format!("{}: {st:?}", n.name());
        assert!(
            st.report_errors
                .iter()
                .any(|e| e.contains("/etc/kairos-release")),
            "{ctx}"
        );
        assert!(
            st.report_errors.iter().all(|e| e.starts_with('/')),
            "errors name the host path: {ctx}"
        );
        // No wrong version: the broken keys are left out, not guessed.
        let k = st.kairos.as_ref();
        assert_eq!(k.and_then(|k| k.version.clone()), None, "{ctx}");
        assert_eq!(k.and_then(|k| k.release.clone()), None, "{ctx}");
        // What could be read is still reported.
        assert_eq!(st.boot_id.as_deref(), Some(n.boot_id().as_str()), "{ctx}");
        assert_eq!(st.boot_state, Some(BootState::Active), "{ctx}");
        let labels = kairos_labels(&nodes(&c).get(n.name()).await.unwrap());
        assert!(!labels.contains_key("kairos.io/release"), "{labels:?}");
        assert!(n.agent_running(), "agent crashed:\n{}", n.agent_logs());
    }
    let st = status_of(&c, bad.name()).await.unwrap();
    let errs = st.report_errors.join("\n");
    assert!(errs.contains("KAIROS_VERSION"), "{errs}");
    assert!(errs.contains("KAIROS_RELEASE"), "{errs}");
    assert_eq!(
        st.kairos.as_ref().and_then(|k| k.flavor.as_deref()),
        Some("ubuntu"),
        "the valid lines still count: {st:?}"
    );
    let st = status_of(&c, binary.name()).await.unwrap();
    assert!(
        st.report_errors
            .iter()
            .any(|e| e.contains("/etc/kairos-release")),
        "{st:?}"
    );

    // Fixed on disk: the agent notices, the errors clear, the version appears.
    std::fs::write(bad.host_root().join("etc/kairos-release"), &good).unwrap();
    let st = wait_for(SETTLE, || async {
        status_of(&c, bad.name())
            .await
            .filter(|s| s.report_errors.is_empty())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", all_logs(&c, &op, &[&bad])));
    assert_eq!(
        st.kairos.as_ref().unwrap().version.as_deref(),
        Some("v3.5.0")
    );
    wait_for(SETTLE, || async {
        let n = nodes(&c).get(bad.name()).await.ok()?;
        (n.labels().get("kairos.io/release").map(String::as_str) == Some("v3.5.0")).then_some(())
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn agent_kubectl_get_kairosnodes_columns() {
    if !kairos_e2e::harness::kubectl_available() {
        println!("skipping agent_kubectl_get_kairosnodes_columns: kubectl is not on PATH");
        return;
    }
    let (c, op) = setup("agent-kubectl").await;
    let u = c
        .add_node(SimNode::control_plane(
            "kctl-cp",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let mut spec = SimNode::worker("kctl-w", ReleaseFixture::alpine_core("v3.4.2"));
    spec.boot_mode = BootMode::Passive;
    let w = c.add_node(spec).await.unwrap();
    for n in [&u, &w] {
        c.start_agent(n, &op, &[]).await.unwrap();
    }
    for n in [&u, &w] {
        wait_for(SETTLE, || async {
            status_of(&c, n.name()).await.filter(|s| shows(s, n))
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", n.name(), all_logs(&c, &op, &[&u, &w])));
    }
    kairos_nodes(&c)
        .patch(
            w.name(),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v3.6.0"}})),
        )
        .await
        .unwrap();

    // The STATE column comes from the KairosNode controller: wait until it wrote both.
    for n in [&u, &w] {
        wait_for(SETTLE, || async {
            status_of(&c, n.name()).await?.upgrade.map(|_| ())
        })
        .await
        .unwrap();
    }
    let (ok, out) = c
        .kubectl(&["get", "kairosnodes"])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME", "VERSION", "DESIRED", "STATE", "BOOT", "TRUSTED", "OS", "AGE"
        ],
        "{out}"
    );
    // Cells by the header's column positions (empty cells print as nothing, OS has spaces).
    let head = out.lines().next().unwrap_or_default();
    let starts: Vec<usize> = header
        .iter()
        .map(|h| {
            head.find(&format!("{h} "))
                .or_else(|| head.rfind(h))
                .unwrap()
        })
        .collect();
    let row = |name: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}: {out}"));
        (0..starts.len())
            .map(|i| {
                let end = starts
                    .get(i + 1)
                    .copied()
                    .unwrap_or(line.len())
                    .min(line.len());
                line.get(starts[i]..end)
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    let cp = row("kctl-cp");
    assert_eq!(
        &cp[..7],
        [
            "kctl-cp",
            "v3.5.0",
            "",
            "Idle",
            "active",
            "false",
            "Ubuntu 24.04.2 LTS"
        ],
        "{out}"
    );
    let wr = row("kctl-w");
    assert_eq!(&wr[..3], ["kctl-w", "v3.4.2", "v3.6.0"], "{out}");
    assert!(!wr[3].is_empty(), "an upgrade was requested: {out}");
    assert_eq!(
        &wr[4..7],
        ["passive", "false", "Alpine Linux v3.21"],
        "{out}"
    );
    assert!(wr[7].ends_with('s'), "AGE: {out}");

    // The short name and the full report.
    let (ok, out) = c
        .kubectl(&["get", "kn", "kctl-cp", "-o", "yaml"])
        .await
        .expect("kubectl runs");
    assert!(ok, "{out}");
    for needle in [
        "kind: KairosNode",
        &format!("bootID: {}", u.boot_id()),
        "bootState: active",
        "cloudConfigHash:",
        "flavor: ubuntu",
        "prettyName: Ubuntu 24.04.2 LTS",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

/// The report service's conditions (`Reporting`, `Degraded`) and the KairosNode controller's
/// (`UpToDate`, `Upgrading`) are applied by two field managers into one `conditions` list
/// (`x-kubernetes-list-type: map`, key `type`): both sets must be there side by side.
#[tokio::test]
async fn agent_report_conditions_beside_controller_conditions() {
    let (c, op) = setup("agent-conditions").await;
    let good = c
        .add_node(SimNode::worker(
            "cond-good",
            ReleaseFixture::ubuntu_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    let bad = c
        .add_node(SimNode::worker(
            "cond-bad",
            ReleaseFixture::alpine_k3s("v3.5.0"),
        ))
        .await
        .unwrap();
    std::fs::write(
        bad.host_root().join("etc/kairos-release"),
        "KAIROS_FLAVOR=alpine\nKAIROS_VERSION=\"v3.5.0\nnot an assignment\n",
    )
    .unwrap();
    for n in [&good, &bad] {
        c.start_agent(n, &op, &[]).await.unwrap();
    }
    let cond = |st: &KairosNodeStatus, t: &str| {
        st.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let has_all = |st: &KairosNodeStatus| {
        ["Reporting", "Degraded", "UpToDate", "Upgrading"]
            .iter()
            .all(|t| cond(st, t).is_some())
    };
    for n in [&good, &bad] {
        let st = wait_for(SETTLE, || async {
            status_of(&c, n.name())
                .await
                .filter(|s| !s.report_errors.is_empty() || s.kairos.is_some())
                .filter(|s| has_all(s))
        })
        .await;
        let Ok(st) = st else {
            panic!(
                "{}: the four conditions never stood side by side; status now: {:?}\n{}",
                n.name(),
                status_of(&c, n.name()).await,
                c.operator_logs(op.index)
            );
        };
        assert_eq!(
            cond(&st, "Reporting").map(|c| (c.0, c.1)),
            Some(("True".into(), "AgentReporting".into())),
            "{st:?}"
        );
    }
    // Settled: they stay side by side (no writer removes the other's).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = status_of(&c, good.name()).await.unwrap();
    assert!(has_all(&st), "{st:?}");
    assert_eq!(
        cond(&st, "Degraded").map(|c| (c.0, c.1)),
        Some(("False".into(), "ReportClean".into())),
        "{st:?}"
    );
    let st = status_of(&c, bad.name()).await.unwrap();
    assert!(has_all(&st), "{st:?}");
    let (status, reason, message) = cond(&st, "Degraded").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "MalformedRelease"),
        "{st:?}"
    );
    assert!(message.contains("/etc/kairos-release"), "{message}");
    assert!(message.contains("KAIROS_VERSION"), "{message}");
}
