use super::*;

fn clean() -> Observed {
    let mut o = Observed::default();
    o.jobs.insert(
        ("uid-1".into(), "n1".into()),
        BTreeSet::from(["job-a".to_string()]),
    );
    o.operations
        .insert("NodeOp soak/op-1".into(), Some("Completed".into()));
    o.operations
        .insert("NodeOpUpgrade soak/up-1".into(), Some("Failed".into()));
    o.versions
        .insert("n1".into(), (Some("v3.6.0".into()), "v3.6.0".into()));
    o
}

#[test]
fn a_clean_run_breaks_nothing() {
    assert_eq!(violations(&clean()), vec![]);
}

#[test]
fn each_invariant_is_judged() {
    let mut o = clean();
    o.jobs
        .get_mut(&("uid-1".to_string(), "n1".to_string()))
        .expect("job")
        .insert("job-b".into());
    o.cordoned.push("n2".into());
    o.operations
        .insert("NodeOp soak/op-2".into(), Some("Running".into()));
    o.operations.insert("NodeOp soak/op-3".into(), None);
    o.versions
        .insert("n3".into(), (Some("v3.5.0".into()), "v3.6.0".into()));
    o.panics
        .push("thread 'main' panicked at src/x.rs:1:1".into());
    o.failed_restarts.push("not ready".into());
    let got: Vec<Invariant> = violations(&o).iter().map(|v| v.invariant).collect();
    assert_eq!(
        got,
        vec![
            Invariant::OneJobPerNodePerOperation,
            Invariant::NoStuckCordon,
            Invariant::EveryOperationTerminal,
            Invariant::EveryOperationTerminal,
            Invariant::KairosNodeMatchesHost,
            Invariant::NoOperatorPanic,
            Invariant::OperatorComesBack,
        ]
    );
}

#[test]
fn the_table_counts_faults_phases_and_violations() {
    let faults = BTreeMap::from([(Fault::OperatorKill, 3), (Fault::WatchDrop, 2)]);
    let mut o = clean();
    o.failed_cordoned.push("n4".into());
    let v = vec![Violation {
        invariant: Invariant::NoStuckCordon,
        detail: "node n2 is cordoned".into(),
    }];
    let t = table(7, &faults, &o, &v);
    assert!(t.contains("soak seed 7"), "{t}");
    let row = |name: &str| {
        t.lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().last().unwrap_or_default().to_owned())
    };
    assert_eq!(row("operator killed").as_deref(), Some("3"));
    assert_eq!(row("agent restarted").as_deref(), Some("0"));
    assert_eq!(row("every watch dropped").as_deref(), Some("2"));
    assert_eq!(row("Completed").as_deref(), Some("1"));
    assert_eq!(row("failed nodes left cordoned").as_deref(), Some("1"));
    assert_eq!(row("no stuck cordon").as_deref(), Some("1"));
    assert_eq!(row("no operator panic").as_deref(), Some("0"));
    assert!(t.contains("node n2 is cordoned"), "{t}");
}

#[test]
fn panic_lines_and_terminal_phases() {
    assert!(is_panic_line(
        "thread 'tokio-runtime-worker' panicked at crates/x.rs:3:5:"
    ));
    assert!(!is_panic_line("INFO reconciled"));
    assert!(is_terminal(Some("Stopped")));
    assert!(!is_terminal(Some("Running")));
    assert!(!is_terminal(None));
}
