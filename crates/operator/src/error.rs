//! The operator's error type: each variant names the operation that failed, and
//! [`Error::category`] gives the bounded label used on metrics and Events. No I/O.

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
    /// The object lacks a field the API server always sets.
    #[error("failed to read {0} of the object: it is missing")]
    MissingField(&'static str),
    /// The finalizer helper failed.
    #[error("failed to run the finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// A short, bounded label for metrics and Event reasons.
    pub(crate) fn category(&self) -> &'static str {
        match self {
            Self::Observe { .. } => "observe",
            Self::Apply { .. } => "apply",
            Self::Report { .. } => "report",
            Self::MissingField(_) => "invalid-object",
            Self::Finalizer(_) => "finalizer",
        }
    }

    /// Whether retrying soon may help (API hiccups), as opposed to waiting for a change.
    pub(crate) fn is_transient(&self) -> bool {
        !matches!(self, Self::MissingField(_))
    }
}

/// The operator's result type.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
