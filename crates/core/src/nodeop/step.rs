//! The per-node state machine of the `NodeOp` engine: moves one node in flight as far as the
//! observations allow, one phase handler per phase. Pure: no I/O.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kairos_api::v1alpha1::{NodeOpSpec, NodePhase, NodeStatus};

use super::actions::Action;
use super::build::{self, Role};
use super::context::{Ctx, Out};
use super::drain;
use super::model::{JobCondition, NodeInfo, PodPhase};
use super::reason::Reason;
use super::verify::Verdict;

/// Bound on the transitions of one node in one plan (the machine has fewer phases).
const MAX_STEPS: usize = 12;
/// At most this many names are listed in a message.
const MAX_LISTED: usize = 10;

/// The phase after `from`, skipping the phases the spec does not ask for.
pub(crate) fn next_phase(spec: &NodeOpSpec, from: NodePhase) -> NodePhase {
    use NodePhase as P;
    let next = match from {
        P::Pending => P::Preflight,
        P::Preflight => P::Cordoning,
        P::Cordoning => P::Draining,
        P::Draining => P::Running,
        P::Running if spec.reboot_on_success() => P::Rebooting,
        P::Running | P::Verifying => P::Uncordoning,
        P::Rebooting => P::Verifying,
        other => {
            return if other.is_terminal() {
                other
            } else {
                P::Completed
            };
        }
    };
    let wanted = match next {
        P::Preflight => spec.preflight.is_some(),
        P::Cordoning => spec.cordon(),
        P::Draining => spec.drain(),
        _ => true,
    };
    if wanted { next } else { next_phase(spec, next) }
}

/// Records a transition of `st` to `to` at `now`.
pub(crate) fn enter(st: &mut NodeStatus, to: NodePhase, message: String, now: Timestamp) {
    if st.phase == NodePhase::Pending && to.is_in_flight() {
        st.started_at = Some(Time(now));
    }
    st.phase = to;
    st.message = Some(message);
    st.last_transition_time = Some(Time(now));
    if to.is_terminal() {
        st.finished_at = Some(Time(now));
    }
}

/// `a, b, c and N more`.
pub(crate) fn listing(names: &[String]) -> String {
    let shown = names.iter().take(MAX_LISTED).cloned().collect::<Vec<_>>();
    let rest = names.len().saturating_sub(MAX_LISTED);
    if rest == 0 {
        shown.join(", ")
    } else {
        format!("{} and {rest} more", shown.join(", "))
    }
}

/// What a phase handler decided.
enum Flow {
    /// Stay; the message describes what the node waits for.
    Wait(String),
    /// Move to the phase, with the status message and an event reason.
    Go(NodePhase, Reason, String),
}

pub(crate) fn uncordon(c: &Ctx, node: &str) -> Action {
    Action::Uncordon {
        node: node.to_owned(),
        cordoned_by: c.op.cordoned_by(),
    }
}

/// The event announcing what a node does in the phase it just entered, if any.
pub(crate) fn entry_event(c: &Ctx, name: &str, to: NodePhase, out: &mut Out) {
    let (reason, msg) = match to {
        NodePhase::Draining => (Reason::DrainStarted, format!("draining node {name}")),
        NodePhase::Running => {
            let job = build::object_name(c.op, name, Role::Job);
            (
                Reason::JobCreated,
                format!("running Job {job} on node {name}"),
            )
        }
        NodePhase::Rebooting => (Reason::Rebooting, format!("rebooting node {name}")),
        _ => return,
    };
    out.event(Some(name), reason, msg);
}

/// Moves one node in flight as far as the observations allow.
pub(crate) fn advance(c: &Ctx, name: &str, st: &mut NodeStatus, out: &mut Out) {
    let Some(node) = c.node(name) else {
        let msg = format!("node {name} no longer exists");
        out.event(Some(name), Reason::NodeGone, msg.clone());
        enter(st, NodePhase::Failed, msg, c.now);
        return;
    };
    for _ in 0..MAX_STEPS {
        let flow = match st.phase {
            NodePhase::Preflight => preflight(c, node, st, out),
            NodePhase::Cordoning => cordoning(c, node, st, out),
            NodePhase::Draining => draining(c, node, st, out),
            NodePhase::Running => running(c, node, st, out),
            NodePhase::Rebooting => rebooting(c, node, st, out),
            NodePhase::Verifying => verifying(c, node, st),
            NodePhase::Uncordoning => uncordoning(c, node, st, out),
            _ => return,
        };
        match flow {
            Flow::Wait(msg) => {
                st.message = Some(msg);
                out.requeue(c.config.poll_interval);
                return;
            }
            Flow::Go(to, reason, msg) => {
                out.event(Some(name), reason, msg.clone());
                enter(st, to, msg, c.now);
                entry_event(c, name, to, out);
            }
        }
    }
}

fn preflight(c: &Ctx, node: &NodeInfo, st: &NodeStatus, out: &mut Out) -> Flow {
    let pod_name = build::object_name(c.op, &node.name, Role::Preflight);
    let pod = c.engine_pod(&pod_name);
    if let Some(p) = pod.filter(|p| p.phase.is_finished()) {
        let said = p.termination_message.as_deref().map(str::trim);
        return match said.filter(|m| !m.is_empty()) {
            Some(m) => Flow::Go(
                NodePhase::Skipped,
                Reason::NodeSkipped,
                format!("skipped: preflight pod {pod_name} said: {m}"),
            ),
            // `paused` holds every node that has not been cordoned yet, one that passed its
            // preflight included.
            None if p.phase == PodPhase::Succeeded && c.spec.paused() => Flow::Wait(format!(
                "preflight pod {pod_name} passed; paused: spec.paused holds the node before anything disruptive"
            )),
            None if p.phase == PodPhase::Succeeded => Flow::Go(
                next_phase(c.spec, NodePhase::Preflight),
                Reason::PreflightPassed,
                format!("preflight pod {pod_name} passed"),
            ),
            None => Flow::Go(
                NodePhase::Failed,
                Reason::PreflightFailed,
                format!("preflight pod {pod_name} failed without a termination message"),
            ),
        };
    }
    // The preflight pod runs in the operation's image (unless it names its own): one that
    // cannot start fails the node before anything disruptive, saying why.
    if let Some(why) = pod.and_then(|p| p.cannot_start.as_deref()) {
        out.actions.push(Action::DeletePod {
            namespace: build::namespace(c.op, c.config),
            name: pod_name.clone(),
        });
        let msg = format!(
            "preflight pod {pod_name} cannot start on node {}: {why}; nothing was cordoned",
            node.name
        );
        return Flow::Go(NodePhase::Failed, Reason::PreflightCannotStart, msg);
    }
    if c.timed_out(st, c.config.preflight_timeout) {
        let limit = c.config.preflight_timeout.as_secs();
        let msg = format!("preflight pod {pod_name} did not finish within {limit}s");
        return Flow::Go(NodePhase::Failed, Reason::PreflightFailed, msg);
    }
    if pod.is_none() {
        let built = build::build_preflight_pod(c.op, c.spec, &node.name, c.config);
        out.actions
            .push(Action::CreatePreflightPod(Box::new(built)));
    }
    Flow::Wait(format!("waiting for preflight pod {pod_name}"))
}

fn cordoning(c: &Ctx, node: &NodeInfo, st: &mut NodeStatus, out: &mut Out) -> Flow {
    let next = next_phase(c.spec, NodePhase::Cordoning);
    if c.ours(node) && node.unschedulable {
        st.cordoned = true;
        return Flow::Go(
            next,
            Reason::NodeCordoned,
            format!("cordoned node {}", node.name),
        );
    }
    if node.unschedulable && !c.ours(node) {
        st.cordoned = false;
        let msg = format!("node {} was already cordoned by someone else", node.name);
        return Flow::Go(
            next,
            Reason::AlreadyCordoned,
            format!("{msg}; it stays cordoned"),
        );
    }
    out.actions.push(Action::Cordon {
        node: node.name.clone(),
        cordoned_by: c.op.cordoned_by(),
    });
    Flow::Wait("cordoning".to_owned())
}

fn draining(c: &Ctx, node: &NodeInfo, st: &NodeStatus, out: &mut Out) -> Flow {
    let Some(pods) = c.observed.node_pods.get(&node.name) else {
        return Flow::Wait("listing the node's pods".to_owned());
    };
    let opts = c.spec.drain_options.as_ref();
    let view = drain::classify(pods, opts);
    if !view.refused.is_empty() {
        let msg = format!("cannot drain: {}", listing(&view.refusals()));
        return Flow::Go(NodePhase::Failed, Reason::DrainRefused, msg);
    }
    if view.is_done() {
        let next = next_phase(c.spec, NodePhase::Draining);
        return Flow::Go(
            next,
            Reason::DrainCompleted,
            format!("drained node {}", node.name),
        );
    }
    let timeout = drain::timeout_seconds(opts);
    if c.timed_out(st, Duration::from_secs(timeout.unsigned_abs())) {
        let blocking = listing(&view.blocking());
        let msg = format!("drain timed out after {timeout}s; blocked by pods: {blocking}");
        return Flow::Go(NodePhase::Failed, Reason::DrainBlocked, msg);
    }
    for p in &view.evict {
        out.actions.push(Action::Evict {
            namespace: p.namespace.clone(),
            pod: p.name.clone(),
            grace_period_seconds: drain::grace_period(opts),
        });
    }
    Flow::Wait(format!("evicting pods: {}", listing(&view.blocking())))
}

fn running(c: &Ctx, node: &NodeInfo, st: &mut NodeStatus, out: &mut Out) -> Flow {
    let job_name = build::object_name(c.op, &node.name, Role::Job);
    st.job_name = Some(job_name.clone());
    if c.spec.reboot_on_success() && st.boot_id_before.is_none() {
        st.boot_id_before = c.boot_id(node);
    }
    let Some(j) = c.job(&job_name) else {
        if st.attempts.is_some() {
            let msg = format!("Job {job_name} disappeared before its result was read");
            return Flow::Go(NodePhase::Failed, Reason::JobLost, msg);
        }
        let built = build::build_job(c.op, c.spec, &node.name, c.config);
        out.actions.push(Action::CreateJob(Box::new(built)));
        return Flow::Wait(format!("creating Job {job_name}"));
    };
    let attempts = j.active + j.succeeded + j.failed;
    st.attempts = Some(attempts);
    match &j.condition {
        Some(JobCondition::Complete) => {
            let said = j.termination_message.as_deref();
            if c.spec.reboot_on_success() {
                if let Some(detail) = c.verifier.skip_reboot(&node.name, said) {
                    return Flow::Go(NodePhase::Uncordoning, Reason::RebootSkipped, detail);
                }
                if let Some(recorded) = said.and_then(build::parse_boot_id) {
                    st.boot_id_before = Some(recorded);
                }
            }
            let next = next_phase(c.spec, NodePhase::Running);
            Flow::Go(
                next,
                Reason::JobSucceeded,
                format!("Job {job_name} succeeded"),
            )
        }
        Some(JobCondition::Failed { reason, message }) => {
            let mut msg = format!("Job {job_name} failed after {attempts} attempt(s): {reason}");
            if !message.is_empty() {
                msg = format!("{msg}: {message}");
            }
            let said = j.termination_message.as_deref().map(str::trim);
            if let Some(t) = said.filter(|t| !t.is_empty()) {
                msg = format!("{msg} (last pod said: {t})");
            }
            Flow::Go(NodePhase::Failed, Reason::JobFailed, msg)
        }
        None => match &j.cannot_start {
            // The kubelet would retry for the whole Job timeout with the node drained: a pod
            // that cannot start fails the node now, saying why.
            Some(why) => {
                out.actions.push(Action::DeleteJob {
                    namespace: build::namespace(c.op, c.config),
                    name: job_name.clone(),
                });
                let msg = format!("Job {job_name} cannot start on node {}: {why}", node.name);
                Flow::Go(NodePhase::Failed, Reason::JobCannotStart, msg)
            }
            None => Flow::Wait(format!("Job {job_name} running (attempt {attempts})")),
        },
    }
}

fn rebooting(c: &Ctx, node: &NodeInfo, st: &NodeStatus, out: &mut Out) -> Flow {
    let Some(before) = st.boot_id_before.clone() else {
        let msg = "cannot reboot safely: no boot ID is known for the node (no agent report, \
                   no Node bootID, no boot ID in the Job's termination message)";
        return Flow::Go(NodePhase::Failed, Reason::RebootFailed, msg.to_owned());
    };
    if let Some(now_id) = c.new_boot_id(node, &before) {
        let msg = format!("node rebooted: boot ID changed from {before} to {now_id}");
        return Flow::Go(NodePhase::Verifying, Reason::Rebooted, msg);
    }
    let pod_name = build::object_name(c.op, &node.name, Role::Reboot);
    let pod = c.engine_pod(&pod_name);
    if c.timed_out(st, c.config.reboot_timeout) {
        let phase = pod.map_or("missing".to_owned(), |p| format!("{:?}", p.phase));
        let limit = c.config.reboot_timeout.as_secs();
        let agent = c.agent_boot_id(node);
        let msg = match Ctx::kubelet_boot_id(node) {
            Some(kubelet) if *kubelet != before && agent.is_some_and(|a| a != kubelet) => {
                let agent = agent.map_or("", String::as_str);
                format!(
                    "the kubelet reports a new boot ID ({kubelet}) but the node's agent did not \
                     report it within {limit}s (its last report shows boot ID {agent}; reboot \
                     pod {pod_name}: {phase})"
                )
            }
            _ => format!(
                "no new boot ID within {limit}s (boot ID still {before}; reboot pod {pod_name}: {phase})"
            ),
        };
        return Flow::Go(NodePhase::Failed, Reason::RebootTimedOut, msg);
    }
    if pod.is_none() {
        let built = build::build_reboot_pod(c.op, c.spec, &node.name, &before, c.config);
        out.actions.push(Action::CreateRebootPod(Box::new(built)));
    }
    Flow::Wait(format!("waiting for a new boot ID (was {before})"))
}

fn verifying(c: &Ctx, node: &NodeInfo, st: &NodeStatus) -> Flow {
    let verdict = if node.ready {
        c.verifier.verify(&node.name, st.boot_id_before.as_deref())
    } else {
        Verdict::Pending
    };
    match verdict {
        Verdict::Succeeded => {
            let msg = format!(
                "reboot confirmed: node {} is Ready with a new boot ID",
                node.name
            );
            Flow::Go(NodePhase::Uncordoning, Reason::RebootConfirmed, msg)
        }
        Verdict::RolledBack(msg) => Flow::Go(NodePhase::RolledBack, Reason::RolledBack, msg),
        Verdict::Failed(msg) => Flow::Go(NodePhase::Failed, Reason::VerifyFailed, msg),
        Verdict::Pending if c.timed_out(st, c.config.reboot_timeout) => {
            let limit = c.config.reboot_timeout.as_secs();
            let what = if node.ready {
                "was not verified"
            } else {
                "did not become Ready"
            };
            let msg = format!("node {} {what} within {limit}s after its reboot", node.name);
            Flow::Go(NodePhase::Failed, Reason::VerifyTimedOut, msg)
        }
        Verdict::Pending if node.ready => Flow::Wait("verifying the node".to_owned()),
        Verdict::Pending => Flow::Wait("waiting for the node to become Ready".to_owned()),
    }
}

/// Keeps the message the node entered Uncordoning with (what made it succeed) and adds the
/// uncordon to it.
fn uncordoning(c: &Ctx, node: &NodeInfo, st: &NodeStatus, out: &mut Out) -> Flow {
    let why = st.message.clone().unwrap_or_default();
    if c.ours(node) {
        out.actions.push(uncordon(c, &node.name));
        return Flow::Wait(why);
    }
    let msg = if st.cordoned {
        format!("{why}; uncordoned")
    } else {
        why
    };
    Flow::Go(NodePhase::Completed, Reason::NodeCompleted, msg)
}
