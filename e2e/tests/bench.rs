//! End to end: the benchmark of `cargo xtask bench` at a small scale, so it keeps working and
//! its accounting stays honest. Always on its own simulator, whatever the backend (it reads the
//! simulator's request log).
//! Besides the benchmark's own checks, asserts the operator's write discipline at steady state:
//! every write it makes is a `lastSeen` update (or its Lease), no write is a no-op, and Nodes
//! are not touched; and that the JSON for machines carries every field.

use std::time::Duration;

use kairos_e2e::bench::{self, BenchConfig, Rollout};
use kairos_e2e::harness::ensure_built;

#[tokio::test]
async fn bench_small_fleet_and_rollout() {
    ensure_built().await.expect("binaries build");
    let cfg = BenchConfig {
        sizes: vec![12],
        heartbeat: Duration::from_millis(700),
        lastseen_interval: Duration::from_secs(2),
        settle: Duration::from_secs(2),
        shared_connection: false,
        insecure: false,
        steady_window: Duration::from_secs(6),
        flood_window: Duration::from_secs(2),
        rollouts: vec![Rollout {
            nodes: 12,
            concurrency: 3,
        }],
        job_duration: Duration::from_millis(300),
    };
    let report = bench::run(&cfg).await.expect("the benchmark runs");
    println!("{}", bench::table(&cfg, &report));

    let [f] = report.fleets.as_slice() else {
        panic!("one fleet size: {report:?}");
    };
    assert_eq!(f.nodes, 12);
    assert!(
        f.tls,
        "the benchmark measures the channel as deployed: {f:?}"
    );
    assert!(f.rss_kib > 0 && f.hwm_kib >= f.rss_kib, "{f:?}");
    assert!(f.reports_per_second > 0.0, "{f:?}");
    assert_eq!(f.failed_reports, 0, "{f:?}");
    // Steady state: KairosNodes change in lastSeen only, Nodes not at all ...
    assert_eq!(f.kairos_node_changes.other, 0, "{f:?}");
    assert_eq!(f.kairos_node_changes.created, 0, "{f:?}");
    assert_eq!(
        f.node_changes.other + f.node_changes.last_seen_only,
        0,
        "{f:?}"
    );
    assert!(
        f.kairos_node_changes.last_seen_only > 0,
        "lastSeen moved in a window three times the interval: {f:?}"
    );
    // ... and every KairosNode write of the operator is one of those changes (no no-op writes,
    // no failed writes).
    let status_writes = f
        .writes_by_kind
        .get("patch kairosnodes/status")
        .copied()
        .unwrap_or(0);
    assert_eq!(status_writes, f.kairos_node_changes.last_seen_only, "{f:?}");
    for kind in f.writes_by_kind.keys() {
        assert!(
            kind == "patch kairosnodes/status" || kind.ends_with(" leases"),
            "unexpected operator write at steady state: {kind}: {f:?}"
        );
    }

    let [r] = report.rollouts.as_slice() else {
        panic!("one rollout: {report:?}");
    };
    assert_eq!(r.targets, 12, "every node is a target: {r:?}");
    assert_eq!(r.jobs, 12, "one Job created per node: {r:?}");
    assert_eq!(r.jobs_run, 12, "the kubelet stand-in ran each: {r:?}");
    assert_eq!(r.failed_nodes, 0, "{r:?}");
    assert_eq!(r.phase, "Completed", "{r:?}");
    assert!(
        r.max_in_flight <= 3,
        "never more than the concurrency: {r:?}"
    );
    assert_eq!(r.left_cordoned, 0, "{r:?}");
    assert!(r.ratio() >= 1.0, "the ideal is a lower bound: {r:?}");
    assert!(
        r.max_status_bytes > 0 && r.max_status_bytes < 1_572_864,
        "the operator's largest write is measured, and far from etcd's limit: {r:?}"
    );

    // The JSON for machines has every field, with the values of the report.
    let doc = bench::json(&report);
    let fleet = &doc["fleets"][0];
    for field in [
        "nodes",
        "tls",
        "correct_s",
        "rss_steady_mib",
        "rss_peak_mib",
        "reports_per_s",
        "writes_per_node_h",
        "failed_reports",
        "lease_gap_s",
    ] {
        assert!(
            fleet.get(field).is_some_and(|v| !v.is_null()),
            "fleet field {field}: {doc}"
        );
    }
    assert_eq!(fleet["nodes"], 12);
    let rollout = &doc["rollouts"][0];
    for field in [
        "nodes",
        "concurrency",
        "wall_s",
        "ideal_s",
        "ratio",
        "jobs",
        "failed_nodes",
        "left_cordoned",
        "max_status_bytes",
    ] {
        assert!(
            rollout.get(field).is_some_and(|v| !v.is_null()),
            "rollout field {field}: {doc}"
        );
    }
    assert_eq!(rollout["jobs"], 12);
    assert_eq!(rollout["concurrency"], 3);
    assert_eq!(rollout["max_status_bytes"], r.max_status_bytes);
}
