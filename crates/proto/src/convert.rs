//! Conversions between the wire types of [`crate::v1`] and core's report types
//! ([`AgentReport`], [`NodeFacts`]). Pure: no I/O.
//!
//! Sending never fails. Receiving ([`TryFrom<v1::NodeReport>`]) checks the bounds a conforming
//! agent always keeps (see the constants), so a misbehaving client cannot make the operator store
//! arbitrarily large or malformed data. An unknown boot-state number (from a newer agent) reads as
//! [`BootState::Unknown`]; the boot facts an older agent does not send (`uki_boot`, `in_ram`,
//! `upgrade_failure`, `boot_state_message`) read as false / absent.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::BootState;
use kairos_core::release::{self, KairosRelease, MAX_VALUE_LEN, OsRelease};
use kairos_core::report::{
    AgentReport, CLOUD_CONFIG_DIRS, MAX_CLOUD_CONFIG_FILES, MAX_ERROR_LEN, MAX_ERRORS, NodeFacts,
};

use crate::v1;

/// The longest node name accepted (a DNS subdomain).
pub const MAX_NODE_NAME_LEN: usize = 253;
/// The longest agent version, boot ID or other short string accepted.
pub const MAX_SHORT_LEN: usize = 128;
/// The most keys a release map may carry.
pub const MAX_FIELDS: usize = 64;
/// The longest cloud-config path accepted.
pub const MAX_PATH_LEN: usize = 1024;

/// Why a received report was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// `node_name` is empty, too long, or not a lower-case DNS subdomain.
    #[error("failed to read report: node name {0:?} is not a valid node name")]
    InvalidNodeName(String),
    /// A string field is longer than its bound.
    #[error("failed to read report: {field} is longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A list or map has more entries than its bound.
    #[error("failed to read report: {field} has more than {max} entries")]
    TooMany {
        /// The field.
        field: &'static str,
        /// Its bound.
        max: usize,
    },
    /// A release map has a key that is not a valid release-file key.
    #[error("failed to read report: {field} has an invalid key")]
    InvalidKey {
        /// The field.
        field: &'static str,
    },
    /// `cloud_config_hash` is neither empty nor 64 lower-case hex digits.
    #[error("failed to read report: cloud_config_hash is not a hex SHA-256")]
    InvalidHash,
    /// A `cloud_config_files` entry's path is not an absolute path of a cloud-config directory,
    /// or its hash is not 64 lower-case hex digits.
    #[error("failed to read report: cloud_config_files has an invalid entry")]
    InvalidFileHash,
}

// === BootState ===

/// The wire form of a boot state.
pub fn boot_state_to_proto(state: BootState) -> v1::BootState {
    match state {
        BootState::Active => v1::BootState::Active,
        BootState::Passive => v1::BootState::Passive,
        BootState::Recovery => v1::BootState::Recovery,
        BootState::Autoreset => v1::BootState::Autoreset,
        BootState::Livecd => v1::BootState::Livecd,
        BootState::Unknown => v1::BootState::Unknown,
    }
}

/// The boot state of a wire number; unknown numbers (from newer agents) read as unknown.
pub fn boot_state_from_proto(value: i32) -> BootState {
    match v1::BootState::try_from(value) {
        Ok(v1::BootState::Active) => BootState::Active,
        Ok(v1::BootState::Passive) => BootState::Passive,
        Ok(v1::BootState::Recovery) => BootState::Recovery,
        Ok(v1::BootState::Autoreset) => BootState::Autoreset,
        Ok(v1::BootState::Livecd) => BootState::Livecd,
        Ok(v1::BootState::Unknown) | Err(_) => BootState::Unknown,
    }
}

// === NodeReport ===

/// The wire report of `facts` for node `node_name`, sent by agent version `agent_version`.
pub fn node_report(node_name: &str, agent_version: &str, facts: &NodeFacts) -> v1::NodeReport {
    v1::NodeReport {
        node_name: node_name.to_owned(),
        agent_version: agent_version.to_owned(),
        boot_id: facts.boot_id.clone().unwrap_or_default(),
        boot_state: boot_state_to_proto(facts.boot_state).into(),
        kairos: facts.kairos.as_ref().map(|k| v1::KairosRelease {
            fields: k.to_fields().into_iter().collect(),
        }),
        os: facts.os.as_ref().map(|o| v1::OsRelease {
            fields: o.to_fields().into_iter().collect(),
        }),
        cloud_config_hash: facts.cloud_config_hash.clone(),
        cloud_config_files: facts
            .cloud_config_files
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        errors: facts.errors.clone(),
        is_kairos: facts.is_kairos,
        uki_boot: Some(facts.uki_boot),
        in_ram: Some(facts.in_ram),
        upgrade_failure: Some(facts.upgrade_failure),
        boot_state_message: facts.boot_state_message.clone(),
    }
}

impl From<&AgentReport> for v1::NodeReport {
    fn from(report: &AgentReport) -> Self {
        node_report(&report.node_name, &report.agent_version, &report.facts)
    }
}

impl TryFrom<v1::NodeReport> for AgentReport {
    type Error = ConvertError;

    fn try_from(r: v1::NodeReport) -> Result<Self, Self::Error> {
        if !is_node_name(&r.node_name) {
            let shown = r.node_name.chars().take(MAX_NODE_NAME_LEN).collect();
            return Err(ConvertError::InvalidNodeName(shown));
        }
        check_len("agent_version", &r.agent_version, MAX_SHORT_LEN)?;
        check_len("boot_id", &r.boot_id, MAX_SHORT_LEN)?;
        if !(r.cloud_config_hash.is_empty() || is_sha256_hex(&r.cloud_config_hash)) {
            return Err(ConvertError::InvalidHash);
        }
        let cloud_config_files = checked_file_hashes(r.cloud_config_files)?;
        if r.errors.len() > MAX_ERRORS {
            return Err(ConvertError::TooMany {
                field: "errors",
                max: MAX_ERRORS,
            });
        }
        for e in &r.errors {
            check_len("errors", e, MAX_ERROR_LEN)?;
        }
        if let Some(m) = &r.boot_state_message {
            check_len("boot_state_message", m, MAX_ERROR_LEN)?;
        }
        let kairos = r
            .kairos
            .map(|k| checked_fields("kairos", k.fields))
            .transpose()?
            .map(|f| KairosRelease::from_fields(&f));
        let os =
            r.os.map(|o| checked_fields("os", o.fields))
                .transpose()?
                .map(|f| OsRelease::from_fields(&f));
        Ok(AgentReport {
            node_name: r.node_name,
            agent_version: r.agent_version,
            facts: NodeFacts {
                is_kairos: r.is_kairos,
                kairos,
                os,
                boot_state: boot_state_from_proto(r.boot_state),
                boot_state_message: r.boot_state_message.filter(|m| !m.is_empty()),
                uki_boot: r.uki_boot.unwrap_or(false),
                in_ram: r.in_ram.unwrap_or(false),
                upgrade_failure: r.upgrade_failure.unwrap_or(false),
                boot_id: Some(r.boot_id).filter(|b| !b.is_empty()),
                cloud_config_hash: r.cloud_config_hash,
                cloud_config_files,
                errors: r.errors,
            },
        })
    }
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ConvertError> {
    if value.len() > max {
        Err(ConvertError::TooLong { field, max })
    } else {
        Ok(())
    }
}

fn checked_fields(
    field: &'static str,
    fields: std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, ConvertError> {
    if fields.len() > MAX_FIELDS {
        return Err(ConvertError::TooMany {
            field,
            max: MAX_FIELDS,
        });
    }
    for (k, v) in &fields {
        if !release::is_valid_key(k) {
            return Err(ConvertError::InvalidKey { field });
        }
        check_len(field, v, MAX_VALUE_LEN)?;
    }
    Ok(fields.into_iter().collect())
}

/// The per-file hashes of a report, checked: at most [`MAX_CLOUD_CONFIG_FILES`] entries, each
/// path under one of [`CLOUD_CONFIG_DIRS`] of at most [`MAX_PATH_LEN`] bytes, each hash hex.
fn checked_file_hashes(
    files: std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, ConvertError> {
    if files.len() > MAX_CLOUD_CONFIG_FILES {
        return Err(ConvertError::TooMany {
            field: "cloud_config_files",
            max: MAX_CLOUD_CONFIG_FILES,
        });
    }
    for (path, hash) in &files {
        let under_dir = CLOUD_CONFIG_DIRS.iter().any(|dir| {
            path.strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        });
        if !under_dir || path.len() > MAX_PATH_LEN || !is_sha256_hex(hash) {
            return Err(ConvertError::InvalidFileHash);
        }
    }
    Ok(files.into_iter().collect())
}

/// Whether `name` is a valid Node name: a lower-case RFC 1123 DNS subdomain.
fn is_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NODE_NAME_LEN
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
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
                        fields: [("KAIROS_VERSION".to_owned(), "v".repeat(MAX_VALUE_LEN + 1))]
                            .into(),
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
}
