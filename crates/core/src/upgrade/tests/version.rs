//! Tests of version comparison, version extraction from image references and image derivation.

use kairos_api::v1alpha1::KairosInfo;
use proptest::prelude::*;

use crate::upgrade::image::{DeriveError, derive_image};
use crate::upgrade::version::{
    image_matches_release, is_kairos_version, target_version_from_image, versions_equal,
};
use kairos_api::names::KAIROS_VERSION_PATTERN;

#[test]
fn versions_compare_with_unknown_never_equal() {
    let table = [
        (Some("v3.6.0"), Some("v3.6.0"), true),
        (Some("v3.6.0"), Some("3.6.0"), true),
        (Some(" v3.6.0 "), Some("V3.6.0"), true),
        (Some("v3.6.0"), Some("v3.6.1"), false),
        (Some("v3.6.0"), Some("v3.6.0-rc1"), false),
        (None, None, false),
        (Some(""), Some(""), false),
        (Some("v"), Some("v"), false),
        (Some("  "), Some("  "), false),
        (None, Some("v3.6.0"), false),
        (Some("v3.6.0"), None, false),
    ];
    for (a, b, equal) in table {
        assert_eq!(versions_equal(a, b), equal, "{a:?} {b:?}");
    }
}

#[test]
fn the_version_comes_from_the_image_tag() {
    let table = [
        (
            "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1",
            Some("v3.6.0"),
        ),
        (
            "quay.io/kairos/ubuntu:24.04-core-amd64-generic-v3.6.0",
            Some("v3.6.0"),
        ),
        (
            "quay.io/kairos/ubuntu:22.04-standard-arm64-generic-v3.7.2-k3s-v1.35.0-k3s3",
            Some("v3.7.2"),
        ),
        (
            "quay.io/kairos/alpine:3.21-standard-amd64-generic-v3.6.0-rc1-k3sv1.33.1-k3s1",
            Some("v3.6.0-rc1"),
        ),
        ("quay.io/kairos/ubuntu:v3.6.0", Some("v3.6.0")),
        ("localhost:5000/kairos:v3.6.0", Some("v3.6.0")),
        ("quay.io/kairos/ubuntu:v3.6.0@sha256:abcd", Some("v3.6.0")),
        ("localhost:5000/kairos", None),
        ("quay.io/kairos/ubuntu:latest", None),
        ("quay.io/kairos/ubuntu@sha256:abcd", None),
        (
            "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-k3sv1.33.1-k3s1",
            None,
        ),
        ("quay.io/kairos/ubuntu:v3.6", None),
        ("", None),
    ];
    for (image, version) in table {
        assert_eq!(
            target_version_from_image(image).as_deref(),
            version,
            "{image}"
        );
    }
}

fn info(repo: Option<&str>, label: Option<&str>, version: Option<&str>) -> KairosInfo {
    KairosInfo {
        image_repo: repo.map(str::to_owned),
        image_label: label.map(str::to_owned),
        version: version.map(str::to_owned),
        ..KairosInfo::default()
    }
}

const REPO: &str = "quay.io/kairos/ubuntu";
const LABEL: &str = "24.04-standard-amd64-generic-v3.5.0-k3sv1.32.1-k3s1";

#[test]
fn the_image_is_derived_by_replacing_the_version_in_the_label() {
    let reported = info(Some(REPO), Some(LABEL), Some("v3.5.0"));
    let want = "quay.io/kairos/ubuntu:24.04-standard-amd64-generic-v3.6.0-k3sv1.32.1-k3s1";
    assert_eq!(derive_image(&reported, "v3.6.0").as_deref(), Ok(want));
    assert_eq!(
        derive_image(&reported, "3.6.0").as_deref(),
        Ok(want),
        "the label's v is kept"
    );
    let bare = info(Some(REPO), Some("v3.5.0"), Some("v3.5.0"));
    assert_eq!(
        derive_image(&bare, "v3.6.0").as_deref(),
        Ok("quay.io/kairos/ubuntu:v3.6.0")
    );
    let no_v = info(Some(REPO), Some("24.04-core-3.5.0"), Some("3.5.0"));
    assert_eq!(
        derive_image(&no_v, "v3.6.0").as_deref(),
        Ok("quay.io/kairos/ubuntu:24.04-core-3.6.0")
    );
}

#[test]
fn the_version_is_only_replaced_as_a_whole_field() {
    // `v1.32.1` also appears inside `k3sv1.32.1`, which must stay.
    let reported = info(
        Some(REPO),
        Some("24.04-standard-v1.32.1-k3sv1.32.1-k3s1"),
        Some("v1.32.1"),
    );
    let got = derive_image(&reported, "v1.33.0").unwrap();
    assert_eq!(
        got,
        "quay.io/kairos/ubuntu:24.04-standard-v1.33.0-k3sv1.32.1-k3s1"
    );
    let inside_only = info(Some(REPO), Some("24.04-k3sv1.32.1"), Some("v1.32.1"));
    assert!(matches!(
        derive_image(&inside_only, "v1.33.0"),
        Err(DeriveError::LabelWithoutVersion { .. })
    ));
}

#[test]
fn derivation_errors_say_what_is_missing_and_what_to_do() {
    let table = [
        (
            info(None, Some(LABEL), Some("v3.5.0")),
            "v3.6.0",
            "KAIROS_IMAGE_REPO",
        ),
        (
            info(Some(" "), Some(LABEL), Some("v3.5.0")),
            "v3.6.0",
            "KAIROS_IMAGE_REPO",
        ),
        (
            info(Some(REPO), None, Some("v3.5.0")),
            "v3.6.0",
            "KAIROS_IMAGE_LABEL",
        ),
        (
            info(Some(REPO), Some(LABEL), None),
            "v3.6.0",
            "KAIROS_VERSION",
        ),
        (
            info(Some(REPO), Some(LABEL), Some("v3.4.0")),
            "v3.6.0",
            "does not contain",
        ),
        (
            info(Some(REPO), Some(LABEL), Some("v3.5.0")),
            "v3.6.0 oops",
            "not valid in an image tag",
        ),
        (
            info(Some(REPO), Some(LABEL), Some("v3.5.0")),
            "",
            "not valid in an image tag",
        ),
        (
            info(Some(REPO), Some(LABEL), Some("v3.5.0")),
            &"9".repeat(120),
            "not valid in an image tag",
        ),
    ];
    for (reported, target, needle) in table {
        let err = derive_image(&reported, target).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("failed to derive the upgrade image"),
            "{msg}"
        );
        assert!(
            msg.contains(needle) && msg.ends_with("set spec.image"),
            "{msg}"
        );
        assert!(!err.category().is_empty());
    }
}

#[test]
fn an_image_matches_a_release_only_when_both_versions_are_certain() {
    let release = |v: Option<&str>, sv: Option<&str>, prefix: Option<&str>| KairosInfo {
        version: v.map(str::to_owned),
        software_version: sv.map(str::to_owned),
        software_version_prefix: prefix.map(str::to_owned),
        ..KairosInfo::default()
    };
    let k3s = release(Some("v3.6.0"), Some("v1.33.1+k3s1"), Some("k3s"));
    let table = [
        (
            "q/u:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1",
            &k3s,
            true,
        ),
        (
            "q/u:22.04-standard-arm64-generic-v3.6.0-k3s-v1.33.1-k3s1",
            &k3s,
            true,
        ),
        (
            "q/u:24.04-standard-amd64-generic-v3.6.0-k3sv1.32.0-k3s1",
            &k3s,
            false,
        ),
        (
            "q/u:24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s10",
            &k3s,
            false,
        ),
        ("q/u:24.04-core-amd64-generic-v3.6.0", &k3s, false),
        (
            "q/u:24.04-standard-amd64-generic-v3.6.1-k3sv1.33.1-k3s1",
            &k3s,
            false,
        ),
        ("q/u:latest", &k3s, false),
    ];
    for (image, info, want) in table {
        assert_eq!(image_matches_release(image, info), want, "{image}");
    }
    let core = release(Some("v3.6.0"), None, None);
    assert!(image_matches_release(
        "q/u:24.04-core-amd64-generic-v3.6.0",
        &core
    ));
    assert!(!image_matches_release(
        "q/u:24.04-core-amd64-generic-v3.6.0",
        &release(None, None, None)
    ));
}

#[test]
fn kairos_versions_are_recognised_as_the_crd_does() {
    let table = [
        ("v3.6.0", true),
        ("3.6.0", true),
        ("v3.6.0-rc1", true),
        ("v3.6.0-rc.1", true),
        ("v3.6.0-beta.2", true),
        ("v3.6.0-alpha", true),
        ("banana", false),
        ("latest", false),
        ("", false),
        ("v3.6", false),
        ("V3.6.0", false),
        (" v3.6.0", false),
        ("v3.6.0-rc.", false),
        ("v3.6.0-rc..1", false),
        ("v3.6.0-k3sv1.33.1", false),
        ("v3.6.0-rc1-k3s1", false),
    ];
    for (version, valid) in table {
        assert_eq!(is_kairos_version(version), valid, "{version:?}");
    }
}

#[test]
fn a_tag_pre_release_is_read_only_in_the_accepted_form() {
    let image = |tag: &str| format!("quay.io/kairos/ubuntu:24.04-core-amd64-generic-{tag}");
    assert_eq!(
        target_version_from_image(&image("v3.6.0-beta.2-k3sv1.33.1-k3s1")).as_deref(),
        Some("v3.6.0-beta.2")
    );
    assert_eq!(
        target_version_from_image(&image("v3.6.0-rc.-k3sv1.33.1-k3s1")).as_deref(),
        Some("v3.6.0")
    );
}

proptest! {
    #[test]
    fn is_kairos_version_agrees_with_the_crd_pattern(
        version in "v?[0-9]{1,3}(\\.[0-9]{1,3}){1,3}(-(alpha|beta|rc|k3s|[a-z.]{0,4})\\.{0,2}[0-9]{0,2}){0,2}",
        noise in ".{0,16}",
    ) {
        let pattern = regex::Regex::new(KAIROS_VERSION_PATTERN).expect("the pattern compiles");
        for candidate in [version.clone(), noise.clone(), format!("{version}{noise}")] {
            prop_assert_eq!(
                is_kairos_version(&candidate),
                pattern.is_match(&candidate),
                "{:?}", candidate
            );
        }
    }

    #[test]
    fn version_functions_never_panic(a in ".{0,40}", b in ".{0,40}", image in ".{0,120}") {
        let _ = versions_equal(Some(&a), Some(&b));
        let info = KairosInfo { version: Some(a.clone()), software_version: Some(b.clone()), ..KairosInfo::default() };
        let _ = image_matches_release(&image, &info);
        prop_assert!(!versions_equal(None, Some(&b)));
        if let Some(v) = target_version_from_image(&image) {
            prop_assert!(v.starts_with('v'));
            prop_assert!(image.contains(&v));
            prop_assert!(is_kairos_version(&v), "{:?}", v);
        }
    }

    #[test]
    fn extracted_versions_round_trip(
        prefix in "[a-z0-9.]{1,10}(-[a-z0-9.]{1,8}){0,3}",
        version in "v[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
    ) {
        prop_assume!(!prefix.split('-').any(|f| f.starts_with('v')));
        let image = format!("quay.io/kairos/ubuntu:{prefix}-{version}-k3sv1.33.1-k3s1");
        prop_assert_eq!(target_version_from_image(&image), Some(version));
    }

    #[test]
    fn derive_image_never_panics_and_keeps_the_repo(
        repo in ".{0,30}", label in ".{0,60}", current in ".{0,12}", target in ".{0,20}",
    ) {
        let reported = info(Some(&repo), Some(&label), Some(&current));
        if let Ok(image) = derive_image(&reported, &target) {
            let repo_prefix = format!("{}:", repo.trim());
            prop_assert!(image.starts_with(&repo_prefix));
            prop_assert!(image.len() <= repo.len() + 1 + 128);
        }
    }
}
