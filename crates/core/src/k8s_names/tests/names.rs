//! Tests of names, label values and annotations: table tests of each rule, and property tests
//! of the label-value sanitiser and the name generator against the API server's own patterns.
//! Test-only; no I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use proptest::prelude::*;
use regex::Regex;

use crate::k8s_names::*;

/// apimachinery's `IsValidLabelValue` (`validation.go`): at most 63 characters, empty or
/// alphanumeric at both ends with `-`, `_` and `.` between.
fn k8s_label_value(s: &str) -> bool {
    let re = Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("a pattern");
    s.len() <= 63 && re.is_match(s)
}

/// apimachinery's `IsDNS1123Label`.
fn k8s_dns_label(s: &str) -> bool {
    let re = Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("a pattern");
    s.len() <= 63 && re.is_match(s)
}

/// apimachinery's `IsDNS1123Subdomain`.
fn k8s_dns_subdomain(s: &str) -> bool {
    let label = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?";
    let re = Regex::new(&format!(r"^{label}(\.{label})*$")).expect("a pattern");
    s.len() <= 253 && re.is_match(s)
}

/// apimachinery's `IsQualifiedName`: an optional DNS-1123 subdomain prefix and `/`, then a
/// name of at most 63 characters, alphanumeric at both ends with `-`, `_` and `.` between.
fn k8s_label_key(s: &str) -> bool {
    let re = Regex::new(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$").expect("a pattern");
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    name.len() <= 63 && re.is_match(name) && prefix.is_none_or(k8s_dns_subdomain)
}

#[test]
fn label_keys_follow_the_api_server() {
    for s in [
        "app",
        "kairos.io/version",
        "node-role.kubernetes.io/control-plane",
        "App_1.x",
        "",
        "/app",
        "kairos.io/",
        "Kairos.io/app",
        "a/b/c",
        "-app",
        "app name",
        "é",
        &"a".repeat(63),
        &"a".repeat(64),
        &format!("{}/a", ["a"; 127].join(".")),
        &format!("{}/a", ["a"; 128].join(".")),
    ] {
        assert_eq!(is_label_key(s), k8s_label_key(s), "label key {s:?}");
    }
}

proptest! {
    #[test]
    fn label_key_validity_follows_the_api_server(key in "[a-zA-Z0-9./_ -]{0,80}") {
        prop_assert_eq!(is_label_key(&key), k8s_label_key(&key), "{:?}", key);
    }
}

#[test]
fn validity_follows_the_api_server() {
    let cases = [
        "",
        "a",
        "A",
        "a_",
        "_a",
        "a-b.c_d",
        "v1.33.1+k3s1",
        "Node_4",
        "node-4",
        "-a",
        "a-",
        "a..b",
        "a.b",
        "ip-10-0-0-1.eu-west-1.compute.internal",
        "0abc",
        "é",
        &"a".repeat(63),
        &"a".repeat(64),
        &format!("{}.b", "a".repeat(63)),
        &format!("{}.b", "a".repeat(64)),
        &["a"; 127].join("."),
        &["a"; 128].join("."),
    ];
    for s in cases {
        assert_eq!(is_label_value(s), k8s_label_value(s), "label value {s:?}");
        assert_eq!(is_dns_label(s), k8s_dns_label(s), "DNS label {s:?}");
        assert_eq!(
            is_dns_subdomain(s),
            k8s_dns_subdomain(s),
            "DNS subdomain {s:?}"
        );
    }
}

#[test]
fn label_values_keep_valid_values_and_fix_the_others() {
    assert_eq!(label_value(""), "");
    assert_eq!(label_value("w1"), "w1");
    assert_eq!(label_value("v1.33.1-k3s1"), "v1.33.1-k3s1");
    let uid = "0a1b2c3d-0000-4000-8000-000000000001";
    assert_eq!(label_value(uid), uid);
    // A value of 63 characters or less that is not valid is fixed too.
    for bad in ["a_", "_a", "-", "a+b", "é"] {
        let v = label_value(bad);
        assert!(is_label_value(&v) && !v.is_empty(), "{bad:?} -> {v:?}");
    }
    assert!(label_value("a_").starts_with("a-"));
    // Long values keep a readable head, and distinct ones stay distinct.
    let long = "ip-10-0-0-1.eu-west-1.compute.internal".repeat(2);
    assert_eq!(
        label_value(&long),
        "ip-10-0-0-1.eu-west-1.compute.internalip-10-0-0-1-41e9aa0d"
    );
    assert_ne!(
        label_value(&format!("{long}a")),
        label_value(&format!("{long}b"))
    );
}

#[test]
fn object_names_share_the_room_the_tag_leaves() {
    assert_eq!(object_name(&["op", "w1"], "492fbf9d"), "op-w1-492fbf9d");
    assert_eq!(
        object_name(&["Upgrade.Firmware", "w_1"], "reboot-1234abcd"),
        "upgrade-firmware-w-1-reboot-1234abcd"
    );
    assert_eq!(object_name(&["", "--"], "1234abcd"), "1234abcd");
    let long = "n".repeat(100);
    let name = object_name(&[&long, &long], "1234abcd");
    assert_eq!(name.len(), 63, "{name}");
    // The first part takes at most half the room, the last whatever remains.
    assert_eq!(
        object_name(&[&long, "w1"], "1234abcd"),
        format!("{}-w1-1234abcd", "n".repeat(26))
    );
    assert_eq!(
        object_name(&["op", &long], "1234abcd"),
        format!("op-{}-1234abcd", "n".repeat(51))
    );
}

#[test]
fn annotations_are_read_by_key() {
    let meta = ObjectMeta {
        annotations: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..ObjectMeta::default()
    };
    assert_eq!(annotation(&meta, "k"), Some("v"));
    assert_eq!(annotation(&meta, "x"), None);
    assert_eq!(annotation(&ObjectMeta::default(), "k"), None);
}

/// A valid label value (apimachinery's pattern, up to 63 characters).
fn valid_label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]",
        "[A-Za-z0-9][-A-Za-z0-9_.]{0,61}[A-Za-z0-9]",
    ]
}

proptest! {
    #[test]
    fn label_values_are_valid_for_any_input(value in any::<String>(), ascii in "[ -~]{0,100}") {
        for v in [&value, &ascii] {
            let out = label_value(v);
            prop_assert!(k8s_label_value(&out), "{v:?} -> {out:?}");
            prop_assert_eq!(is_label_value(v), k8s_label_value(v), "{:?}", v);
        }
    }

    #[test]
    fn valid_label_values_come_back_unchanged(value in valid_label_value()) {
        prop_assert!(k8s_label_value(&value));
        prop_assert_eq!(label_value(&value), value);
    }

    #[test]
    fn object_names_are_dns_labels_for_any_input(
        parts in proptest::collection::vec(any::<String>(), 0..4),
        ascii in proptest::collection::vec("[ -~]{0,120}", 0..4),
        tag in "[a-z0-9]{1,12}(-[0-9a-f]{8})?",
    ) {
        for parts in [&parts, &ascii] {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let name = object_name(&parts, &tag);
            prop_assert!(k8s_dns_label(&name), "{parts:?} -> {name:?}");
            prop_assert!(k8s_dns_subdomain(&name), "{name:?}");
            prop_assert!(name.ends_with(&tag), "{name:?}");
            prop_assert_eq!(object_name(&parts, &tag), name.clone(), "deterministic");
        }
    }

    #[test]
    fn dns_names_are_judged_as_the_api_server_does(name in "[-a-z0-9.A-Z_]{0,70}") {
        prop_assert_eq!(is_dns_label(&name), k8s_dns_label(&name), "{:?}", name);
        prop_assert_eq!(is_dns_subdomain(&name), k8s_dns_subdomain(&name), "{:?}", name);
    }
}
