//! Keeps the report channel's TLS material in the cluster and in the TLS acceptor: reads the
//! Secret and the CA ConfigMap, applies the rotation plan of [`super::tls`], writes them back
//! (create if missing, optimistic update; a conflict re-reads, so replicas converge on one CA),
//! and swaps the serving certificate of the running server without a restart. Does I/O.
//!
//! A Secret without `ca.key` but with `tls.crt`/`tls.key` (as cert-manager issues them) is taken
//! as managed elsewhere: it is served and its `ca.crt` published, and never rotated or replaced.
//!
//! Decision: the server is never restarted for a rotation. Its rustls configuration resolves
//! the certificate per handshake through [`Resolver`], which this module updates every
//! [`CHECK_INTERVAL`] from the Secret (so a rotation done by another replica is picked up too).
//! Connections already open keep their session; new ones get the new certificate.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::tls::{self, TlsError, TlsMaterial};

/// How often the material is checked (and rotated when due).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(600);
/// Retry delay after a failed check.
const RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// How many times a write conflict is retried in one check.
const CONFLICT_RETRIES: usize = 5;

const CA_CRT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const TLS_CRT: &str = "tls.crt";
const TLS_KEY: &str = "tls.key";
const NEXT_CA_CRT: &str = "next-ca.crt";
const NEXT_CA_KEY: &str = "next-ca.key";

/// Errors of keeping the TLS material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing the Secret or ConfigMap failed.
    #[error("failed to {what}")]
    Api {
        /// What was read or written.
        what: &'static str,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Generating certificates failed.
    #[error("failed to rotate the TLS material")]
    Generate(#[source] TlsError),
    /// The stored serving certificate or key cannot be loaded into rustls.
    #[error("failed to load the serving certificate: {0}")]
    Load(String),
    /// Other writers kept changing the objects.
    #[error("failed to write the TLS material: conflicts {CONFLICT_RETRIES} times in a row")]
    Conflicts,
}

/// The serving certificate handed to every TLS handshake; swapped on rotation.
#[derive(Debug, Default)]
pub struct Resolver {
    current: RwLock<Option<(String, Arc<CertifiedKey>)>>,
}

impl Resolver {
    /// Loads `material`'s serving certificate unless it is already the current one. Returns
    /// whether it changed.
    ///
    /// # Errors
    /// When the certificate or key cannot be parsed.
    pub fn load(&self, material: &TlsMaterial) -> Result<bool, CertError> {
        let unchanged = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|(pem, _)| *pem == material.tls_cert);
        if unchanged {
            return Ok(false);
        }
        let certs = CertificateDer::pem_slice_iter(material.tls_cert.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertError::Load(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(material.tls_key.as_bytes())
            .map_err(|e| CertError::Load(e.to_string()))?;
        let key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| CertError::Load(e.to_string()))?;
        let certified = Arc::new(CertifiedKey::new(certs, key));
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((material.tls_cert.clone(), certified));
        Ok(true)
    }

    /// A rustls server configuration (HTTP/2 only) that asks this resolver on every handshake.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            // The ring provider supports the default versions, so this cannot fail; fall back
            // to TLS 1.3 only rather than panicking.
            .unwrap_or_else(|_| {
                rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
            });
        let mut config = builder
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.as_ref().map(|(_, key)| key.clone())
    }
}

/// Reads and writes the Secret and ConfigMap of the report channel.
#[derive(Clone)]
pub struct CertStore {
    secrets: Api<Secret>,
    configmaps: Api<ConfigMap>,
    names: Vec<String>,
}

impl CertStore {
    /// The store for the Secret and ConfigMap in `namespace`, with a serving certificate for
    /// the Service `service`.
    pub fn new(client: kube::Client, namespace: &str, service: &str) -> Self {
        Self {
            secrets: Api::namespaced(client.clone(), namespace),
            configmaps: Api::namespaced(client, namespace),
            names: tls::serving_names(service, namespace),
        }
    }

    /// Makes sure valid material is stored and published, rotating what is due, and returns it.
    ///
    /// # Errors
    /// When the API server cannot be read or written, or keeps answering with conflicts.
    pub async fn ensure(&self, now: Timestamp) -> Result<TlsMaterial, CertError> {
        for _ in 0..CONFLICT_RETRIES {
            let api = |what| move |source| CertError::Api { what, source };
            let secret = self
                .secrets
                .get_opt(kairos_api::names::TLS_SECRET)
                .await
                .map_err(api("get the TLS Secret"))?;
            if let Some(external) = secret.as_ref().and_then(external_material) {
                // Issued by someone else (cert-manager): serve it, publish its CA, rotate nothing.
                if !self.publish_ca(&external, now).await? {
                    continue;
                }
                return Ok(external);
            }
            let stored = secret.as_ref().and_then(material_from_secret);
            let observed = stored.as_ref().and_then(|m| tls::observe(m).ok());
            let steps = tls::plan(observed.as_ref(), &self.names, now);
            let current = observed.is_some().then_some(stored).flatten();
            let material = match current {
                Some(m) if steps.is_empty() => m,
                current => {
                    tracing::info!(?steps, "rotating the report channel's TLS material");
                    tls::execute(&steps, current.as_ref(), &self.names, now)
                        .map_err(CertError::Generate)?
                }
            };
            // The CA bundle first: agents must trust a new CA before anything is signed by it.
            if !self.publish_ca(&material, now).await? {
                continue;
            }
            if steps.is_empty() {
                return Ok(material);
            }
            let written = match secret {
                Some(old) => {
                    let new = Secret {
                        data: Some(secret_data(&material)),
                        ..old
                    };
                    self.secrets
                        .replace(kairos_api::names::TLS_SECRET, &PostParams::default(), &new)
                        .await
                }
                None => {
                    self.secrets
                        .create(&PostParams::default(), &new_secret(&material))
                        .await
                }
            };
            match written {
                Ok(_) => return Ok(material),
                Err(e) if is_conflict(&e) => {
                    tracing::debug!("TLS Secret changed meanwhile, re-reading")
                }
                Err(source) => {
                    return Err(CertError::Api {
                        what: "write the TLS Secret",
                        source,
                    });
                }
            }
        }
        Err(CertError::Conflicts)
    }

    /// Writes the CA bundle for `material` if it differs. Returns false on a write conflict.
    async fn publish_ca(&self, material: &TlsMaterial, now: Timestamp) -> Result<bool, CertError> {
        let api = |what| move |source| CertError::Api { what, source };
        let name = kairos_api::names::CA_CONFIGMAP;
        let key = kairos_api::names::CA_CONFIGMAP_KEY;
        let cm = self
            .configmaps
            .get_opt(name)
            .await
            .map_err(api("get the CA ConfigMap"))?;
        let published = cm.as_ref().and_then(|c| c.data.as_ref()?.get(key).cloned());
        let bundle = tls::ca_bundle(material, published.as_deref(), now);
        if published.as_deref() == Some(bundle.as_str()) {
            return Ok(true);
        }
        let data = Some(BTreeMap::from([(key.to_owned(), bundle)]));
        let written = match cm {
            Some(old) => {
                self.configmaps
                    .replace(name, &PostParams::default(), &ConfigMap { data, ..old })
                    .await
            }
            None => {
                let meta = meta(name);
                self.configmaps
                    .create(
                        &PostParams::default(),
                        &ConfigMap {
                            metadata: meta,
                            data,
                            ..ConfigMap::default()
                        },
                    )
                    .await
            }
        };
        match written {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(source) => Err(CertError::Api {
                what: "write the CA ConfigMap",
                source,
            }),
        }
    }
}

/// Checks the material every [`CHECK_INTERVAL`] (every [`RETRY_INTERVAL`] after a failure)
/// and loads the serving certificate into `resolver`, until `shutdown` turns true.
pub async fn keep_rotated(
    store: CertStore,
    resolver: Arc<Resolver>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let wait = match store.ensure(Timestamp::now()).await {
            Ok(material) => match resolver.load(&material) {
                Ok(true) => {
                    tracing::info!("serving a new report channel certificate");
                    CHECK_INTERVAL
                }
                Ok(false) => CHECK_INTERVAL,
                Err(e) => {
                    tracing::warn!(error = %e, "failed to load the rotated certificate");
                    RETRY_INTERVAL
                }
            },
            Err(e) => {
                crate::permissions::warn_unless_forbidden!(&e, error = %e, "failed to check the report channel's TLS material");
                RETRY_INTERVAL
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = super::stopped(&mut shutdown) => return,
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "kairos-operator".to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

fn new_secret(material: &TlsMaterial) -> Secret {
    Secret {
        metadata: meta(kairos_api::names::TLS_SECRET),
        type_: Some("kubernetes.io/tls".to_owned()),
        data: Some(secret_data(material)),
        ..Secret::default()
    }
}

fn secret_data(m: &TlsMaterial) -> BTreeMap<String, ByteString> {
    let mut data = BTreeMap::new();
    let mut put = |k: &str, v: &str| data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
    put(CA_CRT, &m.ca_cert);
    put(CA_KEY, &m.ca_key);
    put(TLS_CRT, &m.tls_cert);
    put(TLS_KEY, &m.tls_key);
    if let Some((cert, key)) = &m.next_ca {
        put(NEXT_CA_CRT, cert);
        put(NEXT_CA_KEY, key);
    }
    data
}

/// The material of a Secret issued by another tool (cert-manager writes `tls.crt`, `tls.key` and
/// `ca.crt` but never a CA key): `None` when the Secret has a `ca.key` (it is ours) or lacks the
/// serving certificate.
fn external_material(secret: &Secret) -> Option<TlsMaterial> {
    let data = secret.data.as_ref()?;
    if data.contains_key(CA_KEY) {
        return None;
    }
    let text = |k: &str| String::from_utf8(data.get(k)?.0.clone()).ok();
    Some(TlsMaterial {
        ca_cert: text(CA_CRT).unwrap_or_default(),
        ca_key: String::new(),
        tls_cert: text(TLS_CRT)?,
        tls_key: text(TLS_KEY)?,
        next_ca: None,
    })
}

/// The material in `secret`, or `None` when a required key is missing or not UTF-8.
fn material_from_secret(secret: &Secret) -> Option<TlsMaterial> {
    let data = secret.data.as_ref()?;
    let text = |k: &str| String::from_utf8(data.get(k)?.0.clone()).ok();
    let next_ca = text(NEXT_CA_CRT).zip(text(NEXT_CA_KEY));
    Some(TlsMaterial {
        ca_cert: text(CA_CRT)?,
        ca_key: text(CA_KEY)?,
        tls_cert: text(TLS_CRT)?,
        tls_key: text(TLS_KEY)?,
        next_ca,
    })
}

#[cfg(test)]
mod tests;
