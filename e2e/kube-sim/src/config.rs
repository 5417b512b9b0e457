//! Settings of a simulator ([`SimConfig`]) and where the project's CRDs are. No I/O.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::store::ETCD_MAX_REQUEST_BYTES;

/// Settings of a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches from a past `resourceVersion` (older: 410 Gone).
    pub history: usize,
    /// Directory of CRD YAML files installed at start (`deploy/crds`).
    pub crd_dir: Option<PathBuf>,
    /// The largest object a write may store, in bytes of its JSON (managedFields included):
    /// etcd's `--max-request-bytes`, 1.5 MiB by default. A larger one is refused as a real
    /// server refuses it (500, `etcdserver: request is too large`) and nothing is stored.
    pub max_request_bytes: usize,
    /// The largest request body a write may send: the API server's `MaxRequestBodyBytes`, 3 MiB.
    /// A larger body is refused with 413 `RequestEntityTooLarge`.
    pub max_body_bytes: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(60),
            history: 10_000,
            crd_dir: Some(default_crd_dir()),
            max_request_bytes: ETCD_MAX_REQUEST_BYTES,
            max_body_bytes: MAX_REQUEST_BODY_BYTES,
        }
    }
}

/// The API server's `MaxRequestBodyBytes` (3 MiB, twice etcd's default request limit).
const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// `deploy/crds` of this repository.
pub fn default_crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}
