//! Logging setup: `tracing` with plain or JSON output, filtered by level or directive. Writes to
//! standard error only.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// kube-runtime's watcher logs every refused attempt (403) at WARN; the operator says it once
/// per resource and verb instead (`permissions`), so those lines are kept below ERROR unless the
/// filter names `kube_runtime` itself.
const QUIET_WATCHER: &str = "kube_runtime::watcher=error";

/// The filter of `spec`, an `EnvFilter` directive such as `info` or
/// `kairos_operator=debug,kube=info`, plus [`QUIET_WATCHER`].
pub(crate) fn filter(spec: &str) -> anyhow::Result<EnvFilter> {
    let full = if spec.contains("kube_runtime") {
        spec.to_owned()
    } else {
        format!("{spec},{QUIET_WATCHER}")
    };
    EnvFilter::try_new(&full)
        .map_err(|e| anyhow::anyhow!("failed to parse log filter {spec:?}: {e}"))
}

/// Installs the global subscriber with [`filter`]`(spec)`.
pub(crate) fn init(spec: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = filter(spec)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("failed to install the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchers_refusal_lines_are_quiet_unless_asked_for() {
        assert_eq!(
            filter("info").unwrap().to_string(),
            "kube_runtime::watcher=error,info"
        );
        assert_eq!(
            filter("info,kube_runtime=debug").unwrap().to_string(),
            "kube_runtime=debug,info"
        );
        assert!(filter("kairos=loud").is_err());
    }
}
