//! Bulk-loads a data set written by `dummy-data generate` (`users.jsonl`, `events.jsonl`,
//! `coupons.jsonl`) into the api's database, thousands of records per transaction.
//!
//! The setup path of the benchmarks: a million coupons through HTTP one by one would measure
//! the setup, not the thing benchmarked. Every record is still parsed by the model; the api
//! builds its recommendations from the loaded data when it starts.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use api::store::{Store, Table};
use api::Config;
use chrono::Utc;
use clap::Parser;
use slipstream_model::{Coupon, Event, User};

/// Bulk-load JSON Lines records into the api's database.
#[derive(Debug, Parser)]
#[command(name = "api-import", version)]
struct Args {
    /// The database to load into (created when missing).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://slipstream.db")]
    database_url: String,
    /// Records per transaction.
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// The folder holding users.jsonl, events.jsonl and coupons.jsonl.
    dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::parse_from([
        "api-import",
        "--database-url",
        &args.database_url,
        "--sqlite-synchronous",
        "off",
    ]);
    let store = Store::connect(&config).await?;
    load::<User>(&store, &args.dir.join("users.jsonl"), args.batch).await?;
    load::<Event>(&store, &args.dir.join("events.jsonl"), args.batch).await?;
    load::<Coupon>(&store, &args.dir.join("coupons.jsonl"), args.batch).await?;
    store.close().await;
    Ok(())
}

async fn load<R: Table>(store: &Store, path: &Path, batch: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let file = File::open(path).with_context(|| format!("Failed to open {}", path.display()))?;
    let now = Utc::now();
    let (mut pending, mut total) = (Vec::with_capacity(batch), 0);
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("Failed to read {}", path.display()))?;
        let value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not JSON", path.display(), number + 1))?;
        pending.push(
            R::parse(&value, now)
                .with_context(|| format!("{}:{}: invalid record", path.display(), number + 1))?,
        );
        if pending.len() == batch {
            total += store.import(std::mem::take(&mut pending), now).await?;
        }
    }
    total += store.import(pending, now).await?;
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::print_stdout)] // A command-line tool reporting what it did.
    {
        println!(
            "{:>8} {:<8} {:>7.1} s {:>9.0} records/s",
            total,
            R::KIND,
            seconds,
            total as f64 / seconds.max(1e-9)
        );
    }
    Ok(())
}
