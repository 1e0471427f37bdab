//! `dummy-data upload`: posts a generated directory to the producer, users first, then events,
//! then coupons, and reports how fast each went; `--rate` offers them on a fixed schedule
//! instead of as fast as the producer answers; `--verify` then waits for the api to hold
//! every record.

mod data;
mod latency;
mod pace;
mod post;
mod report;
mod verify;

use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::{stream, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use slipstream_runtime::retry::Backoff;

pub use data::{load, Entity};
pub use latency::Latencies;
pub use pace::{parse_rate, Paced, Schedule};
pub use post::{Outcome, Sender};
pub use report::{write_rate, write_table, Row};

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// Directory written by `generate`: users.jsonl, events.jsonl and coupons.jsonl.
    #[arg(long)]
    pub dir: PathBuf,
    /// Base URL of the producer.
    #[arg(long, default_value = "http://127.0.0.1:8099")]
    pub producer_url: String,
    /// Base URL of the api, asked by --verify.
    #[arg(long, default_value = "http://127.0.0.1:8098")]
    pub api_url: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Records per request: 1 posts each record alone, up to 1000 posts JSON arrays.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Records offered per second, open loop: batch k goes out k·batch/rate seconds after its
    /// entity's start however slowly the producer answers, with at most --concurrency in
    /// flight; batches that find them all taken go late and are counted. Latency is then also
    /// reported from each batch's scheduled time. Without it, as fast as --concurrency allows.
    #[arg(long, value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<NonZeroU32>,
    /// Requests per chunk before its records count as errors; 503s and lost connections
    /// are retried, 4xx answers are not.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
    /// Longest wait between retries in milliseconds, whatever `Retry-After` asks for.
    #[arg(long, default_value_t = 5_000)]
    pub max_backoff_ms: u64,
    /// Wait until the api holds every record, then print the end-to-end time.
    #[arg(long)]
    pub verify: bool,
    /// How long --verify waits, in seconds, after the last post.
    #[arg(long, default_value_t = 60)]
    pub verify_timeout: u64,
    /// The producer key (scope `ingest`), as `slipstream-dev up` writes it to credentials.env.
    #[arg(long, env = "SLIPSTREAM_INGEST_KEY", hide_env_values = true)]
    pub ingest_key: Option<String>,
    /// The api key --verify reads with (scope `read`).
    #[arg(long, env = "SLIPSTREAM_READ_KEY", hide_env_values = true)]
    pub read_key: Option<String>,
}

/// An HTTP client sending `key` as a bearer token on every request.
pub fn client(key: Option<&str>) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .context("The key is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .context("Failed to build the HTTP client")
}

/// Missing ids listed per entity at most, so a lost topic does not flood the terminal.
const LISTED: usize = 20;

pub fn run(args: &UploadArgs, out: &mut impl Write) -> Result<()> {
    let entities = load(&args.dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("Failed to start an async runtime")?;
    runtime.block_on(upload_and_verify(args, &entities, out))
}

async fn upload_and_verify(
    args: &UploadArgs,
    entities: &[Entity],
    out: &mut impl Write,
) -> Result<()> {
    let http = client(args.ingest_key.as_deref())?;
    let reader = client(args.read_key.as_deref())?;
    let retry = Backoff::up_to(Duration::from_millis(args.max_backoff_ms)).tries(args.attempts);
    let sender = Sender::new(http, &args.producer_url, retry);
    let started = Instant::now();
    let rows = upload(&sender, entities, args).await;
    write_table(out, &rows).context("Failed to write the table")?;
    if let Some(rate) = args.rate {
        write_rate(out, &rows, rate).context("Failed to write the rate")?;
    }
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    if args.verify {
        let deadline = Instant::now() + Duration::from_secs(args.verify_timeout);
        let wanted = entities
            .iter()
            .flat_map(|e| e.ids.iter().map(|&id| (e.name, id)))
            .collect();
        let concurrency = usize::from(args.concurrency);
        let missing = verify::missing(&reader, &args.api_url, wanted, concurrency, deadline).await;
        report_verify(out, &missing, started.elapsed())?;
    }
    if errors > 0 {
        bail!("{errors} record(s) were not accepted by the producer");
    }
    Ok(())
}

/// Uploads each entity in turn, all of one before the next, and times each.
async fn upload(sender: &Sender, entities: &[Entity], args: &UploadArgs) -> Vec<Row> {
    let total = entities.iter().map(|e| e.records.len() as u64).sum();
    let bar = progress_bar(total);
    let mut rows = Vec::with_capacity(entities.len());
    for entity in entities {
        bar.set_prefix(entity.name);
        rows.push(upload_entity(sender, entity, args, &bar).await);
    }
    bar.finish_and_clear();
    rows
}

async fn upload_entity(
    sender: &Sender,
    entity: &Entity,
    args: &UploadArgs,
    bar: &ProgressBar,
) -> Row {
    let started = tokio::time::Instant::now();
    let (outcomes, paced) = post_entity(sender, entity, args, bar, started).await;
    if let Some(error) = outcomes.iter().rev().find_map(|o| o.error.as_ref()) {
        if outcomes.iter().any(|o| o.failed > 0) {
            bar.suspend(|| warn(&format!("{}: {error}", entity.name)));
        }
    }
    row(entity, started.elapsed(), &outcomes, paced)
}

/// Posts every chunk of `entity`: as fast as the concurrency allows, or with `--rate` on a
/// schedule from `started`, which then reports how it was kept.
async fn post_entity(
    sender: &Sender,
    entity: &Entity,
    args: &UploadArgs,
    bar: &ProgressBar,
    started: tokio::time::Instant,
) -> (Vec<Outcome>, Option<Paced>) {
    let path = format!("/{}", entity.name);
    let single = args.batch == 1;
    let batch = usize::from(args.batch);
    let limit = usize::from(args.concurrency);
    let chunks = entity.records.chunks(batch);
    let send = |chunk| send_counted(sender, &path, chunk, single, bar);
    let Some(rate) = args.rate else {
        let outcomes = stream::iter(chunks).map(send).buffer_unordered(limit);
        return (outcomes.collect().await, None);
    };
    let schedule = Schedule {
        start: started,
        rate,
        batch,
    };
    let (outcomes, paced) = pace::offer(chunks, schedule, limit, send).await;
    (outcomes, Some(paced))
}

/// Sends one chunk and moves the progress bar by its records.
async fn send_counted(
    sender: &Sender,
    path: &str,
    chunk: &[String],
    single: bool,
    bar: &ProgressBar,
) -> Outcome {
    let outcome = sender.send(path, chunk, single).await;
    bar.inc((outcome.accepted + outcome.failed) as u64);
    outcome
}

/// The table row of one entity from what became of its chunks.
fn row(entity: &Entity, elapsed: Duration, outcomes: &[Outcome], paced: Option<Paced>) -> Row {
    Row {
        name: entity.name,
        amount: entity.records.len(),
        elapsed,
        errors: outcomes.iter().map(|o| o.failed).sum(),
        retries: outcomes.iter().map(|o| o.retries).sum(),
        latencies: Latencies::new(outcomes.iter().filter_map(|o| o.latency).collect()),
        paced,
    }
}

/// A bar on stderr, hidden when stderr is no terminal (CI logs, pipes).
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>8} [{bar:40}] {pos}/{len} records, {per_sec}, eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[allow(clippy::print_stderr)] // Why records failed goes to the terminal, not into the table.
fn warn(message: &str) {
    eprintln!("upload: {message}");
}

fn report_verify(
    out: &mut impl Write,
    missing: &[verify::Wanted],
    elapsed: Duration,
) -> Result<()> {
    if missing.is_empty() {
        writeln!(
            out,
            "verify: every record visible in the api {:.3} s after the first post",
            elapsed.as_secs_f64()
        )?;
        return Ok(());
    }
    for name in data::ORDER {
        let ids: Vec<u64> = missing
            .iter()
            .filter(|m| m.0 == name)
            .map(|m| m.1)
            .collect();
        if !ids.is_empty() {
            let listed: Vec<String> = ids.iter().take(LISTED).map(u64::to_string).collect();
            let more = ids.len().saturating_sub(LISTED);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            writeln!(
                out,
                "verify: {} {name} missing: {}{more}",
                ids.len(),
                listed.join(", ")
            )?;
        }
    }
    bail!(
        "{} record(s) not visible in the api at the deadline",
        missing.len()
    )
}
