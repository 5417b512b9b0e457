//! Certificates of the report channel: the pure decision of what to rotate when ([`plan`], a
//! function of the stored certificates and `now`), and their generation with rcgen
//! ([`execute`], [`ca_bundle`]). No I/O (key generation draws from the OS random source).
//!
//! Rotation scheme (see also `certs.rs`, which stores the result):
//! - the CA is valid [`CA_VALIDITY`], the serving certificate [`SERVING_VALIDITY`] (never past
//!   its CA);
//! - the serving certificate is renewed by the same CA when less than [`SERVING_RENEW_BEFORE`]
//!   is left, or when its DNS names differ from the wanted ones;
//! - when the CA has less than [`CA_RENEW_BEFORE`] left, a *next* CA is generated and published
//!   in the CA bundle beside the current one, but signs nothing yet; once it has been published
//!   for [`CA_PROPAGATION`] (so the agents' mounted ConfigMap has caught up), it becomes the CA
//!   and the serving certificate is re-signed by it;
//! - the CA bundle keeps every CA it held until that CA expires, so agents that still trust only
//!   the old CA and agents that already trust only the new one both keep working.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::jiff;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::GeneralName;

/// How long a new CA is valid.
pub const CA_VALIDITY: SignedDuration = SignedDuration::from_hours(365 * 24);
/// How long a new serving certificate is valid (capped at its CA's expiry).
pub const SERVING_VALIDITY: SignedDuration = SignedDuration::from_hours(90 * 24);
/// The serving certificate is renewed when less than this is left.
pub const SERVING_RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(30 * 24);
/// A next CA is generated when the CA has less than this left.
pub const CA_RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(60 * 24);
/// How long a next CA is published before it signs the serving certificate.
pub const CA_PROPAGATION: SignedDuration = SignedDuration::from_hours(1);
/// Certificates start being valid this long before `now`, for clocks slightly behind.
const BACKDATE: SignedDuration = SignedDuration::from_mins(5);

/// The TLS material kept in the Secret, as PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterial {
    /// The CA certificate that signed `tls_cert` (Secret key `ca.crt`).
    pub ca_cert: String,
    /// The CA's private key (`ca.key`).
    pub ca_key: String,
    /// The serving certificate (`tls.crt`).
    pub tls_cert: String,
    /// The serving certificate's private key (`tls.key`).
    pub tls_key: String,
    /// A CA published ahead of a CA rotation (`next-ca.crt`, `next-ca.key`).
    pub next_ca: Option<(String, String)>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private keys.
        f.debug_struct("TlsMaterial")
            .field("ca_cert", &self.ca_cert)
            .field("tls_cert", &self.tls_cert)
            .field("next_ca", &self.next_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// What matters about one certificate for rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// DNS names and IP addresses (as text) of the subject alternative names.
    pub names: Vec<String>,
}

/// The stored material, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The current CA.
    pub ca: CertInfo,
    /// The serving certificate.
    pub serving: CertInfo,
    /// The next CA, when a CA rotation is under way.
    pub next_ca: Option<CertInfo>,
}

/// One rotation step. [`plan`] returns them in the order [`execute`] applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing usable is stored (or the CA expired): make a new CA and serving certificate.
    CreateAll,
    /// The CA nears its end: generate the next CA and publish it.
    AddNextCa,
    /// The next CA was published long enough: it becomes the CA and re-signs the serving cert.
    PromoteNextCa,
    /// The serving certificate nears its end or has the wrong names: the CA re-signs one.
    RenewServing,
}

/// Errors of parsing or generating certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A stored PEM certificate could not be parsed.
    #[error("failed to parse certificate {what}: {reason}")]
    ParseCertificate {
        /// Which certificate.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// rcgen refused to build or sign a certificate.
    #[error("failed to generate {what}")]
    Generate {
        /// Which certificate or key.
        what: &'static str,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A step needs material that is not there (e.g. promoting without a next CA).
    #[error("failed to apply rotation step {0:?}: missing material")]
    MissingMaterial(Step),
}

/// The DNS names the serving certificate is for: the Service's short and qualified names, plus
/// `localhost` and `127.0.0.1` (tests, port-forwarding).
pub fn serving_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
    ]
}

/// Decides what to rotate. `observed` is `None` when nothing usable is stored.
///
/// # Guarantees
/// Returns no step when the material is fine, so calling it on every check writes nothing.
pub fn plan(observed: Option<&Observed>, names: &[String], now: Timestamp) -> Vec<Step> {
    let Some(o) = observed else {
        return vec![Step::CreateAll];
    };
    if o.ca.not_after <= now {
        return vec![Step::CreateAll];
    }
    let mut steps = Vec::new();
    match &o.next_ca {
        Some(next) if next.not_before + BACKDATE + CA_PROPAGATION <= now => {
            // Re-signs the serving certificate too, so no RenewServing is needed.
            return vec![Step::PromoteNextCa];
        }
        Some(_) => {}
        None if o.ca.not_after.duration_since(now) < CA_RENEW_BEFORE => {
            steps.push(Step::AddNextCa);
        }
        None => {}
    }
    let mut have = o.serving.names.clone();
    let mut want = names.to_vec();
    have.sort();
    want.sort();
    if o.serving.not_after.duration_since(now) < SERVING_RENEW_BEFORE || have != want {
        steps.push(Step::RenewServing);
    }
    steps
}

/// Applies `steps` to `current` (which must be `Some` unless the first step is
/// [`Step::CreateAll`]) and returns the new material.
///
/// # Errors
/// When a certificate cannot be generated or the stored CA cannot be parsed.
pub fn execute(
    steps: &[Step],
    current: Option<&TlsMaterial>,
    names: &[String],
    now: Timestamp,
) -> Result<TlsMaterial, TlsError> {
    let mut material = current.cloned();
    for &step in steps {
        material = Some(match (step, material) {
            (Step::CreateAll, _) => {
                let (ca_cert, ca_key) = new_ca(now)?;
                let (tls_cert, tls_key) = new_serving(&ca_cert, &ca_key, names, now)?;
                TlsMaterial {
                    ca_cert,
                    ca_key,
                    tls_cert,
                    tls_key,
                    next_ca: None,
                }
            }
            (Step::AddNextCa, Some(m)) => TlsMaterial {
                next_ca: Some(new_ca(now)?),
                ..m
            },
            (Step::PromoteNextCa, Some(m)) => {
                let (ca_cert, ca_key) = m.next_ca.ok_or(TlsError::MissingMaterial(step))?;
                let (tls_cert, tls_key) = new_serving(&ca_cert, &ca_key, names, now)?;
                TlsMaterial {
                    ca_cert,
                    ca_key,
                    tls_cert,
                    tls_key,
                    next_ca: None,
                }
            }
            (Step::RenewServing, Some(m)) => {
                let (tls_cert, tls_key) = new_serving(&m.ca_cert, &m.ca_key, names, now)?;
                TlsMaterial {
                    tls_cert,
                    tls_key,
                    ..m
                }
            }
            (_, None) => return Err(TlsError::MissingMaterial(step)),
        });
    }
    material.ok_or(TlsError::MissingMaterial(Step::CreateAll))
}

/// The CA bundle to publish: the current CA, the next CA, and every CA of the previously
/// published bundle that has not expired, each once, in that order.
pub fn ca_bundle(material: &TlsMaterial, published: Option<&str>, now: Timestamp) -> String {
    let mut ders: Vec<Vec<u8>> = Vec::new();
    let mut out = String::new();
    let mut push = |pem: &Pem| {
        if !ders.contains(&pem.contents) {
            ders.push(pem.contents.clone());
            out.push_str(&encode_pem(&pem.contents));
        }
    };
    let ours = [
        Some(material.ca_cert.as_str()),
        material.next_ca.as_ref().map(|(c, _)| c.as_str()),
    ];
    for pem in ours.into_iter().flatten() {
        for pem in Pem::iter_from_buffer(pem.as_bytes()).flatten() {
            push(&pem);
        }
    }
    for pem in Pem::iter_from_buffer(published.unwrap_or_default().as_bytes()).flatten() {
        let alive = pem
            .parse_x509()
            .is_ok_and(|c| c.validity().not_after.timestamp() > now.as_second());
        if alive {
            push(&pem);
        }
    }
    out
}

/// Parses the stored material.
///
/// # Errors
/// When any certificate is unusable; the caller then plans from nothing (a new CA).
pub fn observe(material: &TlsMaterial) -> Result<Observed, TlsError> {
    Ok(Observed {
        ca: inspect(&material.ca_cert, "ca.crt")?,
        serving: inspect(&material.tls_cert, "tls.crt")?,
        next_ca: match &material.next_ca {
            Some((cert, _)) => Some(inspect(cert, "next-ca.crt")?),
            None => None,
        },
    })
}

/// Reads the validity and names of the first certificate in `pem`.
///
/// # Errors
/// When `pem` holds no parsable certificate.
pub fn inspect(pem: &str, what: &'static str) -> Result<CertInfo, TlsError> {
    let parse = |reason: String| TlsError::ParseCertificate { what, reason };
    let (_, pem) =
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| parse(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| parse(e.to_string()))?;
    let ts = |t: x509_parser::time::ASN1Time| {
        Timestamp::from_second(t.timestamp()).map_err(|e| parse(e.to_string()))
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress([a, b, c, d]) => names.push(format!("{a}.{b}.{c}.{d}")),
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_before: ts(cert.validity().not_before)?,
        not_after: ts(cert.validity().not_after)?,
        names,
    })
}

fn encode_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn offset(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.as_second())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// A new self-signed CA valid [`CA_VALIDITY`] from `now`: (certificate PEM, key PEM).
fn new_ca(now: Timestamp) -> Result<(String, String), TlsError> {
    let generate = |what| move |source| TlsError::Generate { what, source };
    let key = KeyPair::generate().map_err(generate("CA key"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Kairos operator");
    // A distinct name per generation, so old and new CAs are told apart in a bundle.
    params.distinguished_name.push(
        DnType::CommonName,
        format!("kairos-operator report CA {}", now.as_second()),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = offset(now - BACKDATE);
    params.not_after = offset(now + CA_VALIDITY);
    let cert = params
        .self_signed(&key)
        .map_err(generate("CA certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A new serving certificate for `names` signed by the given CA: (certificate PEM, key PEM).
fn new_serving(
    ca_cert: &str,
    ca_key: &str,
    names: &[String],
    now: Timestamp,
) -> Result<(String, String), TlsError> {
    let generate = |what| move |source| TlsError::Generate { what, source };
    let ca_info = inspect(ca_cert, "ca.crt")?;
    let signing_key = KeyPair::from_pem(ca_key).map_err(generate("CA key from PEM"))?;
    let issuer =
        Issuer::from_ca_cert_pem(ca_cert, signing_key).map_err(generate("issuer from CA"))?;
    let key = KeyPair::generate().map_err(generate("serving key"))?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(generate("serving names"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("kairos-operator", String::as_str),
    );
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = offset(now - BACKDATE);
    params.not_after = offset((now + SERVING_VALIDITY).min(ca_info.not_after));
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(generate("serving certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests;
