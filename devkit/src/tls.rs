//! Certificates for tests and local runs of TLS: a certificate authority made on the spot and
//! a server certificate it signs, as an operator's internal CA would.

use anyhow::Result;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A throwaway CA and a certificate it signed, all PEM.
#[derive(Debug, Clone)]
pub struct Certificates {
    /// What a client must trust.
    pub ca_pem: String,
    /// The server's certificate, for `names` (host names or IP addresses).
    pub certificate_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
}

/// A new CA, and a server certificate it signs for `names`.
pub fn throwaway_certificates(names: &[&str]) -> Result<Certificates> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "slipstream-devkit CA");
    let ca = ca.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    let server = CertificateParams::new(names)?.signed_by(&key, &ca, &ca_key)?;
    Ok(Certificates {
        ca_pem: ca.pem(),
        certificate_pem: server.pem(),
        key_pem: key.serialize_pem(),
    })
}
