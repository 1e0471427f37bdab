//! Deterministic users, events and coupons, written as JSON Lines.
//!
//! The same seed and `now` give byte-identical files: each file draws from its own ChaCha
//! stream of the seed, so changing one count leaves the other files as they were. Coupons
//! reference users and events by their ids, which run from 1 to each count.

mod coupons;
mod events;
mod jsonl;
mod names;
mod sports;
mod users;

use std::fmt;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slipstream_model::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub users: u32,
    pub events: u32,
    pub coupons: u32,
}

impl Counts {
    /// Enough to look at, and the size of the checked-in sample.
    pub const SMALL: Self = Self {
        users: 100,
        events: 100,
        coupons: 100,
    };
    /// Data set M, the scale every performance target is measured at.
    pub const M: Self = Self {
        users: 100_000,
        events: 10_000,
        coupons: 1_000_000,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub counts: Counts,
    pub seed: u64,
    /// Registrations and bets happen before it; events begin around it.
    pub now: DateTime<Utc>,
}

/// What was written to one file, and how long drawing and writing it took.
#[derive(Debug, Clone)]
pub struct FileSummary {
    pub file: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl fmt::Display for FileSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records, {} bytes in {:.3} s",
            self.file,
            self.records,
            self.bytes,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Writes `users.jsonl`, `events.jsonl` and `coupons.jsonl` into `dir`, creating it.
pub fn generate(config: &Config, dir: &Path) -> Result<Vec<FileSummary>> {
    let Config { counts, seed, now } = *config;
    if counts.coupons > 0 && (counts.users == 0 || counts.events == 0) {
        bail!("coupons need at least one user and one event");
    }
    fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;

    let started = Instant::now();
    let (users, bettors) = users::generate(&mut stream(seed, USERS), counts.users, now)?;
    let users = write(dir, "users.jsonl", started, users.into_iter().map(Ok))?;

    let started = Instant::now();
    let (events, schedule) = events::generate(&mut stream(seed, EVENTS), counts.events, now)?;
    let events = write(dir, "events.jsonl", started, events.into_iter().map(Ok))?;

    let started = Instant::now();
    let mut coupons = coupons::Coupons::new(stream(seed, COUPONS), &bettors, &schedule, now)?;
    let records = (1..=counts.coupons).map(|id| coupons.coupon(Id::from(id)));
    let coupons = write(dir, "coupons.jsonl", started, records)?;
    Ok(vec![users, events, coupons])
}

/// The seed's stream each file draws from.
const USERS: u64 = 1;
const EVENTS: u64 = 2;
const COUPONS: u64 = 3;

/// One of the seed's independent streams; ChaCha's streams do not overlap.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

fn write<T: serde::Serialize>(
    dir: &Path,
    file: &'static str,
    started: Instant,
    records: impl IntoIterator<Item = Result<T>>,
) -> Result<FileSummary> {
    let (records, bytes) = jsonl::write(&dir.join(file), records)?;
    Ok(FileSummary {
        file,
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Draws a value from a short table of `(weight, value)`; the weights must not all be 0.
fn pick<T: Copy>(rng: &mut ChaCha8Rng, table: &[(u32, T)]) -> T {
    let total: u32 = table.iter().map(|(weight, _)| weight).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for &(weight, value) in table {
        if roll < weight {
            return value;
        }
        roll -= weight;
    }
    table[table.len() - 1].1
}
