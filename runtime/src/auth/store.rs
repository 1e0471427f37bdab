//! The keys a service accepts, reloaded from the key file while it runs, so a new or revoked
//! key takes effect within [`RELOAD_EVERY`] on every service without a restart.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::file::{self, KeyRecord};
use super::key::{self, SecretHash};
use super::scope::Scopes;

/// How often the key file is looked at (SPEC §9 allows 5 s).
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Who is calling: an accepted key, with what it may do.
#[derive(Debug)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub scopes: Scopes,
    /// Requests per second allowed on this service.
    pub rate_per_sec: u32,
    pub(super) limiter: Arc<DefaultDirectRateLimiter>,
}

/// Why a bearer token is not accepted. Each answers the same 401, so an answer never tells
/// a caller whether a key id exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    Unknown,
    Revoked,
}

/// The accepted keys by id, as last read.
#[derive(Debug, Default)]
struct KeySet {
    keys: HashMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    hash: SecretHash,
    revoked: bool,
    principal: Arc<Principal>,
}

impl KeySet {
    /// Builds the set from the file's records, keeping each unchanged key's rate limiter so a
    /// reload does not hand every key a fresh burst.
    fn from_records(records: Vec<KeyRecord>, previous: &KeySet) -> anyhow::Result<Self> {
        let mut keys = HashMap::with_capacity(records.len());
        for record in records {
            let hash = record.hash()?;
            let limiter = previous
                .keys
                .get(&record.id)
                .filter(|old| old.principal.rate_per_sec == record.rate_per_sec)
                .map(|old| old.principal.limiter.clone())
                .unwrap_or_else(|| Arc::new(limiter(record.rate_per_sec)));
            let principal = Principal {
                key_id: record.id.clone(),
                name: record.name,
                scopes: record.scopes.into_iter().collect(),
                rate_per_sec: record.rate_per_sec,
                limiter,
            };
            let entry = Entry {
                hash,
                revoked: record.revoked_at.is_some(),
                principal: Arc::new(principal),
            };
            keys.insert(record.id, entry);
        }
        Ok(Self { keys })
    }

    fn verify(&self, token: &str) -> Result<&Arc<Principal>, Rejected> {
        /// Compared against when the key id is unknown, so that path costs the same hash and
        /// comparison as a wrong secret for a known id.
        static DECOY: std::sync::LazyLock<SecretHash> =
            std::sync::LazyLock::new(|| SecretHash::of("decoy"));
        let (id, secret) = key::parse(token).ok_or(Rejected::Malformed)?;
        match self.keys.get(id) {
            Some(entry) if entry.hash.matches(secret) => {
                if entry.revoked {
                    Err(Rejected::Revoked)
                } else {
                    Ok(&entry.principal)
                }
            }
            Some(_) => Err(Rejected::Unknown),
            None => {
                DECOY.matches(secret);
                Err(Rejected::Unknown)
            }
        }
    }
}

fn limiter(rate_per_sec: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(rate_per_sec).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(rate))
}

/// The key file as this service last read it; cheap to clone, read without a lock.
#[derive(Debug, Clone)]
pub struct KeyStore {
    path: PathBuf,
    keys: Arc<ArcSwap<KeySet>>,
}

impl KeyStore {
    /// Reads the file once; a missing or invalid file is an error, so a service never starts
    /// accepting nothing (or everything) by mistake.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let records = file::read(path)?;
        let keys = KeySet::from_records(records, &KeySet::default())?;
        Ok(Self {
            path: path.to_owned(),
            keys: Arc::new(ArcSwap::from_pointee(keys)),
        })
    }

    /// `then` of the key `token` names, if it is accepted, without cloning the principal's
    /// `Arc`, whose count both cores would write on every request.
    pub fn verified<T>(
        &self,
        token: &str,
        then: impl FnOnce(&Principal) -> T,
    ) -> Result<T, Rejected> {
        self.keys
            .load()
            .verify(token)
            .map(|principal| then(principal))
    }

    /// How many keys are in force (neither revoked nor unreadable).
    pub fn active(&self) -> usize {
        self.keys
            .load()
            .keys
            .values()
            .filter(|e| !e.revoked)
            .count()
    }

    /// Reloads the file whenever it changes, until the runtime stops. A file that turns
    /// invalid is logged and the keys read before stay in force.
    pub fn watch(&self) {
        let store = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let mut seen = modified(&store.path);
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            loop {
                tick.tick().await;
                let now = modified(&store.path);
                if now != seen {
                    seen = now;
                    store.reload();
                }
            }
        });
    }

    fn reload(&self) {
        let loaded = file::read(&self.path)
            .and_then(|records| KeySet::from_records(records, &self.keys.load()));
        match loaded {
            Ok(keys) => {
                let active = keys.keys.values().filter(|e| !e.revoked).count();
                self.keys.store(Arc::new(keys));
                tracing::info!(active, "Key file reloaded.");
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "Key file not reloaded; the keys read before stay in force."
            ),
        }
    }
}

/// What tells a change of the file: its modification time, size and inode (a secret
/// mounted by an orchestrator is replaced by a new file, not written in place).
fn modified(path: &Path) -> Option<(SystemTime, u64, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok()?, metadata.len(), inode))
}
