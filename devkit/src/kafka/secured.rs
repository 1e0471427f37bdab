//! A SASL_SSL listener beside the broker's plain one: what a secured cluster asks of its
//! clients (TLS to a certificate from the operator's CA, then SCRAM or PLAIN credentials),
//! made up for one broker so the services can be tried against it on this machine.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::write_private;

/// The user the SCRAM credential and the PLAIN login are made for.
pub const USERNAME: &str = "slipstream";

/// The listener's port, the CA its certificate is signed by, and the one user's credentials.
#[derive(Debug, Clone)]
pub struct SecuredListener {
    pub port: u16,
    /// The CA certificate (PEM) a client must trust: `ssl.ca.location`.
    pub ca_file: PathBuf,
    pub username: String,
    pub password: String,
    /// The broker's certificate and key (PEM), its `ssl.keystore.location`.
    keystore: PathBuf,
}

impl SecuredListener {
    /// A new CA and a certificate it signs for 127.0.0.1 (each start), and the password kept
    /// in `dir` from the first start, since the SCRAM credential is written when the storage
    /// is formatted.
    pub(crate) fn prepare(dir: &Path, port: u16) -> Result<Self> {
        let password_file = dir.join("sasl-password");
        let password = match fs::read_to_string(&password_file) {
            Ok(password) => password.trim().to_owned(),
            Err(_) => {
                let password = uuid::Uuid::new_v4().simple().to_string();
                write_private(&password_file, &password)?;
                password
            }
        };
        let (ca_pem, keystore_pem) = certificates().context("Failed to make certificates")?;
        let ca_file = dir.join("ca.pem");
        fs::write(&ca_file, ca_pem)
            .with_context(|| format!("Failed to write {}", ca_file.display()))?;
        let keystore = dir.join("broker.pem");
        write_private(&keystore, &keystore_pem)?;
        Ok(Self {
            port,
            ca_file,
            username: USERNAME.to_owned(),
            password,
            keystore,
        })
    }

    /// `host:port` for the clients of this listener.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Client settings for `mechanism` (`SCRAM-SHA-512` or `PLAIN`) with `password`, in the
    /// services' `KAFKA_OPTIONS` form.
    pub fn kafka_options(&self, mechanism: &str, password: &str) -> String {
        format!(
            "security.protocol=SASL_SSL,sasl.mechanism={mechanism},sasl.username={},\
             sasl.password={password},ssl.ca.location={}",
            self.username,
            self.ca_file.display()
        )
    }

    /// What the broker's settings add for this listener.
    pub(crate) fn server_properties(&self) -> Vec<(String, String)> {
        let setting = |key: &str, value: String| (key.to_owned(), value);
        vec![
            setting("sasl.enabled.mechanisms", "SCRAM-SHA-512,PLAIN".to_owned()),
            setting(
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned(),
            ),
            setting(
                "listener.name.sasl_ssl.plain.sasl.jaas.config",
                format!(
                    "org.apache.kafka.common.security.plain.PlainLoginModule required \
                     user_{}=\"{}\";",
                    self.username, self.password
                ),
            ),
            setting("ssl.keystore.type", "PEM".to_owned()),
            setting("ssl.keystore.location", self.keystore.display().to_string()),
        ]
    }

    /// The storage tool's `--add-scram` value creating the user's SCRAM-SHA-512 credential.
    /// The password is quoted: unquoted, the tool reads a value that starts with a digit as
    /// something else than the text, and the login then fails as invalid credentials.
    pub(crate) fn scram_credential(&self) -> String {
        format!(
            "SCRAM-SHA-512=[name={},password=\"{}\"]",
            self.username, self.password
        )
    }
}

/// A throwaway CA's certificate, and a certificate it signs for 127.0.0.1 and localhost
/// with its key: both PEM.
fn certificates() -> Result<(String, String)> {
    let made = crate::tls::throwaway_certificates(&["127.0.0.1", "localhost"])?;
    Ok((
        made.ca_pem,
        format!("{}{}", made.key_pem, made.certificate_pem),
    ))
}
