//! The soak's invariants, judged on what the run observed ([`Observed`]): one Job per node per
//! operation, no node left cordoned, every operation terminal, every KairosNode reporting its
//! node's host, no operator panic; and the closing table of faults and violations. No I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// A fault the soak injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// The operator killed and started again on the same ports.
    OperatorKill,
    /// A node's agent killed and started again.
    AgentRestart,
    /// The API server restarted over the same state.
    ApiServerRestart,
    /// Every watch ended (resuming gets 410 Gone).
    WatchDrop,
}

impl Fault {
    /// Every fault, in the table's order.
    pub const ALL: [Fault; 4] = [
        Fault::OperatorKill,
        Fault::AgentRestart,
        Fault::ApiServerRestart,
        Fault::WatchDrop,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::OperatorKill => "operator killed",
            Fault::AgentRestart => "agent restarted",
            Fault::ApiServerRestart => "API server restarted",
            Fault::WatchDrop => "every watch dropped",
        }
    }
}

/// An invariant the soak checks at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// At most one Job per node per operation.
    OneJobPerNodePerOperation,
    /// No node cordoned once every operation ended.
    NoStuckCordon,
    /// Every NodeOp and NodeOpUpgrade in a terminal phase.
    EveryOperationTerminal,
    /// Every Kairos node's KairosNode reports the version its host root holds.
    KairosNodeMatchesHost,
    /// No operator process panicked.
    NoOperatorPanic,
    /// The operator came back after every kill (ready within its timeout).
    OperatorComesBack,
}

impl Invariant {
    /// Every invariant, in the table's order.
    pub const ALL: [Invariant; 6] = [
        Invariant::OneJobPerNodePerOperation,
        Invariant::NoStuckCordon,
        Invariant::EveryOperationTerminal,
        Invariant::KairosNodeMatchesHost,
        Invariant::NoOperatorPanic,
        Invariant::OperatorComesBack,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::OneJobPerNodePerOperation => "one Job per node per operation",
            Invariant::NoStuckCordon => "no stuck cordon",
            Invariant::EveryOperationTerminal => "every operation terminal",
            Invariant::KairosNodeMatchesHost => "every KairosNode matches its host",
            Invariant::NoOperatorPanic => "no operator panic",
            Invariant::OperatorComesBack => "operator ready after every kill",
        }
    }
}

/// One broken invariant, with what broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// What was seen.
    pub detail: String,
}

/// What the soak saw, read from the API and the operator's logs.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Every engine Job seen during the run, by (operation UID, node).
    pub jobs: BTreeMap<(String, String), BTreeSet<String>>,
    /// Nodes unschedulable or carrying the operator's cordon annotation at the end, except
    /// those in [`Observed::failed_cordoned`].
    pub cordoned: Vec<String>,
    /// Nodes left cordoned by an operation that failed them (by design, unless the operation
    /// asks `uncordonOnFailure`): counted in the table, not a violation.
    pub failed_cordoned: Vec<String>,
    /// Operations (`Kind ns/name`) and their phase at the end (`None`: no phase yet).
    pub operations: BTreeMap<String, Option<String>>,
    /// Kairos nodes: (the version its KairosNode reports, the version its host root holds).
    pub versions: BTreeMap<String, (Option<String>, String)>,
    /// Lines of the operator's logs that tell of a panic.
    pub panics: Vec<String>,
    /// Operator restarts that did not become ready, with the error.
    pub failed_restarts: Vec<String>,
}

/// Whether `phase` ends an operation.
pub fn is_terminal(phase: Option<&str>) -> bool {
    matches!(phase, Some("Completed" | "Failed" | "Stopped"))
}

/// Whether a log line tells of a panic (Rust's panic message).
pub fn is_panic_line(line: &str) -> bool {
    line.contains("panicked at")
}

/// The invariants `o` breaks.
pub fn violations(o: &Observed) -> Vec<Violation> {
    let mut out = vec![];
    let mut v = |invariant, detail: String| out.push(Violation { invariant, detail });
    for ((op, node), jobs) in &o.jobs {
        if jobs.len() > 1 {
            let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
            v(
                Invariant::OneJobPerNodePerOperation,
                format!("operation {op} on node {node}: {}", names.join(", ")),
            );
        }
    }
    for node in &o.cordoned {
        v(Invariant::NoStuckCordon, format!("node {node} is cordoned"));
    }
    for (op, phase) in &o.operations {
        if !is_terminal(phase.as_deref()) {
            v(
                Invariant::EveryOperationTerminal,
                format!("{op} is {}", phase.as_deref().unwrap_or("without a phase")),
            );
        }
    }
    for (node, (reported, host)) in &o.versions {
        if reported.as_deref() != Some(host.as_str()) {
            v(
                Invariant::KairosNodeMatchesHost,
                format!(
                    "node {node}: KairosNode reports {}, its host holds {host}",
                    reported.as_deref().unwrap_or("nothing")
                ),
            );
        }
    }
    for line in &o.panics {
        v(Invariant::NoOperatorPanic, line.clone());
    }
    for e in &o.failed_restarts {
        v(Invariant::OperatorComesBack, e.clone());
    }
    out
}

/// The closing table: faults injected, operations by phase, and violations per invariant (each
/// violation listed below it).
pub fn table(
    seed: u64,
    faults: &BTreeMap<Fault, usize>,
    observed: &Observed,
    violations: &[Violation],
) -> String {
    let operations = &observed.operations;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "soak seed {seed} (--seed {seed} replays the same sequence of choices)"
    );
    let _ = writeln!(s, "{:<36} {:>9}", "fault", "injected");
    for f in Fault::ALL {
        let _ = writeln!(
            s,
            "{:<36} {:>9}",
            f.name(),
            faults.get(&f).copied().unwrap_or(0)
        );
    }
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for p in operations.values() {
        *phases.entry(p.as_deref().unwrap_or("(none)")).or_default() += 1;
    }
    let _ = writeln!(s, "{:<36} {:>9}", "operations by phase", "count");
    for (p, n) in &phases {
        let _ = writeln!(s, "{:<36} {:>9}", p, n);
    }
    let _ = writeln!(
        s,
        "{:<36} {:>9}",
        "failed nodes left cordoned",
        observed.failed_cordoned.len()
    );
    let _ = writeln!(s, "{:<36} {:>9}", "invariant", "violated");
    for i in Invariant::ALL {
        let n = violations.iter().filter(|v| v.invariant == i).count();
        let _ = writeln!(s, "{:<36} {:>9}", i.name(), n);
    }
    for v in violations {
        let _ = writeln!(s, "  {}: {}", v.invariant.name(), v.detail);
    }
    s
}

#[cfg(test)]
mod tests;
