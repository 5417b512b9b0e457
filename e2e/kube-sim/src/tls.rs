//! HTTPS for the simulator, as a real API server serves: a CA and a serving certificate for
//! 127.0.0.1 and localhost generated per simulator (the CA goes into the kubeconfigs it writes),
//! and a listener that completes TLS handshakes concurrently, each within 10 s. Clients such as
//! kubectl send bearer tokens over TLS only, so authentication needs it. Does network I/O.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The simulator's serving material.
#[derive(Clone)]
pub(crate) struct ServingTls {
    /// The CA certificate (PEM) clients trust.
    pub ca_pem: String,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingTls").finish_non_exhaustive()
    }
}

impl ServingTls {
    /// Generates a CA and a serving certificate for `127.0.0.1` and `localhost` signed by it.
    ///
    /// # Errors
    /// When key generation, signing or the TLS configuration fails.
    pub(crate) fn generate() -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate().context("failed to generate the CA key")?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kube-sim-ca");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca
            .self_signed(&ca_key)
            .context("failed to self-sign the CA")?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().context("failed to generate the serving key")?;
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-sim");
        let cert = params
            .signed_by(&key, &issuer)
            .context("failed to sign the serving certificate")?;
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("no TLS protocol version")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .context("failed to configure the serving certificate")?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// A listener serving TLS on `listener` (to be called inside the serving runtime: it spawns
    /// the accepting task there).
    pub(crate) fn listen(&self, listener: tokio::net::TcpListener) -> TlsListener {
        let local = listener.local_addr().ok();
        let (tx, rx) = mpsc::channel(64);
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "kube-sim accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "kube-sim TLS handshake failed"),
                        Err(_) => tracing::debug!("kube-sim TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { rx, local }
    }
}

/// Connections that completed their TLS handshake.
#[derive(Debug)]
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: Option<SocketAddr>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accepting task is gone only when the runtime shuts down.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.local
            .ok_or_else(|| std::io::Error::other("the listener has no local address"))
    }
}
