//! Certificates for the real backend, generated with rcgen: a CA, the API server's serving
//! certificate (127.0.0.1, localhost), an admin client certificate (`system:masters`) and the
//! service-account signing key. Writes PEM files into a directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Paths and PEM contents of the generated material.
#[derive(Debug, Clone)]
pub struct Pki {
    /// CA certificate file.
    pub ca_cert: PathBuf,
    /// Serving certificate file.
    pub serving_cert: PathBuf,
    /// Serving key file.
    pub serving_key: PathBuf,
    /// Service-account signing key file (PKCS#8 ECDSA P-256).
    pub sa_key: PathBuf,
    /// Its public key (PKIX PEM): kube-apiserver's `--service-account-key-file` does not read
    /// PKCS#8 EC private keys.
    pub sa_pub: PathBuf,
    /// CA certificate PEM.
    pub ca_pem: String,
    /// Admin client certificate PEM.
    pub admin_cert_pem: String,
    /// Admin client key PEM.
    pub admin_key_pem: String,
}

fn write(dir: &Path, name: &str, pem: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(name);
    std::fs::write(&p, pem).with_context(|| format!("failed to write {}", p.display()))?;
    Ok(p)
}

/// Generates all certificates and keys into `dir`.
pub fn generate(dir: &Path) -> anyhow::Result<Pki> {
    let ca_key = KeyPair::generate().context("failed to generate CA key")?;
    let mut ca =
        CertificateParams::new(Vec::<String>::new()).context("failed to build CA params")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kairos-e2e-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).context("failed to self-sign CA")?;
    let issuer = Issuer::new(ca, ca_key);

    let srv_key = KeyPair::generate().context("failed to generate serving key")?;
    let mut srv = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .context("failed to build serving params")?;
    srv.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let srv_cert = srv
        .signed_by(&srv_key, &issuer)
        .context("failed to sign serving cert")?;

    let admin_key = KeyPair::generate().context("failed to generate admin key")?;
    let mut admin =
        CertificateParams::new(Vec::<String>::new()).context("failed to build admin params")?;
    admin
        .distinguished_name
        .push(DnType::CommonName, "kairos-e2e-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin
        .signed_by(&admin_key, &issuer)
        .context("failed to sign admin cert")?;

    let sa_key = KeyPair::generate().context("failed to generate service-account key")?;
    Ok(Pki {
        ca_cert: write(dir, "ca.crt", &ca_cert.pem())?,
        serving_cert: write(dir, "apiserver.crt", &srv_cert.pem())?,
        serving_key: write(dir, "apiserver.key", &srv_key.serialize_pem())?,
        sa_key: write(dir, "sa.key", &sa_key.serialize_pem())?,
        sa_pub: write(dir, "sa.pub", &sa_key.public_key_pem())?,
        ca_pem: ca_cert.pem(),
        admin_cert_pem: admin_cert.pem(),
        admin_key_pem: admin_key.serialize_pem(),
    })
}
