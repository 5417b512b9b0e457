//! Reads the host's files under the host root into a [`HostSnapshot`]. The only module of the
//! agent that touches the host filesystem (I/O: reads only, never writes).
//!
//! # Paths
//!
//! Every host path is resolved *inside* the host root: a symlink such as
//! `/host/etc/os-release -> ../usr/lib/os-release` or `-> /usr/lib/os-release` is followed
//! within `/host`, never into the container's own `/`, `..` never climbs above the host root,
//! and at most [`MAX_SYMLINK_HOPS`] symlinks are followed per path.
//!
//! # `/proc`
//!
//! The kernel command line and the boot ID are the same for every process of a kernel, so inside
//! a container `/proc/cmdline` and `/proc/sys/kernel/random/boot_id` already are the host's. The
//! agent reads `<host-root>/proc/...` when that file exists (a host root that holds a `proc`,
//! as the e2e simulated nodes do, or a DaemonSet that mounts the host's `/proc` there) and
//! otherwise the container's own `/proc/...`. The e2e harness must therefore put both files
//! under every simulated node's host root, or all simulated nodes report the test machine's.
//!
//! # `/run/cos`
//!
//! immucore's boot sentinels are empty files whose *names* say how the node booted (see
//! `kairos_core::boot`): the agent lists `<host-root>/run/cos` (the DaemonSet mounts the host's
//! `/run/cos` there) and hands the names to core, reading no contents. A missing directory means
//! no sentinels (a non-Kairos node, or a release older than immucore), not an error; at most
//! [`MAX_SENTINELS`] names are taken.
//!
//! # Directories where files should be
//!
//! The DaemonSet mounts each host file with a hostPath volume of `type: ""` so that the pod
//! starts on nodes that lack a path; container runtimes then create the missing path on the
//! host as an empty directory. So a *directory* at `/etc/kairos-release` or `/etc/os-release`
//! means "absent" here (a non-Kairos node; fall back to `/usr/lib/os-release`), not an error.
//!
//! # Bounds
//!
//! Each file is read up to [`MAX_FILE_BYTES`] (larger is an error, not a truncated read);
//! cloud-config directories are walked [`MAX_CLOUD_CONFIG_DEPTH`] levels deep, for at most
//! [`MAX_CLOUD_CONFIG_FILES`] `*.yaml`/`*.yml` files (other files, such as `/oem/grubenv` which
//! changes on every boot, are not configuration and are ignored). Every problem becomes a
//! message in [`HostSnapshot::read_errors`]; nothing here panics or aborts the agent.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use kairos_core::boot::SENTINEL_DIR;
use kairos_core::report::{
    BOOT_ID_PATH, CLOUD_CONFIG_DIRS, CMDLINE_PATH, HostSnapshot, KAIROS_RELEASE_PATH,
    OS_RELEASE_FALLBACK_PATH, OS_RELEASE_PATH,
};

/// The most symlinks followed while resolving one path (as Linux' `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: usize = 40;
/// The largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// The most cloud-config files hashed.
pub use kairos_core::report::MAX_CLOUD_CONFIG_FILES;
/// The most file names taken from `/run/cos`.
pub const MAX_SENTINELS: usize = 64;
/// How many directory levels below each cloud-config directory are walked.
pub const MAX_CLOUD_CONFIG_DEPTH: usize = 4;

/// Why a host file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file (or a directory on its way) does not exist.
    #[error("no such file")]
    NotFound,
    /// Resolving the path followed more than [`MAX_SYMLINK_HOPS`] symlinks.
    #[error("too many levels of symbolic links")]
    SymlinkLoop,
    /// The path resolves to a directory.
    #[error("is a directory")]
    IsADirectory,
    /// The path resolves to something that is neither a regular file nor a directory.
    #[error("not a regular file")]
    NotAFile,
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    /// An I/O error.
    #[error("{0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::NotFound {
            Self::NotFound
        } else {
            Self::Io(e)
        }
    }
}

/// Reads the host's files under a host root.
#[derive(Clone, Debug)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    /// A reader of the host mounted at `root` (`/` reads the machine the agent runs on).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The host root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads everything a report needs. Never fails: problems are in
    /// [`HostSnapshot::read_errors`].
    pub fn snapshot(&self) -> HostSnapshot {
        let mut errors = Vec::new();

        let kairos_release = match self.read_text(KAIROS_RELEASE_PATH, &mut errors) {
            Ok(text) => Some(text),
            // No kairos-release: not Kairos (or Kairos older than v3). Not an error, and neither
            // is the empty directory a container runtime creates for a missing hostPath.
            Err(ReadError::NotFound | ReadError::IsADirectory) => None,
            Err(e) => {
                errors.push(format!("{KAIROS_RELEASE_PATH}: failed to read: {e}"));
                None
            }
        };

        let os_release = match self.read_text(OS_RELEASE_PATH, &mut errors) {
            Ok(text) => Some(text),
            Err(first) => match self.read_text(OS_RELEASE_FALLBACK_PATH, &mut errors) {
                Ok(text) => {
                    if !matches!(first, ReadError::NotFound | ReadError::IsADirectory) {
                        errors.push(format!("{OS_RELEASE_PATH}: failed to read: {first}"));
                    }
                    Some(text)
                }
                Err(second) => {
                    errors.push(format!("{OS_RELEASE_PATH}: failed to read: {first}"));
                    errors.push(format!(
                        "{OS_RELEASE_FALLBACK_PATH}: failed to read: {second}"
                    ));
                    None
                }
            },
        };

        let cmdline = self.read_proc(CMDLINE_PATH, &mut errors);
        let boot_id = self.read_proc(BOOT_ID_PATH, &mut errors);
        let cos_sentinels = self.cos_sentinels(&mut errors);
        let cloud_config = self.cloud_config(&mut errors);

        HostSnapshot {
            kairos_release,
            os_release,
            cmdline,
            cos_sentinels,
            boot_id,
            cloud_config,
            read_errors: errors,
        }
    }

    /// Reads `host_path` as text. Invalid UTF-8 is replaced (U+FFFD, which the release parser
    /// refuses in values) and reported in `errors`.
    fn read_text(&self, host_path: &str, errors: &mut Vec<String>) -> Result<String, ReadError> {
        let bytes = self.read(host_path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{host_path}: not valid UTF-8"));
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            }
        })
    }

    /// Reads a `/proc` file from the host root when it is there, else from the agent's own
    /// `/proc` (same kernel; see the module documentation).
    fn read_proc(&self, proc_path: &str, errors: &mut Vec<String>) -> Option<String> {
        let result = match self.read_text(proc_path, errors) {
            Err(ReadError::NotFound) => read_bounded(Path::new(proc_path)).map(|bytes| {
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }),
            other => other,
        };
        result
            .map_err(|e| errors.push(format!("{proc_path}: failed to read: {e}")))
            .ok()
    }

    /// Reads the file at `host_path`, resolved inside the host root.
    pub fn read(&self, host_path: &str) -> Result<Vec<u8>, ReadError> {
        let path = resolve_in_root(&self.root, Path::new(host_path))?;
        read_bounded(&path)
    }

    /// The names of the files in `/run/cos`, sorted; empty when the directory is missing.
    fn cos_sentinels(&self, errors: &mut Vec<String>) -> Vec<String> {
        let dir = SENTINEL_DIR;
        let listed = resolve_in_root(&self.root, Path::new(dir))
            .and_then(|real| fs::read_dir(real).map_err(ReadError::from));
        let entries = match listed {
            Ok(entries) => entries,
            Err(ReadError::NotFound) => return Vec::new(),
            Err(e) => {
                errors.push(format!("{dir}: failed to list: {e}"));
                return Vec::new();
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        if names.len() > MAX_SENTINELS {
            errors.push(format!(
                "{dir}: more than {MAX_SENTINELS} entries, {} ignored",
                names.len() - MAX_SENTINELS
            ));
            names.truncate(MAX_SENTINELS);
        }
        names
    }

    fn cloud_config(&self, errors: &mut Vec<String>) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut skipped = 0usize;
        for dir in CLOUD_CONFIG_DIRS {
            let resolved = match resolve_in_root(&self.root, Path::new(dir)) {
                Ok(p) => p,
                Err(ReadError::NotFound) => continue,
                Err(e) => {
                    errors.push(format!("{dir}: failed to read: {e}"));
                    continue;
                }
            };
            let mut pending = vec![(PathBuf::from(dir), resolved, 0usize)];
            while let Some((host_dir, real_dir, depth)) = pending.pop() {
                let entries = match fs::read_dir(&real_dir) {
                    Ok(entries) => entries,
                    Err(e) => {
                        errors.push(format!(
                            "{}: failed to list: {}",
                            host_dir.display(),
                            ReadError::from(e)
                        ));
                        continue;
                    }
                };
                let mut names: Vec<OsString> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name())
                    .collect();
                names.sort();
                for name in names {
                    let host_path = host_dir.join(&name);
                    let Ok(real) = resolve_in_root(&self.root, &host_path) else {
                        continue;
                    };
                    let Ok(meta) = fs::metadata(&real) else {
                        continue;
                    };
                    if meta.is_dir() {
                        if depth + 1 < MAX_CLOUD_CONFIG_DEPTH {
                            pending.push((host_path, real, depth + 1));
                        }
                        continue;
                    }
                    let is_yaml = Path::new(&name)
                        .extension()
                        .is_some_and(|e| e == "yaml" || e == "yml");
                    if !meta.is_file() || !is_yaml {
                        continue;
                    }
                    if files.len() >= MAX_CLOUD_CONFIG_FILES {
                        skipped += 1;
                        continue;
                    }
                    let shown = host_path.display().to_string();
                    match read_bounded(&real) {
                        Ok(content) => files.push((shown, content)),
                        Err(e) => errors.push(format!("{shown}: failed to read: {e}")),
                    }
                }
            }
        }
        if skipped > 0 {
            errors.push(format!(
                "cloud-config: more than {MAX_CLOUD_CONFIG_FILES} files, {skipped} not hashed"
            ));
        }
        files
    }
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`] bytes.
fn read_bounded(path: &Path) -> Result<Vec<u8>, ReadError> {
    // Check the type before opening: opening a FIFO would block until a writer shows up.
    let meta = fs::metadata(path)?;
    if meta.is_dir() {
        return Err(ReadError::IsADirectory);
    }
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    let file = fs::File::open(path)?;
    let mut buf = Vec::new();
    // `/proc` files report a size of 0, so the bound is enforced on what is read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(buf)
}

/// Resolves `host_path` (absolute or relative, taken from the host's `/`) inside `root`,
/// following symlinks the way the host's kernel would if `root` were its `/`.
///
/// # Errors
///
/// [`ReadError::NotFound`] when a component does not exist, [`ReadError::SymlinkLoop`] after
/// [`MAX_SYMLINK_HOPS`] symlinks, [`ReadError::Io`] for other I/O errors.
///
/// # Guarantees
///
/// The result is `root` joined with a path of normal components only: it never leaves `root`.
pub fn resolve_in_root(root: &Path, host_path: &Path) -> Result<PathBuf, ReadError> {
    // Components still to walk, in reverse order (the next one is last).
    let mut todo: Vec<OsString> = normal_components(host_path);
    todo.reverse();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0usize;
    while let Some(component) = todo.pop() {
        if component == ".." {
            resolved.pop();
            continue;
        }
        let candidate: PathBuf = std::iter::once(root.as_os_str())
            .chain(resolved.iter().map(OsString::as_os_str))
            .chain(std::iter::once(component.as_os_str()))
            .collect();
        let meta = fs::symlink_metadata(&candidate)?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(ReadError::SymlinkLoop);
            }
            let target = fs::read_link(&candidate)?;
            if target.is_absolute() {
                resolved.clear();
            }
            let mut target_components = normal_components(&target);
            target_components.reverse();
            todo.extend(target_components);
        } else {
            resolved.push(component);
        }
    }
    Ok(std::iter::once(root.as_os_str())
        .chain(resolved.iter().map(OsString::as_os_str))
        .collect())
}

/// The components of `path` other than the root and `.`; `..` is kept as `..`.
fn normal_components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
