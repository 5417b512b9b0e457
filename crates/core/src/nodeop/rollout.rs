//! The rollout of a `NodeOp` across its nodes: which waiting nodes start or stop (a node
//! starts only with its lock, see [`super::lock`]), the uncordon and release of finished nodes
//! this operation still holds, and the cleanup on deletion. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};

use kairos_api::v1alpha1::{NodePhase, NodeStatus};

use super::actions::{Acquire, Action};
use super::build::{self, Role};
use super::context::{Ctx, Out};
use super::lock::{self, NodeLock};
use super::model::NodeInfo;
use super::order::{self, Hold};
use super::reason::Reason;
use super::step::{advance, enter, entry_event, listing, next_phase, uncordon};
use crate::gates::Held;

/// Advances every in-flight node, fails vanished ones, then starts or stops waiting nodes,
/// and finally uncordons and releases the finished nodes this operation still holds.
pub(crate) fn advance_all(c: &Ctx, nodes: &mut BTreeMap<String, NodeStatus>, out: &mut Out) {
    let unfinished: BTreeSet<String> = nodes
        .iter()
        .filter(|(_, s)| !s.phase.is_terminal())
        .map(|(n, _)| n.clone())
        .collect();
    for (name, st) in nodes.iter_mut() {
        if st.phase.is_in_flight() {
            advance(c, name, st, out);
        } else if st.phase == NodePhase::Pending && c.node(name).is_none() {
            let msg = format!("node {name} not found");
            out.event(Some(name), Reason::NodeGone, msg.clone());
            enter(st, NodePhase::Failed, msg, c.now);
        }
    }
    // A Pending node that shows our Job or our cordon did start: its status write was lost.
    // It is in flight whatever the rules for new starts say, so it resumes first.
    for name in started_unrecorded(c, nodes) {
        if !c.observed.locks.contains_key(&name) {
            let control_plane = nodes.get(&name).is_some_and(|s| s.control_plane);
            out.acquire.push(Acquire {
                node: name.clone(),
                control_plane,
                holder: c.holder.clone(),
            });
        }
        start(c, &name, nodes, out);
    }
    // A node may finish in the plan that starts it (a preflight that says "skip", or fails),
    // freeing its slot or stopping the rollout at once: decide again until nothing more
    // starts. Each round moves at least one node out of Pending, so this ends.
    let cordoned: BTreeSet<String> = c
        .observed
        .nodes
        .iter()
        .filter(|n| n.cordoned_by.is_some())
        .map(|n| n.name.clone())
        .collect();
    let mut locks = c.observed.locks.clone();
    loop {
        let (hold, gate) = hold(c, nodes);
        if hold == Some(Hold::StoppedOnFailure) {
            stop_pending(c, nodes, out);
        }
        if let Some(held) = &gate {
            wait_for_gate(c, held, out);
        }
        let (candidates, mut slots) = order::start_order(nodes, c.spec.concurrency, hold);
        let mut started = false;
        for name in candidates {
            if slots == 0 {
                break;
            }
            let Some(control_plane) = nodes.get(&name).map(|s| s.control_plane) else {
                continue;
            };
            if let Some(wait) = blocked(c, &name) {
                if let Some(st) = nodes.get_mut(&name) {
                    st.message = Some(wait);
                }
                out.requeue(c.config.poll_interval);
                continue;
            }
            match lock::admit(
                &locks,
                &cordoned,
                &name,
                control_plane,
                &c.holder,
                c.config.limits,
            ) {
                Ok(()) => {
                    if !c.holds_lock(&name) {
                        out.acquire.push(Acquire {
                            node: name.clone(),
                            control_plane,
                            holder: c.holder.clone(),
                        });
                    }
                    let held = NodeLock {
                        holder: c.holder.clone(),
                        control_plane,
                    };
                    locks.insert(name.clone(), held);
                    start(c, &name, nodes, out);
                    started = true;
                    slots -= 1;
                }
                Err(wait) => {
                    if let Some(st) = nodes.get_mut(&name) {
                        st.message = Some(wait.to_string());
                    }
                    out.requeue(c.config.poll_interval);
                }
            }
        }
        if !started {
            break;
        }
    }
    break_stale_locks(c, out);
    for (name, st) in nodes.iter() {
        if !st.phase.is_terminal() {
            continue;
        }
        let node = c.node(name);
        let uncordons = node.is_some_and(|n| c.ours(n))
            && !keeps_cordon(st.phase, c.spec.uncordon_on_failure());
        if uncordons {
            out.actions.push(uncordon(c, name));
        }
        // A node that finished in this plan lets go of its lock whether or not the lock is
        // observed yet (the cache may not show a lock taken moments ago); an earlier finished
        // one, once its cordon is gone.
        let just_finished = unfinished.contains(name) && st.started_at.is_some();
        if just_finished || (!uncordons && c.holds_lock(name)) {
            out.actions.push(release(c, name));
        }
    }
}

/// Whether a finished node keeps this operation's cordon: only when it failed (or rolled
/// back) and `uncordonOnFailure` is off.
fn keeps_cordon(phase: NodePhase, uncordon_on_failure: bool) -> bool {
    phase.is_failure() && !uncordon_on_failure
}

/// Releases this operation's lock of `node`.
fn release(c: &Ctx, node: &str) -> Action {
    Action::Release {
        node: node.to_owned(),
        holder: c.holder.clone(),
    }
}

/// Breaks every lock whose holder no longer exists (its `NodeOp` was removed without its
/// cleanup): such a lock would hold its node, and the budget, forever.
fn break_stale_locks(c: &Ctx, out: &mut Out) {
    for (node, l) in &c.observed.locks {
        if l.holder != c.holder && !c.observed.live_operations.contains(&l.holder) {
            out.actions.push(Action::BreakLock {
                node: node.clone(),
                holder: l.holder.clone(),
            });
        }
    }
}

/// Why no new node may start, if so, and the gate's hold when that is why (judged once).
fn hold(c: &Ctx, nodes: &BTreeMap<String, NodeStatus>) -> (Option<Hold>, Option<Held>) {
    let failed = nodes.values().any(|s| s.phase.is_failure());
    if c.spec.stop_on_failure() && failed {
        (Some(Hold::StoppedOnFailure), None)
    } else if c.spec.paused() {
        (Some(Hold::Paused), None)
    } else {
        let gate = c.gate(nodes);
        (gate.as_ref().map(|_| Hold::Gate), gate)
    }
}

/// Waits for a gate that holds the whole operation: until it ends by itself (a window
/// opening, a delay passing), else the next poll (an alert resolving).
fn wait_for_gate(c: &Ctx, held: &Held, out: &mut Out) {
    let poll = c.config.poll_interval;
    let wait = held
        .until
        .and_then(|u| u.duration_since(c.now).try_into().ok())
        .map_or(poll, |d: std::time::Duration| {
            d + std::time::Duration::from_secs(1)
        });
    out.requeue(wait);
}

/// Why the pods on `node` that match `blockingPodSelector` keep it waiting, if any do.
fn blocked(c: &Ctx, node: &str) -> Option<String> {
    let pods = c
        .observed
        .gates
        .blocking_pods
        .get(node)
        .filter(|p| !p.is_empty())?;
    Some(format!(
        "waits: pod(s) matching blockingPodSelector run on it: {}",
        listing(pods)
    ))
}

/// Marks every Pending node Stopped: a node failed and `stopOnFailure` is set.
fn stop_pending(c: &Ctx, nodes: &mut BTreeMap<String, NodeStatus>, out: &mut Out) {
    for (name, st) in nodes
        .iter_mut()
        .filter(|(_, s)| s.phase == NodePhase::Pending)
    {
        let msg = "not started: a node failed and stopOnFailure is set".to_owned();
        out.event(Some(name), Reason::NodeStopped, msg.clone());
        enter(st, NodePhase::Stopped, msg, c.now);
    }
}

/// The Pending nodes that carry traces of having started, this operation's Job or cordon, in
/// name order. Found from the Jobs and cordons observed (a few), not by looking at every
/// Pending node (thousands, early in a large rollout).
fn started_unrecorded(c: &Ctx, nodes: &BTreeMap<String, NodeStatus>) -> Vec<String> {
    let with_job = c
        .observed
        .jobs
        .iter()
        .filter(|j| j.name == build::object_name(c.op, &j.node, Role::Job))
        .map(|j| j.node.as_str());
    let cordoned = c
        .observed
        .nodes
        .iter()
        .filter(|n| c.ours(n))
        .map(|n| n.name.as_str());
    let traces: BTreeSet<&str> = with_job.chain(cordoned).collect();
    traces
        .into_iter()
        .filter(|n| nodes.get(*n).is_some_and(|s| s.phase == NodePhase::Pending))
        .map(str::to_owned)
        .collect()
}

/// Moves a Pending node to its first phase and as far as the observations allow.
fn start(c: &Ctx, name: &str, nodes: &mut BTreeMap<String, NodeStatus>, out: &mut Out) {
    let Some(st) = nodes.get_mut(name) else {
        return;
    };
    let to = next_phase(c.spec, NodePhase::Pending);
    out.event(
        Some(name),
        Reason::NodeStarted,
        format!("starting on node {name}"),
    );
    enter(st, to, "started".to_owned(), c.now);
    entry_event(c, name, to, out);
    advance(c, name, st, out);
}

/// On deletion: stops every unfinished node, deletes the Jobs and pods of this operation,
/// uncordons every node it cordoned (failed ones too: the operation is gone), and removes the
/// finalizer once nothing of it remains.
pub(crate) fn cleanup(c: &Ctx, nodes: &mut BTreeMap<String, NodeStatus>, out: &mut Out) {
    for st in nodes.values_mut().filter(|s| !s.phase.is_terminal()) {
        enter(
            st,
            NodePhase::Stopped,
            "the NodeOp is being deleted".to_owned(),
            c.now,
        );
    }
    let ns = build::namespace(c.op, c.config);
    let obs = c.observed;
    for j in obs.jobs.iter().filter(|j| !j.deleting) {
        out.actions.push(Action::DeleteJob {
            namespace: ns.clone(),
            name: j.name.clone(),
        });
    }
    for p in obs.engine_pods.iter().filter(|p| !p.deleting) {
        out.actions.push(Action::DeletePod {
            namespace: ns.clone(),
            name: p.name.clone(),
        });
    }
    let held: Vec<&NodeInfo> = obs.nodes.iter().filter(|n| c.ours(n)).collect();
    for n in &held {
        out.actions.push(uncordon(c, &n.name));
    }
    let locked: Vec<&String> = obs
        .locks
        .iter()
        .filter(|(_, l)| l.holder == c.holder)
        .map(|(n, _)| n)
        .collect();
    for node in &locked {
        out.actions.push(release(c, node));
    }
    let clean = locked.is_empty() && held.is_empty();
    if obs.jobs.is_empty() && obs.engine_pods.is_empty() && clean {
        out.actions.push(Action::RemoveFinalizer);
    } else {
        out.requeue(c.config.poll_interval);
    }
}
