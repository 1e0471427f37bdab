//! Authentication and authorisation at the edge (SPEC §9): a bearer key turns into a
//! [`Principal`] once per request, in [`admit`]; each router states the scope its
//! routes need with [`scoped`]. Keys live in a key file of hashes that every service reads
//! and reloads (see [`file`]), written by the `slipstream-keys` command.

pub mod file;
pub mod key;
mod middleware;
mod scope;
mod store;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use slipstream_model::contract::settings;

pub use middleware::{admit, scoped, Admission, Auth, Refusal};
pub use scope::{Scope, Scopes};
pub use store::{KeyStore, Principal, Rejected, RELOAD_EVERY};

/// How a service checks its callers; flattened into each service's settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// The key file (written by `slipstream-keys`) whose keys this service accepts; it is
    /// reloaded within a second of every change. Required unless auth is disabled.
    #[arg(long, env = settings::AUTH_KEYS_FILE)]
    pub auth_keys_file: Option<PathBuf>,
    /// Serve every endpoint without a key. Only for a closed bench; logged as a warning.
    #[arg(long, env = "AUTH_DISABLED")]
    pub auth_disabled: bool,
}

impl AuthArgs {
    /// The settings of a service that accepts the keys of `file`.
    pub fn keys(file: impl Into<PathBuf>) -> Self {
        Self {
            auth_keys_file: Some(file.into()),
            auth_disabled: false,
        }
    }
}

/// A key a service sends to another (the consumers' write key): never shown by `Debug`,
/// so a logged configuration cannot leak it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

impl FromStr for ApiKey {
    type Err = String;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        let key = key.trim();
        if key::parse(key).is_none() {
            return Err("not a Slipstream key (`slp_<key id>_<secret>`)".to_owned());
        }
        Ok(Self(key.to_owned()))
    }
}
