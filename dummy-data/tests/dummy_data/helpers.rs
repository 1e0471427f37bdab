use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use dummy_data::generate::{generate, Config, Counts};
use serde_json::Value;
use slipstream_model::{Coupon, Event, Id, User};
use tempfile::TempDir;

pub const FILES: [&str; 3] = ["users.jsonl", "events.jsonl", "coupons.jsonl"];

pub fn now() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().expect("valid timestamp")
}

pub fn config(counts: Counts, seed: u64) -> Config {
    Config {
        counts,
        seed,
        now: now(),
    }
}

pub fn counts(users: u32, events: u32, coupons: u32) -> Counts {
    Counts {
        users,
        events,
        coupons,
    }
}

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample")
}

/// Generates into a fresh directory and returns the three files' bytes.
pub fn generated_files(config: &Config) -> [Vec<u8>; 3] {
    let dir = TempDir::new().expect("temporary directory");
    generate(config, dir.path()).expect("generates");
    read_files(dir.path())
}

pub fn read_files(dir: &Path) -> [Vec<u8>; 3] {
    FILES.map(|file| fs::read(dir.join(file)).expect("file written"))
}

pub fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON value per line"))
        .collect()
}

/// Every record of a generated data set, parsed by the model.
pub struct Dataset {
    pub config: Config,
    pub users: Vec<User>,
    pub events: HashMap<Id, Event>,
    pub coupons: Vec<Coupon>,
}

impl Dataset {
    pub fn generate(config: Config) -> Self {
        let [users, events, coupons] = generated_files(&config);
        let now = config.now;
        Self {
            config,
            users: lines(&users)
                .iter()
                .map(|v| User::parse(v, now).expect("valid user"))
                .collect(),
            events: lines(&events)
                .iter()
                .map(|v| Event::parse(v).expect("valid event"))
                .map(|e| (e.id.expect("event id"), e))
                .collect(),
            coupons: lines(&coupons)
                .iter()
                .map(|v| Coupon::parse(v).expect("valid coupon"))
                .collect(),
        }
    }

    pub fn sport_of(&self, event_id: Id) -> &str {
        &self.events[&event_id].sport
    }
}

/// Big enough for distributions to show: ten coupons per user, like data set M.
pub static MEDIUM: LazyLock<Dataset> =
    LazyLock::new(|| Dataset::generate(config(counts(2_000, 1_000, 20_000), 11)));
