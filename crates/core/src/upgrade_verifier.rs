//! Joins the NodeOp engine and the upgrade logic: the [`Verifier`] used for upgrade `NodeOp`s,
//! which skips the reboot of a node the script found up to date and judges a rebooted node by
//! its agent's report (target version booted from the active system). Pure: no I/O.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::KairosNodeStatus;

use crate::nodeop::{Verdict, Verifier};
use crate::upgrade::{JobOutcome, UpgradeTarget, Verification, job_outcome, verify_upgrade};

/// The verifier of one upgrade `NodeOp`.
#[derive(Clone, Debug)]
pub struct UpgradeVerifier {
    /// What the upgrade installs.
    pub target: UpgradeTarget,
    /// The latest `KairosNode` status of each target node (absent: the agent never reported).
    pub reports: BTreeMap<String, KairosNodeStatus>,
}

impl Verifier for UpgradeVerifier {
    fn skip_reboot(&self, _node: &str, termination_message: Option<&str>) -> Option<String> {
        match job_outcome(termination_message) {
            JobOutcome::UpToDate { detail } => Some(detail),
            JobOutcome::Upgraded => None,
        }
    }

    fn verify(&self, node: &str, boot_id_before: Option<&str>) -> Verdict {
        let Some(report) = self.reports.get(node) else {
            return Verdict::Pending;
        };
        match verify_upgrade(self.target.version.as_deref(), report, boot_id_before) {
            Verification::Pending => Verdict::Pending,
            Verification::Succeeded => Verdict::Succeeded,
            Verification::RolledBack(m) => Verdict::RolledBack(m),
            Verification::Failed(m) => Verdict::Failed(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use kairos_api::v1alpha1::{BootState, KairosInfo};

    use super::*;

    fn report(version: &str, boot: BootState, boot_id: &str) -> KairosNodeStatus {
        KairosNodeStatus {
            kairos: Some(KairosInfo {
                version: Some(version.into()),
                ..KairosInfo::default()
            }),
            boot_state: Some(boot),
            boot_id: Some(boot_id.into()),
            ..KairosNodeStatus::default()
        }
    }

    fn verifier(reports: &[(&str, KairosNodeStatus)]) -> UpgradeVerifier {
        UpgradeVerifier {
            target: UpgradeTarget {
                version: Some("v3.6.0".into()),
            },
            reports: reports
                .iter()
                .map(|(n, r)| ((*n).to_owned(), r.clone()))
                .collect(),
        }
    }

    #[test]
    fn target_version_booted_active_after_a_reboot_succeeds() {
        let v = verifier(&[("n1", report("v3.6.0", BootState::Active, "b2"))]);
        assert_eq!(v.verify("n1", Some("b1")), Verdict::Succeeded);
    }

    #[test]
    fn passive_boot_is_a_rollback() {
        let v = verifier(&[("n1", report("v3.5.0", BootState::Passive, "b2"))]);
        assert!(
            matches!(v.verify("n1", Some("b1")), Verdict::RolledBack(m) if m.contains("passive"))
        );
    }

    #[test]
    fn a_boot_assessment_fallback_is_a_rollback_naming_it() {
        let fell_back = KairosNodeStatus {
            upgrade_failure: Some(true),
            ..report("v3.5.0", BootState::Passive, "b2")
        };
        let v = verifier(&[("n1", fell_back)]);
        assert!(
            matches!(v.verify("n1", Some("b1")), Verdict::RolledBack(m) if m.contains("upgrade_failure"))
        );
    }

    #[test]
    fn a_trusted_boot_node_on_the_target_booted_active_succeeds() {
        let uki = KairosNodeStatus {
            trusted_boot: Some(true),
            ..report("v3.6.0", BootState::Active, "b2")
        };
        let v = verifier(&[("n1", uki)]);
        assert_eq!(v.verify("n1", Some("b1")), Verdict::Succeeded);
    }

    #[test]
    fn a_node_that_never_reported_stays_pending() {
        assert_eq!(verifier(&[]).verify("n1", Some("b1")), Verdict::Pending);
    }

    #[test]
    fn the_up_to_date_marker_skips_the_reboot() {
        let v = verifier(&[]);
        let message = format!(
            "{}\nhost already runs v3.6.0\nboot-id",
            crate::upgrade::script::UP_TO_DATE_MARKER
        );
        assert_eq!(
            v.skip_reboot("n1", Some(&message)).as_deref(),
            Some("host already runs v3.6.0")
        );
        assert_eq!(v.skip_reboot("n1", Some("some-boot-id")), None);
    }
}
