//! A short soak on the simulator (as `cargo xtask soak`, the long run, is): a few operations
//! under random faults over six nodes, then every invariant holds. Does process, network and
//! API I/O.

use std::time::Duration;

use kairos_e2e::soak::{self, SoakConfig};

#[tokio::test]
async fn soak_short_run_breaks_no_invariant() {
    let seed: u64 = std::env::var("KAIROS_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("soak seed {seed} (KAIROS_E2E_SEED={seed} replays its choices)");
    let cfg = SoakConfig {
        duration: Duration::from_secs(20),
        settle: Duration::from_secs(25),
        seed,
        nodes: 6,
        job_time: Duration::from_millis(300),
    };
    let report = soak::run(&cfg, &|line| println!("{line}"))
        .await
        .expect("the soak runs");
    let table = report.table();
    println!("{table}");
    assert!(report.violations.is_empty(), "{table}");
    assert!(
        report.faults.values().sum::<usize>() >= 2,
        "too few faults injected: {table}"
    );
    assert!(
        !report.observed.operations.is_empty(),
        "no operation started: {table}"
    );
}
