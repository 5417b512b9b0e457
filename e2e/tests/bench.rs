//! End to end: the benchmark of `cargo xtask bench` at a small scale, so it keeps working and
//! its accounting stays honest. Always on its own simulator, whatever the backend (it reads the
//! simulator's request log).
//! Besides the benchmark's own checks, asserts the operator's write discipline at steady state:
//! every write it makes is a `lastSeen` update (or its Lease), no write is a no-op, and Nodes
//! are not touched.

use std::time::Duration;

use kairos_e2e::bench::{self, BenchConfig};
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
        steady_window: Duration::from_secs(6),
        flood_window: Duration::from_secs(2),
        rollout_nodes: 12,
        concurrency: 3,
        job_duration: Duration::from_millis(300),
    };
    let report = bench::run(&cfg).await.expect("the benchmark runs");
    println!("{}", bench::table(&cfg, &report));

    let [f] = report.fleets.as_slice() else {
        panic!("one fleet size: {report:?}");
    };
    assert_eq!(f.nodes, 12);
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

    let r = report.rollout.expect("the rollout ran");
    assert_eq!(r.jobs, 12, "one Job per node: {r:?}");
    assert!(
        r.max_in_flight <= 3,
        "never more than the concurrency: {r:?}"
    );
    assert_eq!(r.left_cordoned, 0, "{r:?}");
    assert!(r.ratio() >= 1.0, "the ideal is a lower bound: {r:?}");
}
