use super::*;

fn rule(resources: &[&str], verbs: &[&str], names: Option<&[&str]>) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec!["coordination.k8s.io".into()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        resource_names: names.map(|n| n.iter().map(|r| r.to_string()).collect()),
        ..PolicyRule::default()
    }
}

#[test]
fn only_the_lease_writes_are_taken_out() {
    let create = rule(&["leases"], &["create"], None);
    let patch = rule(&["leases"], &["patch"], Some(&["kairos-operator"]));
    let read = rule(&["leases"], &["get", "list", "watch", "delete"], None);
    let other = rule(&["secrets"], &["create", "patch"], None);
    let (kept, taken) = without_lease_writes(vec![
        create.clone(),
        read.clone(),
        patch.clone(),
        other.clone(),
    ]);
    assert_eq!(kept, vec![read, other]);
    assert_eq!(taken, vec![create, patch]);
}

#[test]
fn a_wildcard_rule_writes_leases() {
    let (kept, taken) = without_lease_writes(vec![rule(&["*"], &["*"], None)]);
    assert!(kept.is_empty());
    assert_eq!(taken.len(), 1);
}
