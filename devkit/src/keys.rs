//! API keys for a local run and for tests: a key file with one key per scope, and the
//! `credentials.env` that hands them to a developer (SPEC §9).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use slipstream_runtime::auth::file;
use slipstream_runtime::auth::{KeyStore, Scope};

/// The name of each scope's key in `credentials.env`.
pub fn env_name(scope: Scope) -> String {
    format!("SLIPSTREAM_{}_KEY", scope.as_str().to_uppercase())
}

/// A key file holding one key per scope, and the keys themselves.
#[derive(Clone)]
pub struct DevKeys {
    pub file: PathBuf,
    keys: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for DevKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKeys").field("file", &self.file).finish()
    }
}

impl DevKeys {
    /// Adds one key per scope to the key file `file` (created if missing), each allowed
    /// `rate` requests a second.
    pub fn create(file: &Path, rate: u32) -> anyhow::Result<Self> {
        let mut keys = BTreeMap::new();
        for scope in Scope::ALL {
            let name = format!("dev-{scope}");
            let key = file::create(file, &name, &[scope], rate)
                .with_context(|| format!("Failed to create the {scope} key"))?;
            keys.insert(scope.as_str(), key);
        }
        Ok(Self {
            file: file.to_owned(),
            keys,
        })
    }

    /// The keys of `credentials`, when every one of them is still accepted by the key file
    /// `file`: a local run keeps its keys from one start to the next.
    pub fn reuse(file: &Path, credentials: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(credentials).ok()?;
        let store = KeyStore::open(file).ok()?;
        let mut keys = BTreeMap::new();
        for scope in Scope::ALL {
            let prefix = format!("{}=", env_name(scope));
            let key = text.lines().find_map(|line| line.strip_prefix(&prefix))?;
            let scopes = store.verified(key, |principal| principal.scopes).ok()?;
            if scopes.iter().ne([scope]) {
                return None;
            }
            keys.insert(scope.as_str(), key.to_owned());
        }
        Some(Self {
            file: file.to_owned(),
            keys,
        })
    }

    /// The key holding `scope` alone.
    pub fn key(&self, scope: Scope) -> &str {
        &self.keys[scope.as_str()]
    }

    /// An HTTP client that sends `scope`'s key on every request (a request may set its own).
    pub fn client(&self, scope: Scope) -> reqwest::Client {
        client_with(Some(&self.bearer(scope)))
    }

    /// `Bearer <key>` for `scope`'s key.
    pub fn bearer(&self, scope: Scope) -> String {
        format!("Bearer {}", self.key(scope))
    }

    /// The keys as `SLIPSTREAM_<SCOPE>_KEY=…` lines, to be sourced by a shell.
    pub fn credentials_env(&self) -> String {
        let mut text = String::from(
            "# Slipstream API keys of this local run, one per scope (`source` this file).\n",
        );
        for scope in Scope::ALL {
            let _ = writeln!(text, "{}={}", env_name(scope), self.key(scope));
        }
        text
    }

    /// Writes [`DevKeys::credentials_env`] to `path`, readable by its owner only.
    pub fn write_credentials(&self, path: &Path) -> anyhow::Result<()> {
        crate::write_private(path, &self.credentials_env())
    }
}

/// An HTTP client sending `authorization` (e.g. `Bearer slp_…`) on every request unless the
/// request sets its own, timing out after 30 s; `None` sends no credentials.
pub fn client_with(authorization: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = authorization {
        let value = reqwest::header::HeaderValue::from_str(value).expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}
