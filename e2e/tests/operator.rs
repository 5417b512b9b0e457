//! End to end: the operator as a service (issue 7): leader election with two replicas; the
//! admin endpoints (`/readyz` before sync, while running and after SIGTERM; `/metrics` as
//! Prometheus text); not ready while its initial LIST is held back; recovery from dropped watches
//! and from API server restarts mid-rollout; a leader that cannot renew its Lease (its RBAC
//! for Lease writes removed) steps down. Every assertion reads the API or the admin port. The
//! faults go through the harness's backend-level fault API (`Cluster::drop_watches`,
//! `Cluster::restart_api_server`, `Cluster::fail_lease_writes`), so these tests run on both
//! backends; only holding back the initial LIST has no real equivalent and runs on the
//! simulator alone (on a real kube-apiserver it prints `skipping` and returns).

mod common;
mod ops;

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kairos_e2e::harness::process::free_port;
use kairos_e2e::harness::{
    AutoKubelet, Cluster, RebootChange, ReleaseFixture, SimNode, http_get, wait_for,
};
use kube::api::Api;
use serde_json::json;

use ops::*;

async fn lease_holder(c: &Cluster, ns: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(c.client(), ns)
        .get_opt("kairos-operator")
        .await
        .ok()??;
    lease.spec?.holder_identity
}

/// `(status, body)` of `GET path` on the admin port; `None` when nothing answers.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get(std::net::SocketAddr::from(([127, 0, 0, 1], port)), path)
        .await
        .ok()
}

/// Nodes `n1..=n<count>` on Kairos v3.5.0 labelled `kairos.io/managed=true` (the selector of
/// [`create_rollout`]); the first `control_planes` of them are control-plane nodes.
async fn add_managed_nodes(c: &Cluster, count: usize, control_planes: usize) {
    for i in 1..=count {
        let name = format!("n{i}");
        let rel = ReleaseFixture::ubuntu_k3s("v3.5.0");
        let spec = if i <= control_planes {
            SimNode::control_plane(&name, rel)
        } else {
            SimNode::worker(&name, rel)
        };
        c.add_node(spec).await.expect("node added");
        label_node(c, &name, "kairos.io/managed", "true").await;
    }
}

/// The kubelet stand-in of the rollouts: every Job succeeds after `job`; reboots change nothing.
fn run_kubelet(c: &Cluster, job: Duration) -> AutoKubelet {
    c.kubelet().run_auto(node_policy(
        job,
        |_, _, _| None,
        |_| RebootChange::default(),
    ))
}

/// A NodeOp over every `kairos.io/managed` node, one at a time, each rebooted.
async fn create_rollout(c: &Cluster, ns: &str, name: &str) {
    let spec = json!({
        "nodeSelector": {"matchLabels": {"kairos.io/managed": "true"}},
        "command": ["sh", "-c", "true"],
        "cordon": true,
        "rebootOnSuccess": true,
        "concurrency": 1,
    });
    let op = json!({
        "apiVersion": "operator.kairos.io/v1alpha1",
        "kind": "NodeOp",
        "metadata": {"name": name},
        "spec": spec,
    });
    create_nodeop(c, ns, op).await;
}

#[tokio::test]
async fn operator_leader_failover_finishes_the_rollout() {
    let (c, ns) = common::cluster("operator-failover").await;
    add_managed_nodes(&c, 4, 1).await;
    let opts = OperatorOpts::new();
    prepare(&c, &opts).await;
    let grpc = free_port().expect("free port");
    let replicas = [
        spawn_as(&c, &opts, grpc, "replica-a").await,
        spawn_as(&c, &opts, free_port().expect("port"), "replica-b").await,
    ];
    let rec = Recorder::start(c.client(), &opts.namespace);
    let _kubelet = run_kubelet(&c, Duration::from_millis(800));
    create_rollout(&c, &ns, "failover").await;

    // Kill the leader once the rollout is under way.
    wait_for(Duration::from_secs(30), || async {
        let jobs = engine_jobs(&c, &opts.namespace).await;
        (jobs.len() >= 2).then_some(())
    })
    .await
    .expect("the rollout starts");
    let holder = lease_holder(&c, &opts.namespace)
        .await
        .expect("a replica holds the lease");
    let (leader, follower) = if holder == replicas[0].identity {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    c.kill_operator(leader.idx).await;

    let api = nodeops(&c, &ns);
    let finished = wait_for(Duration::from_secs(90), || async {
        let op = api.get("failover").await.ok()?;
        matches!(
            phase_of(&op).as_deref(),
            Some("Completed" | "Failed" | "Stopped")
        )
        .then_some(op)
    })
    .await;
    let done = match finished {
        Ok(done) => done,
        Err(e) => panic!(
            "{e}: {:#?}\nsurvivor's log:\n{}",
            api.get("failover").await.ok().and_then(|o| o.status),
            c.operator_logs(follower.idx)
        ),
    };
    assert_eq!(
        phase_of(&done).as_deref(),
        Some("Completed"),
        "{:#?}\n{}",
        done.status,
        c.operator_logs(follower.idx)
    );
    assert_eq!(
        lease_holder(&c, &opts.namespace).await.as_deref(),
        Some(follower.identity.as_str())
    );
    assert_clean_rollout(&c, &rec.timeline(), 4, 1).await;
}

#[tokio::test]
async fn operator_readyz_and_metrics() {
    let (c, _ns) = common::cluster("operator-admin").await;
    let opts = OperatorOpts::new();
    prepare(&c, &opts).await;
    let replica = spawn_as(&c, &opts, free_port().expect("port"), "replica-admin").await;

    // Never ready before it is bound and synced; then ready.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let code = get(replica.admin, "/readyz").await.map(|(code, _)| code);
        seen.push(code);
        if code == Some(200) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.iter().all(|c| matches!(c, None | Some(200 | 503))),
        "{seen:?}"
    );
    assert_eq!(
        get(replica.admin, "/livez").await.map(|(c, _)| c),
        Some(200)
    );

    // `/metrics` is Prometheus (OpenMetrics) text with the operator's families.
    let (code, body) = get(replica.admin, "/metrics")
        .await
        .expect("metrics answer");
    assert_eq!(code, 200);
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    for family in [
        "kairos_report_token_reviews",
        "kairos_nodes_by_upgrade_state",
        "kairos_nodes_by_version",
        "kairos_nodes_by_reporting",
        "kairos_nodeop_nodes",
        "kairos_operations",
        "kairos_leader",
        "kairos_ready",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{body}"
        );
    }
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap_or_default();
        assert!(value.parse::<f64>().is_ok(), "not a sample line: {line}");
    }

    // The replica's role, as the shipped alerts read it: ready, and (alone) leading.
    wait_for(Duration::from_secs(30), || async {
        let (_, body) = get(replica.admin, "/metrics").await?;
        let has = |sample: &str| body.lines().any(|l| l == sample);
        (has("kairos_ready 1") && has("kairos_leader 1")).then_some(())
    })
    .await
    .expect("kairos_ready and kairos_leader read 1");

    // After SIGTERM it never answers ready again, and it exits.
    let pid = c.operator_pid(replica.idx).expect("operator pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // The signal takes a moment to arrive; from the first non-ready answer on, never ready.
    wait_for(Duration::from_secs(2), || async {
        let code = get(replica.admin, "/readyz").await.map(|(code, _)| code);
        (code != Some(200)).then_some(())
    })
    .await
    .expect("not ready soon after SIGTERM");
    for _ in 0..20 {
        let code = get(replica.admin, "/readyz").await.map(|(code, _)| code);
        assert_ne!(code, Some(200), "ready again after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for(Duration::from_secs(10), || async {
        exited(pid).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: the operator did not exit after SIGTERM\n{}",
            replica.logs(&c)
        )
    });
}

#[tokio::test]
async fn operator_recovers_when_every_watch_drops() {
    let (c, ns) = common::cluster("operator-watches").await;
    add_managed_nodes(&c, 4, 0).await;
    // On a real backend a watch drop is a kube-apiserver restart, down for the seconds it takes
    // to start: a lease of 30 s (renewed 20 s before expiry) outlives that, the tests' 2 s
    // lease would not (the leader would rightly step down and exit).
    let opts = OperatorOpts {
        lease: ("30s", "20s"),
        ..OperatorOpts::new()
    };
    let op = start_operator(&c, &opts).await;
    let rec = Recorder::start(c.client(), &opts.namespace);
    let _kubelet = run_kubelet(&c, Duration::from_millis(500));
    create_rollout(&c, &ns, "watches").await;
    // Every second, end every watch (six times), so that resuming gets 410 Gone. Then the
    // operator must finish by itself.
    let api = nodeops(&c, &ns);
    let mut drops = 0;
    let started = std::time::Instant::now();
    let done = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(cur) = api.get("watches").await else {
            // The first request after a restarted server may meet a closed connection.
            continue;
        };
        if matches!(
            phase_of(&cur).as_deref(),
            Some("Completed" | "Failed" | "Stopped")
        ) {
            break cur;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no end after {drops} watch drops: {:#?}\n{}",
            cur.status,
            op.logs(&c)
        );
        if drops < 6 {
            c.drop_watches().await.expect("every watch dropped");
            drops += 1;
        }
    };
    assert!(drops >= 3, "the rollout ended after only {drops} drops");
    assert_eq!(
        phase_of(&done).as_deref(),
        Some("Completed"),
        "{:#?}",
        done.status
    );
    assert_clean_rollout(&c, &rec.timeline(), 4, 1).await;
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
fn exited(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[tokio::test]
async fn operator_not_ready_while_its_initial_list_is_held() {
    let (c, _ns) = common::cluster("operator-slow-sync").await;
    // Simulator only: a real kube-apiserver offers no way to hold back the LISTs of one
    // resource while answering everything else (an overloaded or slow server is not one we
    // can make on purpose).
    let Some(server) = c.sim() else {
        println!("skipping: holding back LISTs needs the simulator");
        return;
    };
    let opts = OperatorOpts::new();
    prepare(&c, &opts).await;
    // Only the caches list Nodes at start (the CRD check and leader election do not), so holding
    // Node LISTs stops exactly the initial cache sync.
    server.sim().hold_lists("nodes");
    let replica = spawn_as(&c, &opts, free_port().expect("port"), "replica-slow-sync").await;
    let pid = c.operator_pid(replica.idx).expect("operator pid");
    wait_for(Duration::from_secs(30), || async {
        (server.sim().lists_waiting("nodes") > 0).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: no Node LIST held\n{}", replica.logs(&c)));
    // Otherwise up: it answers on its admin port, its report channel listens, and it leads.
    let grpc = replica.endpoint.trim_start_matches("http://").to_owned();
    wait_for(Duration::from_secs(30), || async {
        let lives = get(replica.admin, "/livez").await.map(|(code, _)| code) == Some(200);
        let listens = tokio::net::TcpStream::connect(&grpc).await.is_ok();
        let leads =
            lease_holder(&c, &opts.namespace).await.as_deref() == Some(replica.identity.as_str());
        (lives && listens && leads).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: not up\n{}", replica.logs(&c)));

    // Three seconds of a held sync: never ready, always live, still running.
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let mut answers = 0;
    while std::time::Instant::now() < until {
        assert_eq!(
            get(replica.admin, "/readyz").await.map(|(code, _)| code),
            Some(503),
            "ready before its caches synced\n{}",
            replica.logs(&c)
        );
        assert_eq!(
            get(replica.admin, "/livez").await.map(|(code, _)| code),
            Some(200)
        );
        answers += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers >= 10, "only {answers} answers in 3 s");
    assert!(!exited(pid), "the operator exited\n{}", replica.logs(&c));
    assert!(server.sim().lists_waiting("nodes") > 0);

    // Released: ready soon.
    server.sim().release_lists();
    wait_for(Duration::from_secs(10), || async {
        (get(replica.admin, "/readyz").await.map(|(code, _)| code) == Some(200)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: not ready after the release\n{}", replica.logs(&c)));
}

#[tokio::test]
async fn operator_recovers_when_the_api_server_restarts() {
    let (c, ns) = common::cluster("operator-api-restart").await;
    add_managed_nodes(&c, 4, 0).await;
    // A lease of 30 s (renewed 20 s before expiry) outlives an outage of 1.5 s plus the
    // seconds a real kube-apiserver takes to start; the tests' 2 s lease would not, and the
    // leader would rightly step down and exit.
    let opts = OperatorOpts {
        lease: ("30s", "20s"),
        ..OperatorOpts::new()
    };
    let op = start_operator(&c, &opts).await;
    let pid = c.operator_pid(op.idx).expect("operator pid");
    let rec = Recorder::start(c.client(), &opts.namespace);
    let _kubelet = run_kubelet(&c, Duration::from_millis(500));
    create_rollout(&c, &ns, "restarts").await;
    // Restart the API server (1.5 s down each time) when the first Job exists and again when
    // the third does; then the operator must finish by itself, as the same process.
    let api = nodeops(&c, &ns);
    let mut restarts = 0;
    let started = std::time::Instant::now();
    let done = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(cur) = api.get("restarts").await else {
            // The client's first request after a restart may meet a closed connection.
            continue;
        };
        if matches!(
            phase_of(&cur).as_deref(),
            Some("Completed" | "Failed" | "Stopped")
        ) {
            break cur;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no end after {restarts} restarts: {:#?}\n{}",
            cur.status,
            op.logs(&c)
        );
        let jobs = rec
            .timeline()
            .jobs_per_node
            .values()
            .map(|j| j.len())
            .sum::<usize>();
        if (restarts == 0 && jobs >= 1) || (restarts == 1 && jobs >= 3) {
            c.restart_api_server(Duration::from_millis(1500))
                .await
                .expect("the API server restarts");
            restarts += 1;
        }
    };
    assert_eq!(restarts, 2, "the rollout ended before the second restart");
    assert_eq!(
        phase_of(&done).as_deref(),
        Some("Completed"),
        "{:#?}\n{}",
        done.status,
        op.logs(&c)
    );
    assert!(
        !exited(pid) && c.operator_pid(op.idx) == Some(pid),
        "the operator process exited\n{}",
        op.logs(&c)
    );
    assert_clean_rollout(&c, &rec.timeline(), 4, 1).await;
}

#[tokio::test]
async fn operator_leader_steps_down_when_it_cannot_renew_its_lease() {
    let (c, _ns) = common::cluster("operator-renew").await;
    let opts = OperatorOpts::new();
    prepare(&c, &opts).await;
    // Lease of 2 s, renewed 1 s before expiry (see `spawn_as`).
    let replica = spawn_as(&c, &opts, free_port().expect("port"), "replica-renew").await;
    let pid = c.operator_pid(replica.idx).expect("operator pid");
    wait_for(Duration::from_secs(30), || async {
        let leads =
            lease_holder(&c, &opts.namespace).await.as_deref() == Some(replica.identity.as_str());
        let ready = get(replica.admin, "/readyz").await.map(|(code, _)| code) == Some(200);
        (leads && ready).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: never led\n{}", replica.logs(&c)));

    // The API server keeps answering everything but the operator's Lease writes (403: its RBAC
    // for them removed): the leader cannot renew, and must stop acting before its lease runs
    // out (when another replica could take over), then exit to rejoin as a follower.
    let taken = c
        .fail_lease_writes(&opts.namespace)
        .await
        .expect("Lease writes refused");
    let started = std::time::Instant::now();
    wait_for(Duration::from_secs(20), || async {
        exited(pid).then_some(())
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: the leader kept running without renewing its lease\n{}",
            replica.logs(&c)
        )
    });
    let logs = replica.logs(&c);
    assert!(logs.contains("stepping down"), "{logs}");
    println!(
        "the leader exited {:?} after its renewals started failing",
        started.elapsed()
    );
    c.restore_lease_writes(&opts.namespace, taken)
        .await
        .expect("Lease writes allowed again");
}
