//! What a node agent reports: the raw host files it read ([`HostSnapshot`]) turned into parsed,
//! checked facts ([`NodeFacts`]), and the cloud-config hash. Pure: the agent does the reading and
//! hands the contents in; nothing here touches the filesystem or the clock.

use std::collections::BTreeMap;

use kairos_api::v1alpha1::BootState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::boot::boot_facts;
use crate::release::{self, KairosRelease, OsRelease};

/// Host path of the Kairos release file.
pub const KAIROS_RELEASE_PATH: &str = "/etc/kairos-release";
/// Host path of the os-release file.
pub const OS_RELEASE_PATH: &str = "/etc/os-release";
/// Host path of the os-release fallback, read when [`OS_RELEASE_PATH`] is missing.
pub const OS_RELEASE_FALLBACK_PATH: &str = "/usr/lib/os-release";
/// Path of the kernel command line.
pub const CMDLINE_PATH: &str = "/proc/cmdline";
/// Path of the kernel's boot ID.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";
/// The most errors [`NodeFacts::errors`] holds; further errors are summed up in one last line.
pub const MAX_ERRORS: usize = 32;
/// The longest error message [`NodeFacts::errors`] holds, in bytes; longer ones are cut.
pub const MAX_ERROR_LEN: usize = 512;

/// The most cloud-config files the agent hashes (and a report may list).
pub const MAX_CLOUD_CONFIG_FILES: usize = 256;

/// Host directories whose cloud-config files are hashed into `cloudConfigHash`.
pub const CLOUD_CONFIG_DIRS: [&str; 2] = ["/oem", "/usr/local/cloud-config"];

/// The host files as the agent read them, before any parsing. Paths are host paths (relative to
/// the host root, starting with `/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSnapshot {
    /// Contents of `/etc/kairos-release`; `None` when the file does not exist (not Kairos, or a
    /// Kairos release older than v3) or could not be read (then `read_errors` says why).
    pub kairos_release: Option<String>,
    /// Contents of `/etc/os-release` (or `/usr/lib/os-release`); `None` when neither was read.
    pub os_release: Option<String>,
    /// Contents of `/proc/cmdline`; `None` when it was not read.
    pub cmdline: Option<String>,
    /// The names of the files in `/run/cos` (immucore's boot sentinels, see [`crate::boot`]);
    /// empty when the directory is missing.
    pub cos_sentinels: Vec<String>,
    /// Contents of `/proc/sys/kernel/random/boot_id`; `None` when it was not read.
    pub boot_id: Option<String>,
    /// The cloud-config files: host path and contents.
    pub cloud_config: Vec<(String, Vec<u8>)>,
    /// Problems met while reading (missing, unreadable, too large or non-UTF-8 files), as
    /// messages that name the host path.
    pub read_errors: Vec<String>,
}

/// What a node runs, parsed and checked: the content of a report, without the node's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFacts {
    /// Whether the node runs Kairos; see [`release::is_kairos`].
    pub is_kairos: bool,
    /// The Kairos release; `None` on a node that is not Kairos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kairos: Option<KairosRelease>,
    /// The os-release; `None` when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsRelease>,
    /// Which image the node booted.
    pub boot_state: BootState,
    /// Why the boot state is uncertain (sentinels and command line disagree); see
    /// [`crate::boot::BootFacts::message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_state_message: Option<String>,
    /// A trusted-boot (UKI) boot, from immucore's sentinels or the command line.
    #[serde(default)]
    pub uki_boot: bool,
    /// The system runs from RAM.
    #[serde(default)]
    pub in_ram: bool,
    /// GRUB's boot assessment fell back after failed boots of an upgraded active system.
    #[serde(default)]
    pub upgrade_failure: bool,
    /// The kernel's boot ID; `None` when it could not be read or is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// [`cloud_config_hash`] of the cloud-config files.
    pub cloud_config_hash: String,
    /// [`file_hashes`] of the cloud-config files: SHA-256 (hex) of each file's contents, by
    /// host path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cloud_config_files: BTreeMap<String, String>,
    /// Problems found while reading and parsing, one message each, naming the host path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A report as the operator receives it: who sent it, and what it says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    /// The Kubernetes Node the agent runs on.
    pub node_name: String,
    /// Version of the `kairos-node-agent` binary.
    pub agent_version: String,
    /// What the node runs.
    pub facts: NodeFacts,
}

/// SHA-256 over cloud-config files, lower-case hex. Files are sorted by path, and each
/// contributes its path length, path, content length and content (lengths as 8-byte
/// little-endian), so no two different sets of files hash alike by concatenation.
///
/// # Guarantees
///
/// The result does not depend on the order of `files`. No files hash to the SHA-256 of nothing.
pub fn cloud_config_hash(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for (path, content) in sorted {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 (lower-case hex) of `content`.
pub fn sha256_hex(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 (hex) of each file's contents, by path. A path listed twice keeps its last
/// contents (the agent never lists one twice).
pub fn file_hashes(files: &[(String, Vec<u8>)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, content)| (path.clone(), sha256_hex(content)))
        .collect()
}

/// Parses a [`HostSnapshot`] into [`NodeFacts`], collecting every read and parse error.
///
/// - The Kairos release comes from `/etc/kairos-release`; when that file is absent but the
///   os-release carries `KAIROS_*` keys (Kairos releases older than v3), from those.
/// - A present kairos-release makes the node Kairos even when it is malformed: its invalid lines
///   are reported as errors and their keys left out, never guessed.
/// - The boot state and its companions come from [`boot_facts`]: `/run/cos` sentinels first, the
///   command line second.
/// - The boot ID is trimmed; an empty one is reported as an error.
///
/// # Guarantees
///
/// Never panics; the result depends only on `snapshot`.
pub fn facts(snapshot: &HostSnapshot) -> NodeFacts {
    let mut errors = snapshot.read_errors.clone();

    let os_parsed = snapshot.os_release.as_deref().map(release::parse);
    if let Some(p) = &os_parsed {
        errors.extend(p.errors.iter().map(|e| format!("{OS_RELEASE_PATH}: {e}")));
    }
    let os = os_parsed
        .as_ref()
        .map(|p| OsRelease::from_fields(&p.fields));

    let kairos = match snapshot.kairos_release.as_deref() {
        Some(contents) => {
            let p = release::parse(contents);
            errors.extend(
                p.errors
                    .iter()
                    .map(|e| format!("{KAIROS_RELEASE_PATH}: {e}")),
            );
            if p.fields.is_empty() && p.errors.is_empty() {
                errors.push(format!("{KAIROS_RELEASE_PATH}: file is empty"));
            }
            Some(KairosRelease::from_fields(&p.fields))
        }
        None => os_parsed
            .as_ref()
            .filter(|p| KairosRelease::any_in(&p.fields))
            .map(|p| KairosRelease::from_fields(&p.fields)),
    };

    let is_kairos = release::is_kairos(kairos.as_ref(), os.as_ref());
    let kairos = match kairos {
        None if is_kairos => Some(KairosRelease::default()),
        other => other,
    };

    let boot = boot_facts(snapshot.cmdline.as_deref(), &snapshot.cos_sentinels);

    let boot_id = snapshot.boot_id.as_deref().and_then(|raw| {
        let id = raw.trim();
        if id.is_empty() {
            errors.push(format!("{BOOT_ID_PATH}: file is empty"));
            None
        } else {
            Some(id.to_owned())
        }
    });

    NodeFacts {
        is_kairos,
        kairos,
        os,
        boot_state: boot.state,
        boot_state_message: boot.message,
        uki_boot: boot.uki,
        in_ram: boot.in_ram,
        upgrade_failure: boot.upgrade_failure,
        boot_id,
        cloud_config_hash: cloud_config_hash(&snapshot.cloud_config),
        cloud_config_files: file_hashes(&snapshot.cloud_config),
        errors: bound_errors(errors),
    }
}

/// Keeps at most [`MAX_ERRORS`] messages of at most [`MAX_ERROR_LEN`] bytes each.
fn bound_errors(mut errors: Vec<String>) -> Vec<String> {
    if errors.len() > MAX_ERRORS {
        let dropped = errors.len() - (MAX_ERRORS - 1);
        errors.truncate(MAX_ERRORS - 1);
        errors.push(format!("... and {dropped} more errors"));
    }
    for e in &mut errors {
        if e.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN - 3;
            while !e.is_char_boundary(cut) {
                cut -= 1;
            }
            e.truncate(cut);
            e.push_str("...");
        }
    }
    errors
}

impl NodeFacts {
    /// The raw `KAIROS_*` fields of [`NodeFacts::kairos`], for transports that carry maps.
    pub fn kairos_fields(&self) -> Option<BTreeMap<String, String>> {
        self.kairos.as_ref().map(KairosRelease::to_fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn file(path: &str, content: &str) -> (String, Vec<u8>) {
        (path.to_owned(), content.as_bytes().to_vec())
    }

    #[test]
    fn hash_of_nothing_is_sha256_of_nothing() {
        assert_eq!(cloud_config_hash(&[]), EMPTY_SHA256);
    }

    #[test]
    fn hash_ignores_order_and_sees_every_change() {
        let a = file("/oem/90_custom.yaml", "#cloud-config\nhostname: a\n");
        let b = file("/usr/local/cloud-config/10.yaml", "#cloud-config\n");
        let h = cloud_config_hash(&[a.clone(), b.clone()]);
        assert_eq!(h.len(), 64);
        assert_eq!(h, cloud_config_hash(&[b.clone(), a.clone()]));
        let changed = file("/oem/90_custom.yaml", "#cloud-config\nhostname: b\n");
        assert_ne!(h, cloud_config_hash(&[changed, b.clone()]));
        let renamed = file("/oem/91_custom.yaml", "#cloud-config\nhostname: a\n");
        assert_ne!(h, cloud_config_hash(&[renamed, b.clone()]));
        assert_ne!(h, cloud_config_hash(&[a]));
    }

    #[test]
    fn each_file_is_hashed_alone_by_path() {
        let a = file(
            "/oem/90_kairos-operator.yaml",
            "#cloud-config\nhostname: a\n",
        );
        let b = file("/usr/local/cloud-config/10.yaml", "#cloud-config\n");
        let hashes = file_hashes(&[a.clone(), b.clone()]);
        assert_eq!(hashes.len(), 2);
        // `printf '#cloud-config\n' | sha256sum`
        assert_eq!(
            hashes["/usr/local/cloud-config/10.yaml"],
            "88c95955b024402aa9572b663f7eeb134f01343bb92af27b50e97e72b22c565f"
        );
        // Another file changing leaves this one's hash as it was.
        let b2 = file("/usr/local/cloud-config/10.yaml", "#cloud-config\nx: 1\n");
        let again = file_hashes(&[a, b2]);
        assert_eq!(
            again["/oem/90_kairos-operator.yaml"],
            hashes["/oem/90_kairos-operator.yaml"]
        );
        assert_ne!(
            again["/usr/local/cloud-config/10.yaml"],
            hashes["/usr/local/cloud-config/10.yaml"]
        );
        let f = facts(&HostSnapshot {
            cloud_config: vec![file("/oem/x.yaml", "")],
            ..HostSnapshot::default()
        });
        assert_eq!(f.cloud_config_files["/oem/x.yaml"], EMPTY_SHA256);
    }

    #[test]
    fn hash_is_not_fooled_by_moving_bytes_between_path_and_content() {
        assert_ne!(
            cloud_config_hash(&[file("/oem/a", "bc")]),
            cloud_config_hash(&[file("/oem/ab", "c")])
        );
    }

    #[test]
    fn non_kairos_node() {
        let f = facts(&HostSnapshot {
            os_release: Some("ID=debian\nVERSION_ID=\"12\"\n".into()),
            cmdline: Some("BOOT_IMAGE=/vmlinuz root=UUID=1 ro quiet\n".into()),
            boot_id: Some("6d0f1c2e-0000-4000-8000-000000000001\n".into()),
            ..HostSnapshot::default()
        });
        assert!(!f.is_kairos);
        assert_eq!(f.kairos, None);
        assert_eq!(f.os.unwrap().id.as_deref(), Some("debian"));
        assert_eq!(f.boot_state, BootState::Unknown);
        assert_eq!(
            f.boot_id.as_deref(),
            Some("6d0f1c2e-0000-4000-8000-000000000001")
        );
        assert_eq!(f.cloud_config_hash, EMPTY_SHA256);
        assert_eq!(f.errors, Vec::<String>::new());
    }

    #[test]
    fn old_kairos_with_keys_in_os_release() {
        let f = facts(&HostSnapshot {
            os_release: Some(
                "ID=\"kairos\"\nKAIROS_VERSION=\"v2.4.3\"\nKAIROS_FLAVOR=\"opensuse-leap\"\n"
                    .into(),
            ),
            ..HostSnapshot::default()
        });
        assert!(f.is_kairos);
        let k = f.kairos.unwrap();
        assert_eq!(k.version.as_deref(), Some("v2.4.3"));
        assert_eq!(k.flavor.as_deref(), Some("opensuse-leap"));
    }

    #[test]
    fn kairos_id_without_keys_is_kairos_with_empty_release() {
        let f = facts(&HostSnapshot {
            os_release: Some("ID=kairos\n".into()),
            ..HostSnapshot::default()
        });
        assert!(f.is_kairos);
        assert_eq!(f.kairos, Some(KairosRelease::default()));
    }

    #[test]
    fn malformed_kairos_release_reports_errors_and_no_version() {
        let f = facts(&HostSnapshot {
            kairos_release: Some(
                "KAIROS_FLAVOR=\"ubuntu\"\nKAIROS_VERSION=\"v3.6.0\nKAIROS_VERSION v3.5\n".into(),
            ),
            os_release: Some("ID=ubuntu\n".into()),
            read_errors: vec!["/proc/cmdline: no such file".into()],
            ..HostSnapshot::default()
        });
        assert!(f.is_kairos);
        let k = f.kairos.unwrap();
        assert_eq!(k.version, None);
        assert_eq!(k.flavor.as_deref(), Some("ubuntu"));
        assert_eq!(
            f.errors,
            vec![
                "/proc/cmdline: no such file".to_owned(),
                "/etc/kairos-release: line 2 (KAIROS_VERSION): unterminated double quote"
                    .to_owned(),
                "/etc/kairos-release: line 3: not a KEY=VALUE assignment".to_owned(),
            ]
        );
    }

    #[test]
    fn errors_are_bounded_in_number_and_length() {
        let garbage = "bad line\n".repeat(100);
        let f = facts(&HostSnapshot {
            kairos_release: Some(garbage),
            read_errors: vec!["é".repeat(600)],
            ..HostSnapshot::default()
        });
        assert_eq!(f.errors.len(), MAX_ERRORS);
        assert_eq!(f.errors[MAX_ERRORS - 1], "... and 70 more errors");
        assert!(f.errors[0].len() <= MAX_ERROR_LEN);
        assert!(f.errors[0].ends_with("..."));
    }

    #[test]
    fn empty_files_are_reported() {
        let f = facts(&HostSnapshot {
            kairos_release: Some(String::new()),
            boot_id: Some("\n".into()),
            ..HostSnapshot::default()
        });
        assert!(f.is_kairos);
        assert_eq!(f.boot_id, None);
        assert_eq!(
            f.errors,
            vec![
                "/etc/kairos-release: file is empty".to_owned(),
                "/proc/sys/kernel/random/boot_id: file is empty".to_owned(),
            ]
        );
    }
}
