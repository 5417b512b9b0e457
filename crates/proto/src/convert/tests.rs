//! Tests of the conversions between wire reports and core's report types, and of the bounds a received report must keep.

use super::*;
use kairos_core::report::{HostSnapshot, facts};
use prost::Message;

fn sample() -> AgentReport {
    AgentReport {
        node_name: "worker-1.example".into(),
        agent_version: "0.1.0".into(),
        facts: facts(&HostSnapshot {
            kairos_release: Some(
                "KAIROS_VERSION=\"v3.6.0\"\nKAIROS_FLAVOR=\"ubuntu\"\nKAIROS_TARGETARCH=amd64\n\
                 KAIROS_SOFTWARE_VERSION=\"v1.33.1+k3s1\"\nKAIROS_VARIANT=\"standard\n"
                    .into(),
            ),
            os_release: Some("ID=ubuntu\nPRETTY_NAME=\"Ubuntu 24.04.2 LTS\"\n".into()),
            cmdline: Some("root=LABEL=COS_PASSIVE".into()),
            cos_sentinels: vec![],
            boot_id: Some("8d3e0c54-2b5c-4f3e-9d51-7f2a8b6c4e10\n".into()),
            cloud_config: vec![("/oem/90_custom.yaml".into(), b"#cloud-config\n".to_vec())],
            read_errors: vec![],
        }),
    }
}

#[test]
fn report_round_trips_through_the_wire() {
    let report = sample();
    assert_eq!(
        report.facts.errors.len(),
        1,
        "the variant line is malformed"
    );
    let wire = v1::NodeReport::from(&report).encode_to_vec();
    let decoded = v1::NodeReport::decode(wire.as_slice()).unwrap();
    assert_eq!(decoded.boot_state, v1::BootState::Passive as i32);
    assert_eq!(
        decoded.kairos.as_ref().unwrap().fields["KAIROS_ARCH"],
        "amd64"
    );
    assert_eq!(AgentReport::try_from(decoded).unwrap(), report);
}

#[test]
fn non_kairos_report_round_trips() {
    let report = AgentReport {
        node_name: "debian".into(),
        agent_version: "0.1.0".into(),
        facts: facts(&HostSnapshot {
            os_release: Some("ID=debian\n".into()),
            ..HostSnapshot::default()
        }),
    };
    let wire = v1::NodeReport::from(&report);
    assert!(wire.kairos.is_none());
    assert!(!wire.is_kairos);
    assert_eq!(AgentReport::try_from(wire).unwrap(), report);
}

#[test]
fn boot_facts_round_trip_and_an_old_agent_reads_as_none_of_them() {
    let mut report = sample();
    report.facts = facts(&HostSnapshot {
        cmdline: Some("rd.immucore.uki root=LABEL=COS_ACTIVE".into()),
        cos_sentinels: vec![
            "passive_mode".into(),
            "uki_boot_mode".into(),
            "in_ram_mode".into(),
            "upgrade_failure".into(),
        ],
        ..HostSnapshot::default()
    });
    let f = &report.facts;
    assert!(f.uki_boot && f.in_ram && f.upgrade_failure && f.boot_state_message.is_some());
    let wire = v1::NodeReport::from(&report).encode_to_vec();
    let decoded = v1::NodeReport::decode(wire.as_slice()).unwrap();
    assert_eq!(decoded.uki_boot, Some(true));
    assert_eq!(AgentReport::try_from(decoded.clone()).unwrap(), report);

    let old = v1::NodeReport {
        uki_boot: None,
        in_ram: None,
        upgrade_failure: None,
        boot_state_message: None,
        ..decoded
    };
    let got = AgentReport::try_from(old).unwrap().facts;
    assert!(!got.uki_boot && !got.in_ram && !got.upgrade_failure);
    assert_eq!(got.boot_state_message, None);
    assert_eq!(got.boot_state, BootState::Passive);
}

#[test]
fn boot_states_round_trip_and_unknown_numbers_read_as_unknown() {
    for s in [
        BootState::Active,
        BootState::Passive,
        BootState::Recovery,
        BootState::Autoreset,
        BootState::Livecd,
        BootState::Unknown,
    ] {
        assert_eq!(boot_state_from_proto(boot_state_to_proto(s).into()), s);
    }
    assert_eq!(boot_state_from_proto(99), BootState::Unknown);
}

#[test]
fn invalid_reports_are_refused() {
    let good = v1::NodeReport::from(&sample());
    let cases: Vec<(v1::NodeReport, ConvertError)> = vec![
        (
            v1::NodeReport {
                node_name: String::new(),
                ..good.clone()
            },
            ConvertError::InvalidNodeName(String::new()),
        ),
        (
            v1::NodeReport {
                node_name: "Upper".into(),
                ..good.clone()
            },
            ConvertError::InvalidNodeName("Upper".into()),
        ),
        (
            v1::NodeReport {
                boot_id: "x".repeat(200),
                ..good.clone()
            },
            ConvertError::TooLong {
                field: "boot_id",
                max: MAX_SHORT_LEN,
            },
        ),
        (
            v1::NodeReport {
                cloud_config_hash: "nothex".into(),
                ..good.clone()
            },
            ConvertError::InvalidHash,
        ),
        (
            v1::NodeReport {
                cloud_config_files: [("/oem/a.yaml".to_owned(), "nothex".to_owned())].into(),
                ..good.clone()
            },
            ConvertError::InvalidFileHash,
        ),
        (
            v1::NodeReport {
                cloud_config_files: [("/etc/shadow".to_owned(), "0".repeat(64))].into(),
                ..good.clone()
            },
            ConvertError::InvalidFileHash,
        ),
        (
            v1::NodeReport {
                cloud_config_files: (0..=MAX_CLOUD_CONFIG_FILES)
                    .map(|i| (format!("/oem/{i}.yaml"), "0".repeat(64)))
                    .collect(),
                ..good.clone()
            },
            ConvertError::TooMany {
                field: "cloud_config_files",
                max: MAX_CLOUD_CONFIG_FILES,
            },
        ),
        (
            v1::NodeReport {
                errors: vec!["e".into(); MAX_ERRORS + 1],
                ..good.clone()
            },
            ConvertError::TooMany {
                field: "errors",
                max: MAX_ERRORS,
            },
        ),
        (
            v1::NodeReport {
                os: Some(v1::OsRelease {
                    fields: [("bad key".to_owned(), "x".to_owned())].into(),
                }),
                ..good.clone()
            },
            ConvertError::InvalidKey { field: "os" },
        ),
        (
            v1::NodeReport {
                kairos: Some(v1::KairosRelease {
                    fields: [("KAIROS_VERSION".to_owned(), "v".repeat(MAX_VALUE_LEN + 1))].into(),
                }),
                ..good.clone()
            },
            ConvertError::TooLong {
                field: "kairos",
                max: MAX_VALUE_LEN,
            },
        ),
        (
            v1::NodeReport {
                boot_state_message: Some("m".repeat(MAX_ERROR_LEN + 1)),
                ..good.clone()
            },
            ConvertError::TooLong {
                field: "boot_state_message",
                max: MAX_ERROR_LEN,
            },
        ),
    ];
    for (report, want) in cases {
        assert_eq!(AgentReport::try_from(report), Err(want.clone()), "{want}");
    }
}

fn with_name(name: &str) -> v1::NodeReport {
    v1::NodeReport {
        node_name: name.to_owned(),
        ..v1::NodeReport::from(&sample())
    }
}

#[test]
fn a_node_name_label_longer_than_63_characters_is_accepted_as_kubernetes_does() {
    // A Node name is a DNS-1123 subdomain, which bounds the whole name, not each label.
    let name = format!("{}.example", "a".repeat(64));
    assert_eq!(
        AgentReport::try_from(with_name(&name)).map(|r| r.node_name),
        Ok(name)
    );
}

#[test]
fn a_node_name_of_253_characters_is_accepted_and_254_is_not() {
    let label = "a".repeat(62);
    let longest = format!("{label}.{label}.{label}.{label}.b");
    assert_eq!(longest.len(), 253);
    assert!(AgentReport::try_from(with_name(&longest)).is_ok());
    let too_long = format!("{longest}b");
    assert!(matches!(
        AgentReport::try_from(with_name(&too_long)),
        Err(ConvertError::InvalidNodeName(_))
    ));
}

#[test]
fn node_names_with_empty_labels_or_edge_dashes_are_refused() {
    for name in ["a.", ".a", "a..b", "-a", "a-", "a.-b", "a_b", "a b", "ä"] {
        assert_eq!(
            AgentReport::try_from(with_name(name)),
            Err(ConvertError::InvalidNodeName(name.to_owned())),
            "{name:?}"
        );
    }
}

#[test]
fn a_huge_node_name_is_quoted_cut_to_the_longest_valid_length() {
    let huge = "X".repeat(10_000);
    let Err(ConvertError::InvalidNodeName(shown)) = AgentReport::try_from(with_name(&huge)) else {
        panic!("refused");
    };
    assert_eq!(shown.len(), MAX_NODE_NAME_LEN);
}

#[test]
fn a_cloud_config_hash_must_be_lower_case_hex_of_64_digits() {
    let good = v1::NodeReport::from(&sample());
    let hex = "0123456789abcdef".repeat(4);
    for (hash, ok) in [
        (String::new(), true),
        (hex.clone(), true),
        (hex.to_uppercase(), false),
        (hex[..63].to_owned(), false),
        (format!("{hex}0"), false),
        (format!("{}g", &hex[..63]), false),
    ] {
        let report = v1::NodeReport {
            cloud_config_hash: hash.clone(),
            ..good.clone()
        };
        let got = AgentReport::try_from(report);
        if ok {
            assert_eq!(got.map(|r| r.facts.cloud_config_hash), Ok(hash));
        } else {
            assert_eq!(got, Err(ConvertError::InvalidHash), "{hash}");
        }
    }
}

#[test]
fn a_release_map_of_more_than_64_keys_is_refused() {
    let fields = (0..=MAX_FIELDS)
        .map(|i| (format!("KEY_{i}"), "x".to_owned()))
        .collect();
    let report = v1::NodeReport {
        kairos: Some(v1::KairosRelease { fields }),
        ..v1::NodeReport::from(&sample())
    };
    assert_eq!(
        AgentReport::try_from(report),
        Err(ConvertError::TooMany {
            field: "kairos",
            max: MAX_FIELDS
        })
    );
}

#[test]
fn an_over_long_agent_version_or_error_is_refused() {
    let good = v1::NodeReport::from(&sample());
    let version = v1::NodeReport {
        agent_version: "1".repeat(MAX_SHORT_LEN + 1),
        ..good.clone()
    };
    assert_eq!(
        AgentReport::try_from(version),
        Err(ConvertError::TooLong {
            field: "agent_version",
            max: MAX_SHORT_LEN
        })
    );
    let error = v1::NodeReport {
        errors: vec!["e".repeat(MAX_ERROR_LEN + 1)],
        ..good
    };
    assert_eq!(
        AgentReport::try_from(error),
        Err(ConvertError::TooLong {
            field: "errors",
            max: MAX_ERROR_LEN
        })
    );
}

#[test]
fn strings_exactly_at_their_bounds_are_accepted() {
    let report = v1::NodeReport {
        agent_version: "1".repeat(MAX_SHORT_LEN),
        boot_id: "b".repeat(MAX_SHORT_LEN),
        errors: vec!["e".repeat(MAX_ERROR_LEN); MAX_ERRORS],
        boot_state_message: Some("m".repeat(MAX_ERROR_LEN)),
        ..v1::NodeReport::from(&sample())
    };
    assert!(AgentReport::try_from(report).is_ok());
}

#[test]
fn an_empty_boot_id_and_an_empty_boot_message_read_as_absent() {
    let report = v1::NodeReport {
        boot_id: String::new(),
        boot_state_message: Some(String::new()),
        ..v1::NodeReport::from(&sample())
    };
    let facts = AgentReport::try_from(report).expect("valid").facts;
    assert_eq!(facts.boot_id, None);
    assert_eq!(facts.boot_state_message, None);
}

#[test]
fn refusals_say_what_was_wrong() {
    let table = [
        (
            ConvertError::InvalidNodeName("X".into()),
            "failed to read report: node name \"X\" is not a valid node name",
        ),
        (
            ConvertError::TooLong {
                field: "boot_id",
                max: 128,
            },
            "failed to read report: boot_id is longer than 128 bytes",
        ),
        (
            ConvertError::TooMany {
                field: "errors",
                max: 32,
            },
            "failed to read report: errors has more than 32 entries",
        ),
        (
            ConvertError::InvalidKey { field: "os" },
            "failed to read report: os has an invalid key",
        ),
        (
            ConvertError::InvalidHash,
            "failed to read report: cloud_config_hash is not a hex SHA-256",
        ),
    ];
    for (err, message) in table {
        assert_eq!(err.to_string(), message);
    }
}

proptest::proptest! {
    /// Whatever bytes a client sends, decoding and checking never panics, and an accepted
    /// report keeps every bound.
    #[test]
    fn any_wire_bytes_are_refused_or_accepted_within_bounds(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        if let Ok(wire) = v1::NodeReport::decode(bytes.as_slice())
            && let Ok(report) = AgentReport::try_from(wire)
        {
            proptest::prop_assert!(is_node_name(&report.node_name));
            proptest::prop_assert!(report.agent_version.len() <= MAX_SHORT_LEN);
            proptest::prop_assert!(report.facts.errors.len() <= MAX_ERRORS);
        }
    }

    /// Any node name is accepted exactly when it is a lower-case DNS subdomain.
    #[test]
    fn node_names_are_judged_as_dns_subdomains(name in "[a-z0-9.-]{0,70}|[A-Za-z0-9._-]{0,10}") {
        let want = kairos_core::k8s_names::is_dns_subdomain(&name);
        proptest::prop_assert_eq!(AgentReport::try_from(with_name(&name)).is_ok(), want);
    }
}
