use serde_json::{Value, json};

use super::check;

fn pod(spec: Value) -> Value {
    json!({"metadata": {"name": "p"}, "spec": spec})
}

fn base() -> Value {
    json!({
        "containers": [{"name": "c", "image": "busybox:1"}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"key": "a", "operator": "Exists"}],
    })
}

fn refused(old: Value, new: Value) -> String {
    let e = check("p", &pod(old), &pod(new)).expect_err("the update is refused");
    assert_eq!(e.code, 422);
    e.message
}

#[test]
fn an_unchanged_spec_and_a_new_image_are_accepted() {
    check("p", &pod(base()), &pod(base())).expect("unchanged");
    let mut new = base();
    new["containers"][0]["image"] = json!("busybox:2");
    check("p", &pod(base()), &pod(new)).expect("a new image");
}

#[test]
fn setting_node_name_by_update_is_refused_as_the_real_server_does() {
    let mut new = base();
    new["nodeName"] = json!("n1");
    let m = refused(base(), new);
    assert!(
        m.starts_with("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"),
        "{m}"
    );
}

#[test]
fn a_changed_command_or_restart_policy_is_refused() {
    let mut new = base();
    new["containers"][0]["command"] = json!(["sh"]);
    refused(base(), new);
    let mut new = base();
    new["restartPolicy"] = json!("Never");
    refused(base(), new);
}

#[test]
fn tolerations_may_be_added_but_not_removed() {
    let mut more = base();
    more["tolerations"]
        .as_array_mut()
        .expect("tolerations")
        .push(json!({"key": "b", "operator": "Exists"}));
    check("p", &pod(base()), &pod(more.clone())).expect("an added toleration");
    let m = refused(more, base());
    assert!(m.contains("spec.tolerations: Forbidden"), "{m}");
}

#[test]
fn active_deadline_may_be_set_or_lowered_but_not_raised_or_unset() {
    let mut set = base();
    set["activeDeadlineSeconds"] = json!(60);
    check("p", &pod(base()), &pod(set.clone())).expect("set");
    let mut lower = base();
    lower["activeDeadlineSeconds"] = json!(30);
    check("p", &pod(set.clone()), &pod(lower.clone())).expect("lowered");
    let m = refused(lower, set.clone());
    assert!(
        m.contains("must be less than or equal to previous value"),
        "{m}"
    );
    let m = refused(set, base());
    assert!(
        m.contains("must not update from a positive integer to nil value"),
        "{m}"
    );
}

#[test]
fn grace_period_may_go_from_negative_to_one_only() {
    let mut negative = base();
    negative["terminationGracePeriodSeconds"] = json!(-1);
    let mut one = base();
    one["terminationGracePeriodSeconds"] = json!(1);
    check("p", &pod(negative), &pod(one.clone())).expect("negative to 1");
    refused(base(), one);
}

#[test]
fn scheduling_gates_may_be_removed_but_not_added() {
    let mut gated = base();
    gated["schedulingGates"] = json!([{"name": "g"}]);
    check("p", &pod(gated.clone()), &pod(base())).expect("a gate removed");
    let m = refused(base(), gated);
    assert!(m.contains("spec.schedulingGates: Forbidden"), "{m}");
}
