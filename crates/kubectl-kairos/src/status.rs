//! `kubectl kairos status`: the fleet at a glance, computed from the objects read (KairosNodes,
//! Nodes, NodeOps, NodeOpUpgrades) and rendered as text. Pure: takes the objects and `now`,
//! returns a string; no I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kairos_api::names::{
    ANNOTATION_CORDONED_BY, LABEL_KAIROSNODE, LABEL_NODEOP_UPGRADE, conditions,
};
use kairos_api::v1alpha1::{OperationPhase, UpgradeState};
use kairos_api::{KairosNode, NodeOp, NodeOpUpgrade};
use kairos_core::boot::state_name;

use crate::table::{Cell, Tone, age, render};

/// What `status` reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fleet<'a> {
    pub(crate) kairos_nodes: &'a [KairosNode],
    pub(crate) nodes: &'a [Node],
    pub(crate) nodeops: &'a [NodeOp],
    pub(crate) upgrades: &'a [NodeOpUpgrade],
}

/// The fleet as text: node count, versions and boot states with counts, nodes not reporting
/// or degraded, operations in flight with progress and hold, nodes the operator cordoned and
/// why. `colour` paints states (only for a terminal).
pub(crate) fn render_status(fleet: Fleet<'_>, now: Timestamp, colour: bool) -> String {
    let mut kns: Vec<&KairosNode> = fleet.kairos_nodes.iter().collect();
    kns.sort_by_key(|k| name(&k.metadata));
    let mut out = format!("Kairos nodes: {}\n\n", kns.len());

    let versions = count(kns.iter().map(|k| {
        k.status
            .as_ref()
            .and_then(|s| s.kairos.as_ref())
            .and_then(|k| k.version.clone())
            .unwrap_or_else(|| "unknown".to_owned())
    }));
    let rows: Vec<Vec<Cell>> = versions
        .into_iter()
        .map(|(v, n)| vec![Cell::plain(v), Cell::plain(n.to_string())])
        .collect();
    render(&mut out, &["VERSION", "NODES"], &rows, colour);
    out.push('\n');

    let boots = count(kns.iter().map(|k| {
        state_name(
            k.status
                .as_ref()
                .and_then(|s| s.boot_state)
                .unwrap_or_default(),
        )
        .to_owned()
    }));
    let rows: Vec<Vec<Cell>> = boots
        .into_iter()
        .map(|(b, n)| {
            let tone = if b == "active" {
                Tone::Plain
            } else {
                Tone::Warn
            };
            vec![Cell::toned(b, tone), Cell::plain(n.to_string())]
        })
        .collect();
    render(&mut out, &["BOOT", "NODES"], &rows, colour);

    let troubled: Vec<Vec<Cell>> = kns
        .iter()
        .filter_map(|k| {
            let problems = problems(k);
            (!problems.is_empty()).then(|| {
                let seen = k
                    .status
                    .as_ref()
                    .and_then(|s| s.last_seen.as_ref())
                    .map_or_else(|| "never".to_owned(), |t| age(t.0, now));
                vec![
                    Cell::plain(name(&k.metadata)),
                    Cell::plain(seen),
                    Cell::toned(problems.join("; "), Tone::Bad),
                ]
            })
        })
        .collect();
    section(
        &mut out,
        "Not reporting or degraded",
        &["NODE", "LAST SEEN", "PROBLEM"],
        &troubled,
        colour,
    );

    let operations = operations(fleet);
    section(
        &mut out,
        "Operations in flight",
        &[
            "OPERATION",
            "KIND",
            "PHASE",
            "DONE",
            "SKIPPED",
            "FAILED",
            "HELD",
        ],
        &operations,
        colour,
    );

    let cordoned = cordoned(fleet);
    section(
        &mut out,
        "Cordoned by the operator",
        &["NODE", "BY", "WHY"],
        &cordoned,
        colour,
    );
    out
}

/// A titled table with its row count, or `none`.
fn section(out: &mut String, title: &str, headers: &[&str], rows: &[Vec<Cell>], colour: bool) {
    if rows.is_empty() {
        out.push_str(&format!("\n{title}: none\n"));
    } else {
        out.push_str(&format!("\n{title}: {}\n", rows.len()));
        render(out, headers, rows, colour);
    }
}

fn name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn full_name(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        name(meta)
    )
}

/// How many of each value, ordered by value.
fn count(values: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

/// What is wrong with a node: its agent stopped reporting (`Reporting` not True), it reported
/// errors (`Degraded` True), or its last upgrade failed or rolled back.
fn problems(k: &KairosNode) -> Vec<String> {
    let Some(status) = &k.status else {
        return vec!["no report yet".to_owned()];
    };
    let find = |t: &str| status.conditions.iter().find(|c| c.type_ == t);
    let mut out = Vec::new();
    if let Some(c) = find(conditions::REPORTING).filter(|c| c.status != "True") {
        out.push(format!("not reporting: {}", said(c)));
    }
    if let Some(c) = find(conditions::DEGRADED).filter(|c| c.status == "True") {
        out.push(format!("degraded: {}", said(c)));
    }
    if let Some(u) = status
        .upgrade
        .as_ref()
        .filter(|u| matches!(u.state, UpgradeState::Failed | UpgradeState::RolledBack))
    {
        out.push(format!(
            "upgrade {:?}: {}",
            u.state,
            u.message.as_deref().unwrap_or("no message")
        ));
    }
    out
}

/// A condition's message, else its reason.
fn said(c: &Condition) -> &str {
    if c.message.is_empty() {
        &c.reason
    } else {
        &c.message
    }
}

fn phase_tone(phase: Option<OperationPhase>) -> Tone {
    match phase {
        Some(OperationPhase::Completed) => Tone::Good,
        Some(OperationPhase::Failed | OperationPhase::Stopped) => Tone::Bad,
        _ => Tone::Warn,
    }
}

fn in_flight(phase: Option<OperationPhase>) -> bool {
    matches!(
        phase,
        None | Some(OperationPhase::Pending | OperationPhase::Running)
    )
}

/// The `Held` condition's message when the operation is held: `reason: message`.
fn held(reason: Option<&str>, conds: &[Condition]) -> Cell {
    match reason {
        None => Cell::plain(""),
        Some(reason) => {
            let message = conds
                .iter()
                .find(|c| c.type_ == conditions::HELD && c.status == "True")
                .map(|c| c.message.as_str())
                .filter(|m| !m.is_empty());
            let text = match message {
                Some(m) => format!("{reason}: {m}"),
                None => reason.to_owned(),
            };
            Cell::toned(text, Tone::Warn)
        }
    }
}

/// NodeOpUpgrades and NodeOps not finished, by namespace and name, with the nodes done (not
/// counting the skipped ones) of all, skipped and failed; a NodeOp that a NodeOpUpgrade owns
/// shows as its upgrade, a per-node upgrade's NodeOp as `upgrade of <node>`.
fn operations(fleet: Fleet<'_>) -> Vec<Vec<Cell>> {
    let mut rows: Vec<(String, Vec<Cell>)> = Vec::new();
    for u in fleet.upgrades {
        let st = u.status.clone().unwrap_or_default();
        if !in_flight(st.phase) {
            continue;
        }
        let id = full_name(&u.metadata);
        rows.push((
            id.clone(),
            vec![
                Cell::plain(id),
                Cell::plain("NodeOpUpgrade"),
                phase_cell(st.phase),
                Cell::plain(format!("{}/{}", st.completed, st.total)),
                Cell::plain(st.skipped.to_string()),
                failed_cell(st.failed),
                held(st.held.as_deref(), &st.conditions),
            ],
        ));
    }
    for op in fleet.nodeops {
        let labels = op.metadata.labels.clone().unwrap_or_default();
        let st = op.status.clone().unwrap_or_default();
        if labels.contains_key(LABEL_NODEOP_UPGRADE) || !in_flight(st.phase) {
            continue;
        }
        let kind = match labels.get(LABEL_KAIROSNODE) {
            Some(node) => format!("upgrade of {node}"),
            None => "NodeOp".to_owned(),
        };
        let id = full_name(&op.metadata);
        rows.push((
            id.clone(),
            vec![
                Cell::plain(id),
                Cell::plain(kind),
                phase_cell(st.phase),
                // A NodeOp counts its skipped nodes in `completed` too.
                Cell::plain(format!("{}/{}", st.completed - st.skipped, st.total)),
                Cell::plain(st.skipped.to_string()),
                failed_cell(st.failed),
                held(st.held.as_deref(), &st.conditions),
            ],
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter().map(|(_, r)| r).collect()
}

fn phase_cell(phase: Option<OperationPhase>) -> Cell {
    let text = phase.map_or_else(|| "Pending".to_owned(), |p| format!("{p:?}"));
    Cell::toned(text, phase_tone(phase))
}

fn failed_cell(failed: i32) -> Cell {
    let tone = if failed > 0 { Tone::Bad } else { Tone::Plain };
    Cell::toned(failed.to_string(), tone)
}

/// Nodes cordoned (unschedulable) with the operator's `cordoned-by` record: which operation,
/// and the node's phase and message in it.
fn cordoned(fleet: Fleet<'_>) -> Vec<Vec<Cell>> {
    let mut nodes: Vec<&Node> = fleet
        .nodes
        .iter()
        .filter(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .collect();
    nodes.sort_by_key(|n| name(&n.metadata));
    nodes
        .into_iter()
        .filter_map(|n| {
            let holder = n
                .metadata
                .annotations
                .as_ref()?
                .get(ANNOTATION_CORDONED_BY)?;
            let op_id = holder.split_once('@').map_or(holder.as_str(), |(id, _)| id);
            let node = name(&n.metadata);
            let why = fleet
                .nodeops
                .iter()
                .find(|op| full_name(&op.metadata) == op_id)
                .map_or_else(
                    || "its operation no longer exists".to_owned(),
                    |op| node_why(op, &node),
                );
            Some(vec![
                Cell::plain(node),
                Cell::plain(op_id),
                Cell::plain(why),
            ])
        })
        .collect()
}

/// The node's phase and message in `op`, as its status lists it.
fn node_why(op: &NodeOp, node: &str) -> String {
    let st = op.status.as_ref().and_then(|s| s.node_statuses.get(node));
    match st {
        Some(st) => {
            let phase = format!("{:?}", st.phase);
            match st.message.as_deref() {
                Some(m) if !m.is_empty() => format!("{phase}: {m}"),
                _ => phase,
            }
        }
        None => "not listed in the operation's status".to_owned(),
    }
}

#[cfg(test)]
mod tests;
