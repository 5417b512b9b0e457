//! Permission accounting for least-privilege tests: every authorization decision the simulator
//! made, by username: what was asked ([`Attributes`]), whether it was allowed, by which rule
//! ([`Grant`]), and how often. A test can check that a component used every rule it is granted and
//! was refused nothing. No I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::attributes::Attributes;
use super::rbac::{Decision, Grant, RuleRef};

/// Decisions of one kind for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// What was asked.
    pub attributes: Attributes,
    /// What allowed it; `None` when it was denied.
    pub allowed_by: Option<Grant>,
    /// How many requests were decided so.
    pub count: u64,
}

impl Access {
    /// Whether these requests were allowed.
    pub fn allowed(&self) -> bool {
        self.allowed_by.is_some()
    }
}

/// Denied requests of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The username.
    pub user: String,
    /// What was asked.
    pub attributes: Attributes,
    /// How many requests were denied so.
    pub count: u64,
}

type Decisions = BTreeMap<(Attributes, Option<Grant>), u64>;

/// Every authorization decision since the simulator started (or the last
/// [`PermissionLog::clear`]), by username.
#[derive(Debug, Default)]
pub struct PermissionLog {
    by_user: Mutex<BTreeMap<String, Decisions>>,
}

impl PermissionLog {
    /// Records one decision for `user`.
    pub(crate) fn record(&self, user: &str, attributes: &Attributes, decision: &Decision) {
        let grant = match decision {
            Decision::Allow(g) => Some(g.clone()),
            Decision::Deny { .. } => None,
        };
        let mut by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let decisions = match by_user.get_mut(user) {
            Some(d) => d,
            None => by_user.entry(user.to_string()).or_default(),
        };
        *decisions.entry((attributes.clone(), grant)).or_default() += 1;
    }

    /// Every decision so far, by username (usernames, then attributes, in order).
    pub fn snapshot(&self) -> BTreeMap<String, Vec<Access>> {
        let by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        by_user
            .iter()
            .map(|(user, d)| (user.clone(), accesses(d)))
            .collect()
    }

    /// The decisions made for `user` (e.g. `system:serviceaccount:kairos-system:kairos-operator`).
    pub fn of(&self, user: &str) -> Vec<Access> {
        let by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        by_user.get(user).map(accesses).unwrap_or_default()
    }

    /// The rules that allowed at least one request of `user`.
    pub fn rules_used(&self, user: &str) -> BTreeSet<RuleRef> {
        self.of(user)
            .into_iter()
            .filter_map(|a| match a.allowed_by {
                Some(Grant::Rule(r)) => Some(*r),
                _ => None,
            })
            .collect()
    }

    /// Every denied request, of every user.
    pub fn denied(&self) -> Vec<Denial> {
        let by_user = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        by_user
            .iter()
            .flat_map(|(user, d)| {
                d.iter().filter(|((_, grant), _)| grant.is_none()).map(
                    |((attributes, _), count)| Denial {
                        user: user.clone(),
                        attributes: attributes.clone(),
                        count: *count,
                    },
                )
            })
            .collect()
    }

    /// Forgets every decision so far.
    pub fn clear(&self) {
        self.by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

fn accesses(d: &Decisions) -> Vec<Access> {
    d.iter()
        .map(|((attributes, allowed_by), count)| Access {
            attributes: attributes.clone(),
            allowed_by: allowed_by.clone(),
            count: *count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::ObjectRef;

    #[test]
    fn counts_decisions_per_user_and_lists_denials_and_rules() {
        let log = PermissionLog::default();
        let get = Attributes::resource("get", "", "pods")
            .in_namespace("a")
            .named("p");
        let list = Attributes::resource("list", "", "pods").in_namespace("a");
        let rule = RuleRef {
            binding: ObjectRef::new("RoleBinding", "a", "b"),
            role: ObjectRef::new("Role", "a", "r"),
            source: ObjectRef::new("Role", "a", "r"),
            index: 0,
        };
        let allow = Decision::Allow(Grant::Rule(Box::new(rule.clone())));
        log.record("u", &get, &allow);
        log.record("u", &get, &allow);
        log.record(
            "u",
            &list,
            &Decision::Deny {
                reason: String::new(),
            },
        );
        log.record("admin", &list, &Decision::Allow(Grant::PrivilegedGroup));
        let u = log.of("u");
        assert_eq!(u.len(), 2);
        assert_eq!(
            (u[0].attributes.verb.as_str(), u[0].count, u[0].allowed()),
            ("get", 2, true)
        );
        assert!(!u[1].allowed());
        assert_eq!(log.rules_used("u"), BTreeSet::from([rule]));
        assert_eq!(
            log.denied(),
            vec![Denial {
                user: "u".into(),
                attributes: list,
                count: 1
            }]
        );
        assert_eq!(log.snapshot().len(), 2);
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
