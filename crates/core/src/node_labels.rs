//! The `kairos.io/*` labels and annotations a Kairos Node should carry, computed from its
//! reported release and boot state, with the names upstream's node labeler uses so existing
//! node selectors keep working. Pure: no I/O.

use std::collections::BTreeMap;

use kairos_api::names::{LABEL_MANAGED, LABEL_PREFIX};
use kairos_api::v1alpha1::BootState;

use crate::k8s_names::{self, MAX_LABEL_VALUE_LEN};
use crate::release::KairosRelease;

/// The labels and annotations a Kairos Node should carry, keyed by their full names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMetadata {
    /// Node labels: `kairos.io/managed` plus one per set `KAIROS_*` key (see
    /// [`desired_node_metadata`]); every value is a valid label value.
    pub labels: BTreeMap<String, String>,
    /// Node annotations, values as reported.
    pub annotations: BTreeMap<String, String>,
}

/// The `kairos.io/*` labels and annotations for a node running `release`, booted in `boot`.
///
/// Labels: `kairos.io/managed: "true"`, and `kairos.io/{id, family, flavor, flavor-release,
/// variant, release, model, arch, trusted-boot, fips, software-version-prefix, software-version}`
/// from the matching `KAIROS_*` keys, plus `kairos.io/boot-state`. Values go through
/// [`sanitize_label_value`]; a value that sanitises to nothing is left out.
/// Annotations: `kairos.io/{name, id-like, init-version, version, bug-report-url, home-url}`.
///
/// # Guarantees
///
/// Every label value is a valid Kubernetes label value; the result depends only on the inputs.
pub fn desired_node_metadata(release: &KairosRelease, boot: BootState) -> NodeMetadata {
    let mut labels = BTreeMap::from([(LABEL_MANAGED.to_owned(), "true".to_owned())]);
    let label_sources: [(&str, Option<&str>); 13] = [
        ("id", release.id.as_deref()),
        ("family", release.family.as_deref()),
        ("flavor", release.flavor.as_deref()),
        ("flavor-release", release.flavor_release.as_deref()),
        ("variant", release.variant.as_deref()),
        ("release", release.release.as_deref()),
        ("model", release.model.as_deref()),
        ("arch", release.arch.as_deref()),
        ("trusted-boot", release.trusted_boot.as_deref()),
        ("fips", release.fips.as_deref()),
        (
            "software-version-prefix",
            release.software_version_prefix.as_deref(),
        ),
        ("software-version", release.software_version.as_deref()),
        ("boot-state", Some(crate::boot::state_name(boot))),
    ];
    for (name, value) in label_sources {
        if let Some(v) = value.and_then(sanitize_label_value) {
            labels.insert(format!("{LABEL_PREFIX}{name}"), v);
        }
    }

    let annotation_sources: [(&str, Option<&str>); 6] = [
        ("name", release.name.as_deref()),
        ("id-like", release.id_like.as_deref()),
        ("init-version", release.init_version.as_deref()),
        ("version", release.version.as_deref()),
        ("bug-report-url", release.bug_report_url.as_deref()),
        ("home-url", release.home_url.as_deref()),
    ];
    let annotations = annotation_sources
        .into_iter()
        .filter_map(|(name, v)| {
            v.filter(|v| !v.is_empty())
                .map(|v| (format!("{LABEL_PREFIX}{name}"), v.to_owned()))
        })
        .collect();
    NodeMetadata {
        labels,
        annotations,
    }
}

/// Turns `value` into a valid Kubernetes label value the way upstream's labeler does, or `None`
/// when nothing is left.
///
/// Characters outside `[A-Za-z0-9._-]` become `-` (so `v1.33.1+k3s1` becomes `v1.33.1-k3s1`,
/// as upstream's labeler writes it), the result is cut to 63 characters, and leading and
/// trailing characters that are not alphanumeric are removed: a valid value comes back
/// unchanged. Unlike [`k8s_names::label_value`] (for labels that find objects again) it adds no
/// hash, so these labels read as upstream's, and two values may end up alike.
pub fn sanitize_label_value(value: &str) -> Option<String> {
    let mapped: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_LABEL_VALUE_LEN)
        .collect();
    let trimmed = mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// Whether `value` is a valid, non-empty Kubernetes label value: at most 63 characters of
/// `[A-Za-z0-9._-]`, beginning and ending with an alphanumeric character.
pub fn is_valid_label_value(value: &str) -> bool {
    !value.is_empty() && k8s_names::is_label_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ubuntu() -> KairosRelease {
        KairosRelease {
            version: Some("v3.6.0".into()),
            flavor: Some("ubuntu".into()),
            flavor_release: Some("24.04".into()),
            variant: Some("standard".into()),
            model: Some("generic".into()),
            arch: Some("amd64".into()),
            family: Some("ubuntu".into()),
            software_version: Some("v1.33.1+k3s1".into()),
            software_version_prefix: Some("k3s".into()),
            image_repo: Some("quay.io/kairos/ubuntu".into()),
            image_label: Some("24.04-standard-amd64-generic-v3.6.0-k3sv1.33.1-k3s1".into()),
            release: Some("v3.6.0".into()),
            id: Some("kairos".into()),
            id_like: Some("kairos-standard-ubuntu-24.04".into()),
            name: Some("kairos-standard-ubuntu-24.04".into()),
            init_version: Some("v0.5.20".into()),
            bug_report_url: Some("https://github.com/kairos-io/kairos/issues".into()),
            home_url: Some("https://github.com/kairos-io/kairos".into()),
            trusted_boot: Some("false".into()),
            fips: Some("false".into()),
        }
    }

    #[test]
    fn full_release_gives_upstream_labels_and_annotations() {
        let m = desired_node_metadata(&ubuntu(), BootState::Active);
        let labels: Vec<(&str, &str)> = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("kairos.io/arch", "amd64"),
                ("kairos.io/boot-state", "active"),
                ("kairos.io/family", "ubuntu"),
                ("kairos.io/fips", "false"),
                ("kairos.io/flavor", "ubuntu"),
                ("kairos.io/flavor-release", "24.04"),
                ("kairos.io/id", "kairos"),
                ("kairos.io/managed", "true"),
                ("kairos.io/model", "generic"),
                ("kairos.io/release", "v3.6.0"),
                ("kairos.io/software-version", "v1.33.1-k3s1"),
                ("kairos.io/software-version-prefix", "k3s"),
                ("kairos.io/trusted-boot", "false"),
                ("kairos.io/variant", "standard"),
            ]
        );
        let annotations: Vec<(&str, &str)> = m
            .annotations
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            annotations,
            vec![
                (
                    "kairos.io/bug-report-url",
                    "https://github.com/kairos-io/kairos/issues"
                ),
                ("kairos.io/home-url", "https://github.com/kairos-io/kairos"),
                ("kairos.io/id-like", "kairos-standard-ubuntu-24.04"),
                ("kairos.io/init-version", "v0.5.20"),
                ("kairos.io/name", "kairos-standard-ubuntu-24.04"),
                ("kairos.io/version", "v3.6.0"),
            ]
        );
    }

    #[test]
    fn core_image_has_no_software_labels() {
        let release = KairosRelease {
            software_version: None,
            software_version_prefix: None,
            ..ubuntu()
        };
        let m = desired_node_metadata(&release, BootState::Passive);
        assert!(!m.labels.contains_key("kairos.io/software-version"));
        assert!(!m.labels.contains_key("kairos.io/software-version-prefix"));
        assert_eq!(m.labels["kairos.io/boot-state"], "passive");
    }

    #[test]
    fn empty_release_is_managed_with_boot_state_only() {
        let m = desired_node_metadata(&KairosRelease::default(), BootState::Unknown);
        assert_eq!(m.labels.len(), 2);
        assert_eq!(m.labels["kairos.io/managed"], "true");
        assert_eq!(m.labels["kairos.io/boot-state"], "unknown");
        assert!(m.annotations.is_empty());
    }

    #[test]
    fn sanitize_table() {
        let cases = [
            ("v1.33.1+k3s1", Some("v1.33.1-k3s1")),
            ("leap-15.6", Some("leap-15.6")),
            ("  spaced out ", Some("spaced-out")),
            ("-_.x._-", Some("x")),
            ("+++", None),
            ("", None),
            ("ünïcode", Some("n-code")),
            ("a/b:c", Some("a-b-c")),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_label_value(input).as_deref(), want, "{input:?}");
        }
        let long = "a".repeat(62) + "-b";
        assert_eq!(sanitize_label_value(&long), Some("a".repeat(62)));
        assert_eq!(sanitize_label_value(&"x".repeat(100)), Some("x".repeat(63)));
    }

    #[test]
    fn valid_label_value_table() {
        assert!(is_valid_label_value("v1.33.1-k3s1"));
        assert!(!is_valid_label_value(""));
        assert!(!is_valid_label_value("-a"));
        assert!(!is_valid_label_value("a+b"));
        assert!(!is_valid_label_value(&"a".repeat(64)));
    }

    fn any_release() -> impl Strategy<Value = KairosRelease> {
        let v = || proptest::option::of(any::<String>());
        (
            (v(), v(), v(), v(), v(), v(), v()),
            (v(), v(), v(), v(), v(), v(), v()),
        )
            .prop_map(
                |((a, b, c, d, e, f, g), (h, i, j, k, l, m, n))| KairosRelease {
                    id: a,
                    family: b,
                    flavor: c,
                    flavor_release: d,
                    variant: e,
                    release: f,
                    model: g,
                    arch: h,
                    trusted_boot: i,
                    fips: j,
                    software_version_prefix: k,
                    software_version: l,
                    version: m,
                    name: n,
                    ..KairosRelease::default()
                },
            )
    }

    proptest! {
        #[test]
        fn every_label_value_is_valid(release in any_release(), boot in 0u8..5) {
            let boot = match boot {
                0 => BootState::Active,
                1 => BootState::Passive,
                2 => BootState::Recovery,
                3 => BootState::Livecd,
                _ => BootState::Unknown,
            };
            let m = desired_node_metadata(&release, boot);
            for (k, v) in &m.labels {
                prop_assert!(is_valid_label_value(v), "{k}={v:?}");
            }
            for v in m.annotations.values() {
                prop_assert!(!v.is_empty());
            }
        }

        #[test]
        fn sanitize_output_is_valid_or_none(value in any::<String>()) {
            if let Some(v) = sanitize_label_value(&value) {
                prop_assert!(is_valid_label_value(&v));
            }
        }
    }
}
