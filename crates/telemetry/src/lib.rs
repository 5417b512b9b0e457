//! Logging setup shared by both binaries: `tracing` to standard error, plain (coloured only on a
//! terminal) or JSON, filtered by an `EnvFilter` directive. Installs the global subscriber; no
//! other I/O.

use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// Output format of the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

/// The filter of `spec`, an `EnvFilter` directive such as `info` or
/// `kairos_operator=debug,kube=info`, plus each of `quiet` (directives such as
/// `kube_runtime::watcher=error`) whose target's crate `spec` does not name itself.
///
/// # Errors
/// When `spec` is not a valid directive.
pub fn filter(spec: &str, quiet: &[&str]) -> anyhow::Result<EnvFilter> {
    let mut full = spec.to_owned();
    for directive in quiet {
        let krate = directive.split([':', '=']).next().unwrap_or(directive);
        if !spec.contains(krate) {
            full = format!("{full},{directive}");
        }
    }
    EnvFilter::try_new(&full)
        .map_err(|e| anyhow::anyhow!("failed to parse log filter {spec:?}: {e}"))
}

/// Installs the global subscriber with [`filter`]`(spec, quiet)`, writing to standard error.
///
/// # Errors
/// When `spec` is not a valid directive or a subscriber is already installed.
pub fn init(spec: &str, quiet: &[&str], format: LogFormat) -> anyhow::Result<()> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(spec, quiet)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("failed to install the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCHER: &str = "kube_runtime::watcher=error";

    #[test]
    fn quiet_directives_apply_unless_the_spec_names_their_crate() {
        assert_eq!(
            filter("info", &[WATCHER]).unwrap().to_string(),
            "kube_runtime::watcher=error,info"
        );
        assert_eq!(
            filter("info,kube_runtime=debug", &[WATCHER])
                .unwrap()
                .to_string(),
            "kube_runtime=debug,info"
        );
        assert_eq!(filter("debug", &[]).unwrap().to_string(), "debug");
    }

    #[test]
    fn a_bad_directive_is_refused_with_the_spec_named() {
        let err = filter("kairos=loud", &[WATCHER]).unwrap_err().to_string();
        assert!(err.contains("\"kairos=loud\""), "{err}");
    }
}
