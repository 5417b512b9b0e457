//! The gRPC client of the report channel: connects to the operator (TLS with the mounted CA
//! bundle), sends one report with the projected service-account token as
//! `authorization: Bearer <token>`, and closes the connection. Does I/O: network, and reads the
//! token and CA files on every report (the kubelet and the operator rotate them).
//!
//! Decision: one connection per report. An agent reports at start, on a change and every
//! heartbeat (minutes): a connection held between reports would cost the operator a TLS session
//! and HTTP/2 buffers per node for nothing, since nothing is ever pushed to agents; a handshake
//! every few minutes costs the agent a millisecond.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kairos_proto::v1::report_service_client::ReportServiceClient;
use kairos_proto::v1::{NodeReport, ReportAck};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one report call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest token or CA file read, in bytes.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Why a report could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The token file could not be read or is empty.
    #[error("failed to read the token file {path}: {reason}")]
    ReadToken {
        /// The token file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The CA bundle could not be read.
    #[error("failed to read the CA bundle {path}: {reason}")]
    ReadCa {
        /// The CA file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The endpoint is not a valid `https://` or `http://` URI, or TLS could not be set up.
    #[error("failed to configure the endpoint {endpoint}")]
    Endpoint {
        /// The endpoint.
        endpoint: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The operator could not be reached.
    #[error("failed to connect to {endpoint}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The operator answered with an error status.
    #[error("failed to deliver the report: the operator answered {}: {}", .0.code(), .0.message())]
    Rejected(tonic::Status),
}

impl SendError {
    /// A bounded label for logs: `unauthenticated`, `permission_denied`, `invalid_argument`,
    /// `unavailable`, `rejected`, `connect`, `token`, `ca` or `endpoint`.
    pub fn category(&self) -> &'static str {
        match self {
            Self::ReadToken { .. } => "token",
            Self::ReadCa { .. } => "ca",
            Self::Endpoint { .. } => "endpoint",
            Self::Connect { .. } => "connect",
            Self::Rejected(status) => match status.code() {
                Code::Unauthenticated => "unauthenticated",
                Code::PermissionDenied => "permission_denied",
                Code::InvalidArgument => "invalid_argument",
                Code::Unavailable => "unavailable",
                _ => "rejected",
            },
        }
    }

    /// Whether the operator refused the caller (its token or identity), rather than the
    /// transport failing.
    pub fn is_auth_rejection(&self) -> bool {
        matches!(self.category(), "unauthenticated" | "permission_denied")
    }
}

/// A client of the operator's report service that connects for each report.
#[derive(Debug)]
pub struct Reporter {
    endpoint: String,
    ca_file: PathBuf,
    token_file: PathBuf,
}

impl Reporter {
    /// A client of `endpoint` (`https://...`; `http://...` skips TLS and is only for tests),
    /// trusting the CA bundle in `ca_file` and authenticating with the token in `token_file`.
    pub fn new(endpoint: String, ca_file: PathBuf, token_file: PathBuf) -> Self {
        Self {
            endpoint,
            ca_file,
            token_file,
        }
    }

    /// Whether the endpoint is plain text (`http://`): no TLS, for tests only.
    pub fn is_plaintext(&self) -> bool {
        self.endpoint.starts_with("http://")
    }

    /// Sends one report on a connection of its own (reading the token and the CA bundle
    /// afresh), and closes it.
    ///
    /// # Errors
    ///
    /// See [`SendError`].
    pub async fn send(&self, report: NodeReport) -> Result<ReportAck, SendError> {
        let token = read_token(&self.token_file)?;
        let mut client = self.connect().await?;
        let mut request = tonic::Request::new(report);
        request.set_timeout(CALL_TIMEOUT);
        let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
            SendError::ReadToken {
                path: self.token_file.clone(),
                reason: "the token has characters not allowed in a header".to_owned(),
            }
        })?;
        request.metadata_mut().insert("authorization", value);
        client
            .report(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(SendError::Rejected)
    }

    async fn connect(&self) -> Result<ReportServiceClient<Channel>, SendError> {
        let endpoint_err = |source| SendError::Endpoint {
            endpoint: self.endpoint.clone(),
            source,
        };
        let mut endpoint = Endpoint::from_shared(self.endpoint.clone())
            .map_err(endpoint_err)?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_keepalive(Some(Duration::from_secs(60)));
        if !self.is_plaintext() {
            let pem = read_small(&self.ca_file).map_err(|reason| SendError::ReadCa {
                path: self.ca_file.clone(),
                reason,
            })?;
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            endpoint = endpoint.tls_config(tls).map_err(endpoint_err)?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| SendError::Connect {
                endpoint: self.endpoint.clone(),
                source,
            })?;
        Ok(ReportServiceClient::new(channel))
    }
}

/// Reads the projected token, trimmed; it is rotated by the kubelet, so it is read per call.
fn read_token(path: &Path) -> Result<String, SendError> {
    let err = |reason: String| SendError::ReadToken {
        path: path.to_owned(),
        reason,
    };
    let bytes = read_small(path).map_err(err)?;
    let token = String::from_utf8(bytes)
        .map_err(|_| err("not valid UTF-8".to_owned()))?
        .trim()
        .to_owned();
    if token.is_empty() {
        return Err(err("the file is empty".to_owned()));
    }
    Ok(token)
}

fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    Ok(buf)
}
