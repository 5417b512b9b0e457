//! Tests of release-file parsing and the typed views of its fields.

use super::*;

fn kinds(input: &str) -> Vec<LineErrorKind> {
    parse(input).errors.into_iter().map(|e| e.kind).collect()
}

#[test]
fn plain_quoted_and_escaped_values() {
    let p = parse(
        "# comment\n\nA=plain\nB=\"two words\"\nC='single $x \\n'\n\
         D=\"esc \\\\ \\\" \\$ \\` \\n\"\nE=\nF=\"\"\nG=un\\ quoted\n  H=\"x\"  # trailing\n",
    );
    assert_eq!(p.errors, vec![]);
    let f = &p.fields;
    assert_eq!(f["A"], "plain");
    assert_eq!(f["B"], "two words");
    assert_eq!(f["C"], "single $x \\n");
    assert_eq!(f["D"], "esc \\ \" $ ` \\n");
    assert_eq!(f["E"], "");
    assert_eq!(f["F"], "");
    assert_eq!(f["G"], "un quoted");
    assert_eq!(f["H"], "x");
}

#[test]
fn crlf_line_endings_are_accepted() {
    let p = parse("A=\"1\"\r\nB=2\r\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["A"], "1");
    assert_eq!(p.fields["B"], "2");
}

#[test]
fn invalid_lines_are_reported_with_their_number() {
    let p = parse(
        "A=1\nnot an assignment\nlower=1\nB=\"open\nC='open\nD=\"a\"\"b\"\nE=a b\nF=x\\\nG=$HOME\n=1\n",
    );
    let got: Vec<(usize, Option<&str>, &LineErrorKind)> = p
        .errors
        .iter()
        .map(|e| (e.line, e.key.as_deref(), &e.kind))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, None, &LineErrorKind::MissingEquals),
            (3, None, &LineErrorKind::InvalidKey("lower".into())),
            (
                4,
                Some("B"),
                &LineErrorKind::UnterminatedQuote(QuoteStyle::Double)
            ),
            (
                5,
                Some("C"),
                &LineErrorKind::UnterminatedQuote(QuoteStyle::Single)
            ),
            (6, Some("D"), &LineErrorKind::TrailingCharacters),
            (7, Some("E"), &LineErrorKind::UnquotedSpecial(' ')),
            (8, Some("F"), &LineErrorKind::TrailingBackslash),
            (9, Some("G"), &LineErrorKind::UnquotedSpecial('$')),
            (10, None, &LineErrorKind::InvalidKey(String::new())),
        ]
    );
    assert_eq!(p.fields.keys().collect::<Vec<_>>(), vec!["A"]);
}

#[test]
fn an_invalid_line_drops_its_key_even_when_assigned_before() {
    let p = parse("KAIROS_VERSION=\"v3.6.0\"\nKAIROS_VERSION=\"v3.7.0\n");
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.fields.get("KAIROS_VERSION"), None);
    let p = parse("KAIROS_VERSION=\"v3.7.0\nKAIROS_VERSION=\"v3.6.0\"\n");
    assert_eq!(p.fields.get("KAIROS_VERSION"), None);
}

#[test]
fn control_characters_and_invalid_utf8_are_rejected() {
    assert_eq!(
        kinds("A=\"a\u{7}b\"\n"),
        vec![LineErrorKind::ControlCharacter]
    );
    assert_eq!(
        kinds("A=\"a\u{FFFD}b\"\n"),
        vec![LineErrorKind::ControlCharacter]
    );
    assert_eq!(kinds("A=\"a\tb\"\n"), vec![]);
}

#[test]
fn long_values_and_keys_are_bounded() {
    let p = parse(&format!(
        "A=\"{}\"\n{}=1\n",
        "x".repeat(2000),
        "k".repeat(500)
    ));
    assert_eq!(p.fields.get("A"), None);
    assert_eq!(p.errors[0].kind, LineErrorKind::ValueTooLong(2000));
    assert_eq!(p.errors[1].kind, LineErrorKind::InvalidKey("k".repeat(64)));
    assert!(
        parse(&format!("A={}\n", "x".repeat(1024)))
            .errors
            .is_empty()
    );
}

#[test]
fn error_messages_name_line_and_key() {
    let p = parse("\nKAIROS_VERSION=\"v3\n");
    assert_eq!(
        p.errors[0].to_string(),
        "line 2 (KAIROS_VERSION): unterminated double quote"
    );
}

#[test]
fn quote_escapes_shell_specials() {
    assert_eq!(quote(r#"a"b\c$d`e"#), r#""a\"b\\c\$d\`e""#);
}

#[test]
fn kairos_release_prefers_arch_over_targetarch_and_drops_empty_values() {
    let p = parse("KAIROS_TARGETARCH=arm64\nKAIROS_SOFTWARE_VERSION=\"\"\n");
    let k = KairosRelease::from_fields(&p.fields);
    assert_eq!(k.arch.as_deref(), Some("arm64"));
    assert_eq!(k.software_version, None);
    let p = parse("KAIROS_TARGETARCH=arm64\nKAIROS_ARCH=amd64\n");
    assert_eq!(
        KairosRelease::from_fields(&p.fields).arch.as_deref(),
        Some("amd64")
    );
    assert!(KairosRelease::any_in(&p.fields));
    assert!(!KairosRelease::any_in(&parse("ID=debian\n").fields));
}

#[test]
fn to_fields_inverts_from_fields() {
    let k = KairosRelease {
        version: Some("v3.6.0".into()),
        arch: Some("amd64".into()),
        fips: Some("false".into()),
        ..KairosRelease::default()
    };
    assert_eq!(KairosRelease::from_fields(&k.to_fields()), k);
    let o = OsRelease {
        id: Some("ubuntu".into()),
        pretty_name: Some("Ubuntu 24.04.2 LTS".into()),
        ..OsRelease::default()
    };
    assert_eq!(OsRelease::from_fields(&o.to_fields()), o);
}

#[test]
fn is_kairos_rules() {
    let kairos_os = OsRelease {
        id: Some("kairos".into()),
        ..OsRelease::default()
    };
    let debian = OsRelease {
        id: Some("debian".into()),
        ..OsRelease::default()
    };
    assert!(is_kairos(Some(&KairosRelease::default()), Some(&debian)));
    assert!(is_kairos(None, Some(&kairos_os)));
    assert!(!is_kairos(None, Some(&debian)));
    assert!(!is_kairos(None, None));
}

#[test]
fn the_last_assignment_of_a_key_wins() {
    let p = parse("ID=debian\nID=kairos\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["ID"], "kairos");
}

#[test]
fn an_unquoted_value_may_hold_equals_signs_and_hashes() {
    let p = parse("A=b=c\nB=x#y\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["A"], "b=c");
    assert_eq!(p.fields["B"], "x#y");
}

#[test]
fn a_comment_after_an_unquoted_value_is_dropped() {
    let p = parse("A=x # the flavor\nB=y\t#tabbed\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["A"], "x");
    assert_eq!(p.fields["B"], "y");
}

#[test]
fn indented_comments_and_whitespace_only_lines_are_ignored() {
    let p = parse("   # indented comment\n \t \nA=1\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields.len(), 1);
}

#[test]
fn an_empty_file_has_no_fields_and_no_errors() {
    let p = parse("");
    assert!(p.fields.is_empty() && p.errors.is_empty());
}

#[test]
fn non_ascii_text_is_kept_in_quoted_values() {
    let p = parse("PRETTY_NAME=\"Kairos – Ubuntu 24.04 ✓\"\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["PRETTY_NAME"], "Kairos – Ubuntu 24.04 ✓");
}

#[test]
fn an_export_prefix_is_an_invalid_key() {
    let p = parse("export ID=kairos\n");
    assert_eq!(p.fields.get("ID"), None);
    assert_eq!(
        kinds("export ID=kairos\n"),
        vec![LineErrorKind::InvalidKey("export ID".into())]
    );
}

#[test]
fn spaces_around_the_equals_sign_are_invalid() {
    assert_eq!(
        kinds("ID =kairos\n"),
        vec![LineErrorKind::InvalidKey("ID ".into())]
    );
    assert_eq!(
        kinds("ID= kairos\n"),
        vec![LineErrorKind::UnquotedSpecial(' ')]
    );
}

#[test]
fn shell_operators_in_unquoted_values_are_refused() {
    for (line, c) in [
        ("A=a;b", ';'),
        ("A=a&b", '&'),
        ("A=a|b", '|'),
        ("A=a<b", '<'),
        ("A=a>b", '>'),
        ("A=$(id)", '$'),
        ("A=`id`", '`'),
        ("A=(x)", '('),
    ] {
        assert_eq!(
            kinds(line),
            vec![LineErrorKind::UnquotedSpecial(c)],
            "{line}"
        );
    }
}

#[test]
fn a_value_of_exactly_the_limit_is_kept_and_one_more_is_refused() {
    let at = "x".repeat(MAX_VALUE_LEN);
    assert_eq!(parse(&format!("A=\"{at}\"\n")).fields["A"], at);
    assert_eq!(
        kinds(&format!("A=\"{at}x\"\n")),
        vec![LineErrorKind::ValueTooLong(MAX_VALUE_LEN + 1)]
    );
}

#[test]
fn an_escaped_character_in_an_unquoted_value_is_taken_literally() {
    let p = parse("A=a\\;b\\$c\n");
    assert_eq!(p.errors, vec![]);
    assert_eq!(p.fields["A"], "a;b$c");
}

mod props {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics_on_any_input(input in any::<String>()) {
            let p = parse(&input);
            for (k, v) in &p.fields {
                prop_assert!(is_valid_key(k));
                prop_assert!(!v.chars().any(is_forbidden));
            }
        }

        #[test]
        fn never_panics_on_release_like_input(
            input in r#"([A-Z_]{0,4}=?["'\\$` #a-z\t\r]{0,8}\n?){0,8}"#
        ) {
            let _ = parse(&input);
        }

        #[test]
        fn double_quoted_values_round_trip(
            key in "[A-Z][A-Z0-9_]{0,20}",
            value in "[^\\p{Cc}\u{FFFD}]{0,40}",
        ) {
            let p = parse(&format!("{key}={}\n", quote(&value)));
            prop_assert_eq!(p.errors, vec![]);
            prop_assert_eq!(p.fields.get(&key), Some(&value));
        }

        #[test]
        fn single_quoted_values_round_trip(
            key in "[A-Z][A-Z0-9_]{0,20}",
            value in "[^\\p{Cc}\u{FFFD}']{0,40}",
        ) {
            let p = parse(&format!("{key}='{value}'\n"));
            prop_assert_eq!(p.errors, vec![]);
            prop_assert_eq!(p.fields.get(&key), Some(&value));
        }
    }
}
