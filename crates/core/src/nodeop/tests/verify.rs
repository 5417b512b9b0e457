//! Table tests of the planner's verification hooks (used by upgrades) and of its recovery from
//! a lost status. Test-only; no I/O.

use kairos_api::v1alpha1::{NodePhase as P, OperationPhase};

use super::fixtures::*;
use crate::nodeop::verify::{Verdict, Verifier};
use crate::nodeop::{Action, Config, JobCondition, Plan, plan_with};

/// Says "up to date" when the termination message starts with `same`, and judges every reboot
/// with a fixed verdict.
struct Fake(Verdict);

impl Verifier for Fake {
    fn skip_reboot(&self, _node: &str, message: Option<&str>) -> Option<String> {
        message
            .filter(|m| m.starts_with("same"))
            .map(|_| "host already runs v3.6.0".to_owned())
    }
    fn verify(&self, _node: &str, before: Option<&str>) -> Verdict {
        assert_eq!(before, Some(BOOT_A));
        self.0.clone()
    }
}

fn step_with(
    op: &mut kairos_api::v1alpha1::NodeOp,
    obs: &crate::nodeop::Observed,
    v: &Fake,
    now: i64,
) -> Plan {
    let obs = super::fixtures::with_records(op, obs);
    let p = plan_with(op, &obs, &Config::default(), v, t(now)).unwrap();
    op.status = Some(p.status.clone());
    p
}

/// A cordoned node whose Job succeeded with `message`, rebooting on success.
fn after_job(message: &str) -> (kairos_api::v1alpha1::NodeOp, crate::nodeop::Observed) {
    let mut s = spec();
    s.cordon = Some(true);
    s.reboot_on_success = Some(true);
    let mut n = node("w1");
    n.unschedulable = true;
    n.cordoned_by = Some(ours());
    let mut obs = observed(vec![n]);
    let mut j = job("w1", Some(JobCondition::Complete));
    j.termination_message = Some(message.to_owned());
    obs.jobs.push(j);
    (op(s), obs)
}

#[test]
fn an_up_to_date_node_is_not_rebooted_and_completes_with_the_detail() {
    let (mut op, mut obs) = after_job(&format!("same\n\n{BOOT_A}"));
    let v = Fake(Verdict::Succeeded);
    let p = step_with(&mut op, &obs, &v, 0);
    assert_eq!(phase_of(&p, "w1"), P::Uncordoning);
    assert_eq!(
        p.actions,
        [Action::Uncordon {
            node: "w1".into(),
            cordoned_by: ours()
        }]
    );
    assert!(reasons(&p).contains(&"RebootSkipped"));
    obs.nodes[0].cordoned_by = None;
    obs.nodes[0].unschedulable = false;
    let p = step_with(&mut op, &obs, &v, 10);
    let st = &p.status.node_statuses["w1"];
    assert_eq!(st.phase, P::Completed);
    assert_eq!(
        st.message.as_deref(),
        Some("host already runs v3.6.0; uncordoned")
    );
}

#[test]
fn the_verdict_after_the_reboot_decides_the_node() {
    let cases = [
        (Verdict::Succeeded, P::Uncordoning, 1),
        (
            Verdict::RolledBack("booted passive".into()),
            P::RolledBack,
            0,
        ),
        (Verdict::Failed("wrong version".into()), P::Failed, 0),
        (Verdict::Pending, P::Verifying, 0),
    ];
    for (verdict, expected, uncordons) in cases {
        let (mut op, mut obs) = after_job(&format!("upgraded\n{BOOT_A}\n"));
        let v = Fake(verdict.clone());
        let p = step_with(&mut op, &obs, &v, 0);
        assert_eq!(phase_of(&p, "w1"), P::Rebooting);
        obs.nodes[0].boot_id = Some(BOOT_B.into());
        let p = step_with(&mut op, &obs, &v, 10);
        assert_eq!(phase_of(&p, "w1"), expected, "{verdict:?}");
        let n = p
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Uncordon { .. }))
            .count();
        assert_eq!(n, uncordons, "a rolled back or failed node stays cordoned");
        if expected == P::RolledBack {
            assert_eq!(p.status.failed, 1);
            assert_eq!(p.status.phase, Some(OperationPhase::Failed));
        }
    }
}

#[test]
fn verifying_times_out_when_the_verdict_stays_pending() {
    let (mut op, mut obs) = after_job(BOOT_A);
    let v = Fake(Verdict::Pending);
    step_with(&mut op, &obs, &v, 0);
    obs.nodes[0].boot_id = Some(BOOT_B.into());
    step_with(&mut op, &obs, &v, 10);
    let p = step_with(&mut op, &obs, &v, 10 + 900);
    assert_eq!(phase_of(&p, "w1"), P::Failed);
    assert!(reasons(&p).contains(&"VerifyTimedOut"));
}

#[test]
fn after_a_lost_status_a_node_with_a_job_resumes_before_any_other_starts() {
    let mut s = spec();
    s.concurrency = 1;
    let mut op = op(s);
    let mut obs = observed(vec![node("a"), node("b")]);
    step(&mut op, &obs, t(0));
    // The status is lost entirely, and meanwhile "b" somehow got its Job (say, an older
    // operator ran with a different order): "b" resumes first, "a" waits.
    op.status = None;
    obs.jobs.push(job("b", None));
    let p = step(&mut op, &obs, t(10));
    assert_eq!(phase_of(&p, "b"), P::Running);
    assert_eq!(phase_of(&p, "a"), P::Pending);
    assert!(creates_job_for(&p).is_empty());
}
