use super::*;

#[test]
fn kind_prefixes_are_kubectls_names() {
    assert_eq!(parse("n4"), Ok((None, "n4")));
    assert_eq!(parse("node/n4"), Ok((Some(Kind::KairosNode), "n4")));
    assert_eq!(parse("kn/n4"), Ok((Some(Kind::KairosNode), "n4")));
    assert_eq!(parse("nou/up"), Ok((Some(Kind::NodeOpUpgrade), "up")));
    assert_eq!(parse("NodeOp/op"), Ok((Some(Kind::NodeOp), "op")));
    assert_eq!(
        parse("pod/x"),
        Err(TargetError::UnknownKind("pod".to_owned()))
    );
}

#[test]
fn a_name_must_pick_exactly_one_object() {
    assert_eq!(
        choose("n4", "default", &[Kind::KairosNode]),
        Ok(Kind::KairosNode)
    );
    assert_eq!(
        choose("x", "ops", &[]).expect_err("none").to_string(),
        "no KairosNode, NodeOpUpgrade or NodeOp named x (in namespace ops)"
    );
    assert_eq!(
        choose("x", "ops", &[Kind::NodeOp, Kind::KairosNode])
            .expect_err("two")
            .to_string(),
        "x names a kairosnode.operator.kairos.io and a nodeop.operator.kairos.io: say which, e.g. kairosnode/x"
    );
}

#[test]
fn pause_sets_and_resume_removes_spec_paused() {
    assert_eq!(paused_patch(true), json!({"spec": {"paused": true}}));
    assert_eq!(paused_patch(false), json!({"spec": {"paused": null}}));
}

#[test]
fn the_line_names_the_object_and_what_pausing_means() {
    assert_eq!(
        done_line(Kind::NodeOpUpgrade, "up", Some("default/up-abc"), true),
        "nodeopupgrade.operator.kairos.io/up paused (through its NodeOp default/up-abc): no new node starts; nodes in flight finish"
    );
    assert_eq!(
        done_line(Kind::KairosNode, "n4", None, false),
        "kairosnode.operator.kairos.io/n4 resumed: new starts may go on"
    );
}
