//! The operator's error type: each variant names the operation that failed, and
//! [`Error::category`] gives the bounded label used on metrics and Events. No I/O.

use std::time::Duration;

/// A failed reconcile step.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// Reading from the API server failed.
    #[error("failed to {what}: {source}")]
    Observe {
        /// What was being read.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing to the API server failed.
    #[error("failed to {what}: {source}")]
    Apply {
        /// What was being written.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing status failed.
    #[error("failed to write the status of {name}: {source}")]
    Report {
        /// The object whose status was written.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The object lacks a metadata field the API server always sets, so it cannot be planned.
    #[error(transparent)]
    MissingMetadata(kairos_core::meta::MissingField),
    /// A bug: something that cannot fail did.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// A short, bounded label for metrics and Event reasons.
    pub(crate) fn category(&self) -> &'static str {
        match self {
            Self::Observe { .. } => "observe",
            Self::Apply { .. } => "apply",
            Self::Report { .. } => "report",
            Self::MissingMetadata(_) => "invalid-object",
            Self::Internal(_) => "internal",
        }
    }

    /// Whether retrying soon may help (API hiccups), as opposed to waiting for a change.
    pub(crate) fn is_transient(&self) -> bool {
        !matches!(self, Self::MissingMetadata(_))
    }

    /// The first delay before a reconcile that failed with this error is retried (see
    /// `controllers::retry`, which doubles it per consecutive failure): at once after a
    /// conflict (someone wrote in between: re-plan from fresh data), soon after an API hiccup,
    /// in [`FORBIDDEN_RETRY`] when the API server refused (the RBAC must change first), in a
    /// minute for an object that makes no sense.
    pub(crate) fn first_retry(&self) -> Duration {
        if crate::permissions::is_forbidden(self) {
            FORBIDDEN_RETRY
        } else if self.is_conflict() {
            Duration::from_millis(100)
        } else if self.is_transient() {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(60)
        }
    }

    /// Whether the API server answered 409 Conflict (a stale `resourceVersion`).
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(
            self,
            Self::Observe { source: kube::Error::Api(e), .. }
                | Self::Apply { source: kube::Error::Api(e), .. }
                | Self::Report { source: kube::Error::Api(e), .. }
                if e.code == 409
        )
    }
}

/// How long a reconcile refused with 403 Forbidden waits before it is retried: as long as the
/// watches' longest backoff.
pub(crate) const FORBIDDEN_RETRY: Duration = crate::backoff::MAX_DELAY;

/// The namespace of `obj`, a namespaced object, which the API server always sets: its absence
/// is a bug, reported as [`Error::MissingMetadata`] for `what` (`the NodeOp`, ...).
pub(crate) fn namespace_of<'a, K: kube::Resource>(
    obj: &'a K,
    what: &'static str,
) -> Result<&'a str> {
    kairos_core::meta::Required::new(obj.meta(), what)
        .namespace()
        .map_err(Error::MissingMetadata)
}

/// The operator's result type.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
