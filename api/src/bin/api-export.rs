//! Writes every record in the api's database as JSON Lines (`users.jsonl`, `events.jsonl`,
//! `coupons.jsonl`), the form `api-import` loads: how a deployment moves from SQLite to
//! PostgreSQL (README, Scale-out), or keeps a plain copy of its data.
//!
//! Each record is written as the api answers `GET /{kind}/{id}`, id included, so that it keeps
//! its id in the database it is imported into and references between records still hold.
//! Tables are read in id order, a page at a time, while the api may go on writing: a record
//! stored meanwhile is in the copy or not, never half.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use api::store::{Store, Table};
use api::Config;
use clap::Parser;
use slipstream_model::{Coupon, Event, User};

/// Ids read per query.
const PAGE: u32 = 1_000;

/// Write every record of the api's database as JSON Lines.
#[derive(Debug, Parser)]
#[command(name = "api-export", version)]
struct Args {
    /// The database to read from.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://slipstream.db")]
    database_url: String,
    /// The folder to write users.jsonl, events.jsonl and coupons.jsonl into (created when
    /// missing; files of those names in it are replaced).
    dir: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(file) = sqlite_file(&args.database_url) {
        // Connecting would create an empty database and export nothing from it.
        if !Path::new(file).is_file() {
            bail!("{file}: no such database file");
        }
    }
    let config = Config::parse_from(["api-export", "--database-url", &args.database_url]);
    let store = Store::connect(&config).await?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("Failed to create {}", args.dir.display()))?;
    export::<User>(&store, &args.dir.join("users.jsonl")).await?;
    export::<Event>(&store, &args.dir.join("events.jsonl")).await?;
    export::<Coupon>(&store, &args.dir.join("coupons.jsonl")).await?;
    store.close().await;
    Ok(())
}

/// The file of an `sqlite://` URL, without its query.
fn sqlite_file(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite://")?;
    Some(path.split('?').next().unwrap_or(path))
}

async fn export<R: Table>(store: &Store, path: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let file =
        File::create(path).with_context(|| format!("Failed to create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let (mut after, mut total) = (0, 0_u64);
    loop {
        let ids = store.ids_after::<R>(after, PAGE).await?;
        let Some(&last) = ids.last() else { break };
        for id in ids {
            // Records are never deleted: one listed is there to read.
            let record = (store.find::<R>(id).await?)
                .with_context(|| format!("{} {id} vanished while exported", R::KIND))?;
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n")?;
            total += 1;
        }
        after = last;
    }
    out.flush()
        .with_context(|| format!("Failed to write {}", path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::print_stdout)] // A command-line tool reporting what it did.
    {
        println!(
            "{:>8} {:<8} {:>7.1} s -> {}",
            total,
            R::KIND,
            seconds,
            path.display()
        );
    }
    Ok(())
}
