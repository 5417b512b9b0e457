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

/// Whether `name` is a valid Node name: a lower-case RFC 1123 DNS subdomain, as the API server
/// judges it (at most 253 characters in all; a label may be longer than 63).
fn is_node_name(name: &str) -> bool {
    kairos_core::k8s_names::is_dns_subdomain(name)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests;
