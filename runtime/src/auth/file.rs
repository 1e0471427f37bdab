//! The key file: one JSON object a line per key, holding its id, name, scopes, rate limit
//! and the hash of its secret, never the key. Services read it; `slipstream-keys` writes it,
//! whole, to a temporary file renamed over the old one, so a reader never sees half of it.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::{self, NewKey, SecretHash};
use super::scope::Scope;

/// Default request rate of a new key, per second (SPEC §9).
pub const DEFAULT_RATE: u32 = 1_000;

/// One key as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Requests per second this key may make on each service (a burst of as many).
    pub rate_per_sec: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
}

impl KeyRecord {
    pub fn hash(&self) -> anyhow::Result<SecretHash> {
        SecretHash::from_hex(&self.secret_sha256)
            .with_context(|| format!("key {}: `secret_sha256` is not 64 hex digits", self.id))
    }

    fn check(&self) -> anyhow::Result<()> {
        self.hash()?;
        if self.id.len() != key::ID_LEN || !self.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("key id `{}` is not {} hex digits", self.id, key::ID_LEN);
        }
        if self.rate_per_sec == 0 {
            bail!("key {}: `rate_per_sec` must be at least 1", self.id);
        }
        Ok(())
    }
}

/// Parses a key file's text; blank lines and `#` comments are skipped. One bad line fails
/// the whole file, so a service never runs on half of what an operator meant.
pub fn parse(text: &str) -> anyhow::Result<Vec<KeyRecord>> {
    let mut records: Vec<KeyRecord> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let record: KeyRecord = serde_json::from_str(line)
            .with_context(|| format!("line {} is not a key record", number + 1))?;
        record
            .check()
            .with_context(|| format!("line {}", number + 1))?;
        if records.iter().any(|r| r.id == record.id) {
            bail!("line {}: key id {} appears twice", number + 1, record.id);
        }
        records.push(record);
    }
    Ok(records)
}

/// Adds a new key to the file and returns it: the only time the whole key exists.
pub fn create(
    path: &Path,
    name: &str,
    scopes: &[Scope],
    rate_per_sec: u32,
) -> anyhow::Result<String> {
    if name.trim().is_empty() {
        bail!("a key needs a name");
    }
    if scopes.is_empty() {
        bail!("a key needs at least one scope");
    }
    let key = NewKey::generate();
    let record = KeyRecord {
        id: key.id.clone(),
        name: name.trim().to_owned(),
        scopes: scopes.to_vec(),
        rate_per_sec,
        created_at: Utc::now(),
        revoked_at: None,
        secret_sha256: key.hash().to_hex(),
    };
    record.check()?;
    update(path, |records| {
        records.push(record);
        Ok(())
    })?;
    Ok(key.token())
}

/// Marks the key `id` revoked (it stays listed); `false` when there is no such key.
pub fn revoke(path: &Path, id: &str) -> anyhow::Result<bool> {
    update(path, |records| {
        let Some(record) = records.iter_mut().find(|r| r.id == id) else {
            return Ok(false);
        };
        record.revoked_at.get_or_insert_with(Utc::now);
        Ok(true)
    })
}

pub fn read(path: &Path) -> anyhow::Result<Vec<KeyRecord>> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("Failed to read the key file {}", path.display()))?;
    parse(&text).with_context(|| format!("The key file {} is not valid", path.display()))
}

/// Changes the key file under an exclusive lock (so two commands never lose each other's
/// key), creating it when missing.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<KeyRecord>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let lock_path = sibling(path, ".lock");
    let lock = File::create(&lock_path)
        .with_context(|| format!("Failed to open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("Failed to lock {}", lock_path.display()))?;
    let mut records = if path.exists() {
        read(path)?
    } else {
        Vec::new()
    };
    let answer = change(&mut records)?;
    write(path, &records)?;
    Ok(answer)
}

fn write(path: &Path, records: &[KeyRecord]) -> anyhow::Result<()> {
    let mut text = String::from(
        "# Slipstream API keys: one JSON object a line, written by `slipstream-keys`.\n\
         # Only a hash of each secret is here; services reload this file within seconds.\n",
    );
    for record in records {
        text.push_str(&serde_json::to_string(record)?);
        text.push('\n');
    }
    let temporary = sibling(path, ".tmp");
    let mut file = restricted(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("Failed to replace {}", path.display()))
}

/// A new file only its owner can read or write: hashes are not secrets, but who holds which
/// scope is nobody else's business.
fn restricted(path: &Path) -> anyhow::Result<File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("Failed to write {}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> KeyRecord {
        KeyRecord {
            id: id.to_owned(),
            name: "test".to_owned(),
            scopes: vec![Scope::Read],
            rate_per_sec: 10,
            created_at: Utc::now(),
            revoked_at: None,
            secret_sha256: SecretHash::of("s").to_hex(),
        }
    }

    #[test]
    fn a_written_file_reads_back_as_it_was() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("keys");
        let records = vec![record("0123456789abcdef"), record("fedcba9876543210")];
        update(&path, |all| {
            all.extend(records.clone());
            Ok(())
        })
        .expect("written");
        assert_eq!(read(&path).expect("read"), records);
    }

    #[test]
    fn created_keys_verify_until_revoked() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("keys");
        let token = create(&path, "site", &[Scope::Recommend], 50).expect("created");
        let (id, secret) = key::parse(&token).expect("our format");
        let stored = read(&path).expect("read");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].name, "site");
        assert!(stored[0].hash().expect("hash").matches(secret));
        let text = std::fs::read_to_string(&path).expect("text");
        assert!(!text.contains(secret), "the secret is stored");
        assert!(revoke(&path, id).expect("revoked"));
        assert!(read(&path).expect("read")[0].revoked_at.is_some());
        assert!(!revoke(&path, "0000000000000000").expect("no such key"));
    }

    #[test]
    fn a_bad_line_fails_the_whole_file_naming_the_line() {
        let good = serde_json::to_string(&record("0123456789abcdef")).expect("json");
        let error = parse(&format!("# keys\n{good}\n{{\"id\": 1}}\n")).expect_err("refused");
        assert!(format!("{error:#}").contains("line 3"), "{error:#}");
        let twice = parse(&format!("{good}\n{good}\n")).expect_err("refused");
        assert!(format!("{twice:#}").contains("twice"), "{twice:#}");
        let mut zero = record("0123456789abcdef");
        zero.rate_per_sec = 0;
        assert!(parse(&serde_json::to_string(&zero).expect("json")).is_err());
    }
}
