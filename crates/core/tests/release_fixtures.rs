//! Table tests of the release parsers, the node facts and the node labels over realistic
//! release files (`tests/fixtures/`), as Kairos v3 images and plain distributions write them.

use kairos_api::v1alpha1::BootState;
use kairos_core::node_labels::{desired_node_metadata, is_valid_label_value};
use kairos_core::release::{self, KairosRelease, OsRelease};
use kairos_core::report::{HostSnapshot, facts};

/// The fixture files, embedded at compile time (tests read no files at run time).
const FIXTURES: [(&str, &str); 14] = [
    (
        "alpine-3.21-standard-k0s.kairos-release",
        include_str!("fixtures/alpine-3.21-standard-k0s.kairos-release"),
    ),
    (
        "alpine-3.21.os-release",
        include_str!("fixtures/alpine-3.21.os-release"),
    ),
    (
        "debian-12.os-release",
        include_str!("fixtures/debian-12.os-release"),
    ),
    (
        "kairos-v2-opensuse-leap.os-release",
        include_str!("fixtures/kairos-v2-opensuse-leap.os-release"),
    ),
    (
        "malformed.kairos-release",
        include_str!("fixtures/malformed.kairos-release"),
    ),
    (
        "opensuse-leap-15.6-standard-k3s.kairos-release",
        include_str!("fixtures/opensuse-leap-15.6-standard-k3s.kairos-release"),
    ),
    (
        "opensuse-leap-15.6.os-release",
        include_str!("fixtures/opensuse-leap-15.6.os-release"),
    ),
    (
        "opensuse-tumbleweed-core.kairos-release",
        include_str!("fixtures/opensuse-tumbleweed-core.kairos-release"),
    ),
    (
        "opensuse-tumbleweed.os-release",
        include_str!("fixtures/opensuse-tumbleweed.os-release"),
    ),
    (
        "ubuntu-22.04-core.kairos-release",
        include_str!("fixtures/ubuntu-22.04-core.kairos-release"),
    ),
    (
        "ubuntu-22.04.os-release",
        include_str!("fixtures/ubuntu-22.04.os-release"),
    ),
    (
        "ubuntu-24.04-standard-k3s-rpi4.kairos-release",
        include_str!("fixtures/ubuntu-24.04-standard-k3s-rpi4.kairos-release"),
    ),
    (
        "ubuntu-24.04-standard-k3s.kairos-release",
        include_str!("fixtures/ubuntu-24.04-standard-k3s.kairos-release"),
    ),
    (
        "ubuntu-24.04.os-release",
        include_str!("fixtures/ubuntu-24.04.os-release"),
    ),
];

fn fixture(name: &str) -> String {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, contents)| (*contents).to_owned())
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

struct Case {
    kairos_release: Option<&'static str>,
    os_release: &'static str,
    version: Option<&'static str>,
    flavor: Option<&'static str>,
    flavor_release: Option<&'static str>,
    variant: Option<&'static str>,
    model: Option<&'static str>,
    arch: Option<&'static str>,
    software: Option<(&'static str, &'static str)>,
    os_id: &'static str,
    os_pretty: &'static str,
    is_kairos: bool,
}

const CASES: [Case; 8] = [
    Case {
        kairos_release: Some("ubuntu-24.04-standard-k3s.kairos-release"),
        os_release: "ubuntu-24.04.os-release",
        version: Some("v3.6.0"),
        flavor: Some("ubuntu"),
        flavor_release: Some("24.04"),
        variant: Some("standard"),
        model: Some("generic"),
        arch: Some("amd64"),
        software: Some(("k3s", "v1.33.1+k3s1")),
        os_id: "ubuntu",
        os_pretty: "Ubuntu 24.04.2 LTS",
        is_kairos: true,
    },
    Case {
        kairos_release: Some("ubuntu-22.04-core.kairos-release"),
        os_release: "ubuntu-22.04.os-release",
        version: Some("v3.6.0"),
        flavor: Some("ubuntu"),
        flavor_release: Some("22.04"),
        variant: Some("core"),
        model: Some("generic"),
        arch: Some("amd64"),
        software: None,
        os_id: "ubuntu",
        os_pretty: "Ubuntu 22.04.5 LTS",
        is_kairos: true,
    },
    Case {
        kairos_release: Some("alpine-3.21-standard-k0s.kairos-release"),
        os_release: "alpine-3.21.os-release",
        version: Some("v3.6.0"),
        flavor: Some("alpine"),
        flavor_release: Some("3.21"),
        variant: Some("standard"),
        model: Some("generic"),
        arch: Some("amd64"),
        software: Some(("k0s", "v1.33.1+k0s.0")),
        os_id: "alpine",
        os_pretty: "Alpine Linux v3.21",
        is_kairos: true,
    },
    Case {
        kairos_release: Some("opensuse-leap-15.6-standard-k3s.kairos-release"),
        os_release: "opensuse-leap-15.6.os-release",
        version: Some("v3.6.0"),
        flavor: Some("opensuse"),
        flavor_release: Some("leap-15.6"),
        variant: Some("standard"),
        model: Some("generic"),
        arch: Some("amd64"),
        software: Some(("k3s", "v1.33.1+k3s1")),
        os_id: "opensuse-leap",
        os_pretty: "openSUSE Leap 15.6",
        is_kairos: true,
    },
    Case {
        kairos_release: Some("opensuse-tumbleweed-core.kairos-release"),
        os_release: "opensuse-tumbleweed.os-release",
        version: Some("v3.6.0"),
        flavor: Some("opensuse"),
        flavor_release: Some("tumbleweed-20250601"),
        variant: Some("core"),
        model: Some("generic"),
        arch: Some("amd64"),
        software: None,
        os_id: "opensuse-tumbleweed",
        os_pretty: "openSUSE Tumbleweed",
        is_kairos: true,
    },
    Case {
        kairos_release: Some("ubuntu-24.04-standard-k3s-rpi4.kairos-release"),
        os_release: "ubuntu-24.04.os-release",
        version: Some("v3.6.0"),
        flavor: Some("ubuntu"),
        flavor_release: Some("24.04"),
        variant: Some("standard"),
        model: Some("rpi4"),
        arch: Some("arm64"),
        software: Some(("k3s", "v1.33.1+k3s1")),
        os_id: "ubuntu",
        os_pretty: "Ubuntu 24.04.2 LTS",
        is_kairos: true,
    },
    // Kairos v2: no kairos-release, the KAIROS_* keys live in os-release.
    Case {
        kairos_release: None,
        os_release: "kairos-v2-opensuse-leap.os-release",
        version: Some("v2.4.3-k3sv1.27.9+k3s1"),
        flavor: Some("opensuse-leap"),
        flavor_release: None,
        variant: Some("kairos-opensuse-leap"),
        model: None,
        arch: None,
        software: None,
        os_id: "kairos",
        os_pretty: "kairos-opensuse-leap v2.4.3-k3sv1.27.9+k3s1",
        is_kairos: true,
    },
    Case {
        kairos_release: None,
        os_release: "debian-12.os-release",
        version: None,
        flavor: None,
        flavor_release: None,
        variant: None,
        model: None,
        arch: None,
        software: None,
        os_id: "debian",
        os_pretty: "Debian GNU/Linux 12 (bookworm)",
        is_kairos: false,
    },
];

#[test]
fn fixtures_parse_without_errors() {
    for case in &CASES {
        for name in case.kairos_release.iter().chain([&case.os_release]) {
            let parsed = release::parse(&fixture(name));
            assert_eq!(parsed.errors, vec![], "{name}");
            assert!(!parsed.fields.is_empty(), "{name}");
        }
    }
}

#[test]
fn facts_from_fixtures() {
    for case in &CASES {
        let name = case.kairos_release.unwrap_or(case.os_release);
        let f = facts(&HostSnapshot {
            kairos_release: case.kairos_release.map(fixture),
            os_release: Some(fixture(case.os_release)),
            cmdline: Some("BOOT_IMAGE=/cOS/vmlinuz root=LABEL=COS_ACTIVE panic=5".into()),
            boot_id: Some("3f1b2f64-6a5e-4a3f-9c55-0d6f2e4b8c11\n".into()),
            ..HostSnapshot::default()
        });
        assert_eq!(f.errors, Vec::<String>::new(), "{name}");
        assert_eq!(f.is_kairos, case.is_kairos, "{name}");
        let os = f.os.clone().unwrap_or_default();
        assert_eq!(os.id.as_deref(), Some(case.os_id), "{name}");
        assert_eq!(os.pretty_name.as_deref(), Some(case.os_pretty), "{name}");
        let k = f.kairos.clone().unwrap_or_default();
        assert_eq!(f.kairos.is_some(), case.is_kairos, "{name}");
        assert_eq!(k.version.as_deref(), case.version, "{name}");
        assert_eq!(k.flavor.as_deref(), case.flavor, "{name}");
        assert_eq!(k.flavor_release.as_deref(), case.flavor_release, "{name}");
        assert_eq!(k.variant.as_deref(), case.variant, "{name}");
        assert_eq!(k.model.as_deref(), case.model, "{name}");
        assert_eq!(k.arch.as_deref(), case.arch, "{name}");
        assert_eq!(
            k.software_version_prefix
                .as_deref()
                .zip(k.software_version.as_deref()),
            case.software,
            "{name}"
        );
        assert_eq!(f.boot_state, BootState::Active);
        assert_eq!(
            f.boot_id.as_deref(),
            Some("3f1b2f64-6a5e-4a3f-9c55-0d6f2e4b8c11")
        );

        let info = k.to_info();
        assert_eq!(info.version, k.version, "{name}");
        assert_eq!(info.image_label, k.image_label, "{name}");
        assert_eq!(os.to_info().pretty_name.as_deref(), Some(case.os_pretty));
    }
}

#[test]
fn labels_from_fixtures_are_valid_and_complete() {
    for case in CASES.iter().filter(|c| c.kairos_release.is_some()) {
        let Some(name) = case.kairos_release else {
            continue;
        };
        let k = KairosRelease::from_fields(&release::parse(&fixture(name)).fields);
        let m = desired_node_metadata(&k, BootState::Active);
        for (key, value) in &m.labels {
            assert!(is_valid_label_value(value), "{name}: {key}={value}");
        }
        let want_labels = if case.software.is_some() { 14 } else { 12 };
        assert_eq!(m.labels.len(), want_labels, "{name}: {:?}", m.labels);
        assert_eq!(m.annotations.len(), 6, "{name}");
        assert_eq!(m.annotations["kairos.io/version"], "v3.6.0");
        if let Some((prefix, _)) = case.software {
            assert_eq!(m.labels["kairos.io/software-version-prefix"], prefix);
        }
    }
    let k = KairosRelease::from_fields(
        &release::parse(&fixture("alpine-3.21-standard-k0s.kairos-release")).fields,
    );
    let m = desired_node_metadata(&k, BootState::Recovery);
    assert_eq!(m.labels["kairos.io/software-version"], "v1.33.1-k0s.0");
    assert_eq!(m.labels["kairos.io/boot-state"], "recovery");
}

#[test]
fn malformed_release_gives_errors_and_no_wrong_values() {
    let f = facts(&HostSnapshot {
        kairos_release: Some(fixture("malformed.kairos-release")),
        os_release: Some(fixture("ubuntu-24.04.os-release")),
        ..HostSnapshot::default()
    });
    assert!(f.is_kairos, "a malformed kairos-release is still Kairos");
    let k = f.kairos.unwrap_or_default();
    assert_eq!(k.version, None, "an invalid version line is never taken");
    assert_eq!(k.variant, None);
    assert_eq!(k.model, None);
    assert_eq!(k.flavor.as_deref(), Some("ubuntu"));
    assert_eq!(k.arch.as_deref(), Some("amd64"));
    assert_eq!(
        f.errors,
        vec![
            "/etc/kairos-release: line 4 (KAIROS_VERSION): unterminated double quote",
            "/etc/kairos-release: line 5 (KAIROS_VARIANT): unexpected characters after the closing quote",
            "/etc/kairos-release: line 6: not a KEY=VALUE assignment",
            "/etc/kairos-release: line 7: invalid key \"kairos_model\": keys are made of A-Z, 0-9 and _",
        ]
    );
}

#[test]
fn os_release_views() {
    let os =
        OsRelease::from_fields(&release::parse(&fixture("opensuse-leap-15.6.os-release")).fields);
    assert_eq!(os.id_like.as_deref(), Some("suse opensuse"));
    assert_eq!(os.version_id.as_deref(), Some("15.6"));
    assert_eq!(os.name.as_deref(), Some("openSUSE Leap"));
}
