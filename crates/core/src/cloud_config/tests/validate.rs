//! The document check: what is refused before anything runs, and a property test over
//! arbitrary bytes (never panics; only `#cloud-config` documents pass).

use proptest::prelude::*;

use crate::cloud_config::validate::check;

#[test]
fn cloud_config_documents_pass() {
    for ok in [
        "#cloud-config\n",
        "#cloud-config\nhostname: node-1\n",
        "#cloud-config   \nstages:\n  boot:\n    - commands: [\"echo hi\"]\n",
        "#cloud-config\r\nusers:\r\n  - name: kairos\r\n",
    ] {
        assert_eq!(check(ok.as_bytes()), Ok(()), "{ok:?}");
    }
}

#[test]
fn other_documents_are_refused_with_the_reason() {
    let cases: [(&[u8], &str); 7] = [
        (b"hostname: x\n", "first line"),
        (b"", "first line"),
        (b"# cloud-config\nhostname: x\n", "first line"),
        (b"#cloud-config\nhostname: [unclosed\n", "not valid YAML"),
        (b"#cloud-config\n- a\n- b\n", "a list"),
        (b"#cloud-config\na: 1\n---\nb: 2\n", "not valid YAML"),
        (b"#cloud-config\n\xff\xfe\n", "not UTF-8"),
    ];
    for (doc, why) in cases {
        let err = check(doc).expect_err(&String::from_utf8_lossy(doc));
        assert!(err.contains(why), "{doc:?}: {err}");
    }
    let big = format!("#cloud-config\nx: \"{}\"\n", "a".repeat(1024 * 1024));
    assert!(check(big.as_bytes()).unwrap_err().contains("more than"));
}

proptest! {
    #[test]
    fn any_bytes_are_judged_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let judged = check(&bytes);
        if judged.is_ok() {
            let text = std::str::from_utf8(&bytes).unwrap();
            prop_assert_eq!(text.lines().next().map(str::trim_end), Some("#cloud-config"));
        }
    }

    #[test]
    fn a_header_and_any_mapping_pass(key in "[a-z]{1,12}", value in "[a-zA-Z0-9 ]{0,40}") {
        let doc = format!("#cloud-config\n{key}: \"{value}\"\n");
        prop_assert_eq!(check(doc.as_bytes()), Ok(()));
    }
}
