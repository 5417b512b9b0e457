use proptest::prelude::*;

use super::*;

fn expr(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.to_owned(),
        operator: operator.to_owned(),
        values: values.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn every_kubectl_form_becomes_its_requirement() {
    let s = parse("kairos.io/managed=true, tier==edge,zone!=a,arch in (amd64, arm64),fl notin (alpine),gpu,!spot")
        .expect("valid");
    assert_eq!(
        s.match_labels,
        Some(BTreeMap::from([
            ("kairos.io/managed".to_owned(), "true".to_owned()),
            ("tier".to_owned(), "edge".to_owned()),
        ]))
    );
    assert_eq!(
        s.match_expressions,
        Some(vec![
            expr("zone", "NotIn", Some(&["a"])),
            expr("arch", "In", Some(&["amd64", "arm64"])),
            expr("fl", "NotIn", Some(&["alpine"])),
            expr("gpu", "Exists", None),
            expr("spot", "DoesNotExist", None),
        ])
    );
}

#[test]
fn malformed_selectors_are_refused_naming_the_problem() {
    for (text, problem) in [
        ("", "empty requirement"),
        ("a=b,,c", "empty requirement"),
        ("a in (x", "unclosed"),
        ("a in x", "parentheses"),
        ("a in ()", "at least one value"),
        ("=b", "not a label key"),
        ("a=b c", "not a label value"),
        ("a=x,a=y", "both x and y"),
        ("a)", "unbalanced"),
    ] {
        let e = parse(text).expect_err(text).to_string();
        assert!(e.contains(problem), "{text:?}: {e}");
    }
}

proptest! {
    /// What `display` writes, `parse` reads back unchanged.
    #[test]
    fn display_and_parse_agree(
        labels in proptest::collection::btree_map("[a-z][a-z0-9.]{0,6}[a-z]", "[a-z0-9]{0,5}", 0..3),
        exprs in proptest::collection::vec(
            ("[a-z]{1,6}", 0..4usize, proptest::collection::vec("[a-z0-9]{1,4}", 1..3)),
            0..3,
        ),
    ) {
        let match_expressions: Vec<LabelSelectorRequirement> = exprs
            .into_iter()
            .filter(|(k, _, _)| !labels.contains_key(k))
            .map(|(key, op, values)| {
                let (operator, values) = match op {
                    0 => ("In", Some(values)),
                    1 => ("NotIn", Some(values)),
                    2 => ("Exists", None),
                    _ => ("DoesNotExist", None),
                };
                LabelSelectorRequirement { key, operator: operator.to_owned(), values }
            })
            .collect();
        prop_assume!(!labels.is_empty() || !match_expressions.is_empty());
        let selector = LabelSelector {
            match_labels: (!labels.is_empty()).then_some(labels),
            match_expressions: (!match_expressions.is_empty()).then_some(match_expressions),
        };
        prop_assert_eq!(parse(&display(&selector)), Ok(selector));
    }

    /// Any text is either refused or read; reading never panics.
    #[test]
    fn any_text_is_read_or_refused(text in ".{0,40}") {
        let _ = parse(&text);
    }
}
