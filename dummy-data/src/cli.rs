//! The command line: flags, presets, and the summary printed after a run.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::freshness::{self, FreshnessArgs};
use crate::generate::{generate, Config, Counts};
use crate::upload::{self, UploadArgs};

#[derive(Debug, Parser)]
#[command(name = "dummy-data", version, about = "Slipstream's data generator")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write users.jsonl, events.jsonl and coupons.jsonl: one record per line, each exactly
    /// the JSON body the producer and the api accept, with ids from 1 to each count.
    Generate(GenerateArgs),
    /// Measure how long an event upload takes to reach the recommendations of a fan of its
    /// sport: each round makes a fan of a new sport, uploads an event of it, and polls the
    /// fan's recommendations until the event leads them. Prints p50, p99 and max.
    Freshness(FreshnessArgs),
    /// Post a generated directory to the producer (users, then events, then coupons) and
    /// print a table of records/s per entity; --rate offers the records at a fixed rate and
    /// adds the rates and latencies it came to; --verify then waits for the api to hold them all.
    Upload(UploadArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Preset counts: small is 100 users, 100 events and 100 coupons; m is data set M,
    /// 100,000 users, 10,000 events and 1,000,000 coupons.
    #[arg(long, value_enum, default_value_t = Size::Small)]
    pub size: Size,
    /// Number of users, overriding the preset.
    #[arg(long)]
    pub users: Option<u32>,
    /// Number of events, overriding the preset.
    #[arg(long)]
    pub events: Option<u32>,
    /// Number of coupons, overriding the preset.
    #[arg(long)]
    pub coupons: Option<u32>,
    /// Seed of the random generator: the same seed and --now give byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Directory to write the files into; created when missing, files in it are replaced.
    #[arg(long)]
    pub out: PathBuf,
    /// The moment the data is generated for (RFC 3339): users registered and coupons were
    /// placed before it, events begin from 60 days before to 30 days after it. Defaults to
    /// today at 00:00:00 UTC, so runs on the same day give the same files.
    #[arg(long, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Size {
    Small,
    M,
}

impl GenerateArgs {
    /// The preset's counts with the explicit ones applied, and `now` filled in.
    pub fn config(&self) -> Config {
        let preset = match self.size {
            Size::Small => Counts::SMALL,
            Size::M => Counts::M,
        };
        Config {
            counts: Counts {
                users: self.users.unwrap_or(preset.users),
                events: self.events.unwrap_or(preset.events),
                coupons: self.coupons.unwrap_or(preset.coupons),
            },
            seed: self.seed,
            now: self.now.unwrap_or_else(today),
        }
    }
}

/// Runs the command and reports one line per file written, then the total, to `out`.
pub fn run(cli: Cli, out: &mut impl Write) -> Result<()> {
    match cli.command {
        Command::Generate(args) => run_generate(&args, out),
        Command::Freshness(args) => freshness::run(&args, out),
        Command::Upload(args) => upload::run(&args, out),
    }
}

fn run_generate(args: &GenerateArgs, out: &mut impl Write) -> Result<()> {
    let started = Instant::now();
    let summaries = generate(&args.config(), &args.out)?;
    for summary in &summaries {
        writeln!(out, "{summary}").context("Failed to write the summary")?;
    }
    let records: u64 = summaries.iter().map(|s| s.records).sum();
    let bytes: u64 = summaries.iter().map(|s| s.bytes).sum();
    writeln!(
        out,
        "total: {records} records, {bytes} bytes in {:.3} s",
        started.elapsed().as_secs_f64()
    )
    .context("Failed to write the summary")
}

fn today() -> DateTime<Utc> {
    Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc()
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}: expected RFC 3339, such as 2026-11-01T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from([&["dummy-data", "generate", "--out", "x"], args].concat())
            .expect("valid arguments");
        let Command::Generate(args) = cli.command else {
            panic!("not a generate command");
        };
        args.config()
    }

    #[test]
    fn presets_are_small_by_default_and_m_is_data_set_m() {
        assert_eq!(config(&[]).counts, Counts::SMALL);
        assert_eq!(
            config(&["--size", "m"]).counts,
            Counts {
                users: 100_000,
                events: 10_000,
                coupons: 1_000_000
            }
        );
    }

    #[test]
    fn explicit_counts_override_the_preset() {
        let counts = config(&["--size", "m", "--users", "5", "--coupons", "7"]).counts;
        assert_eq!(
            (counts.users, counts.events, counts.coupons),
            (5, 10_000, 7)
        );
    }

    #[test]
    fn now_defaults_to_midnight_utc_today_and_accepts_any_offset() {
        let (before, now, after) = (today(), config(&[]).now, today());
        assert!(now == before || now == after, "{now}");
        assert_eq!(now.time(), NaiveTime::MIN);
        let given = config(&["--now", "2026-11-01T02:00:00+02:00"]).now;
        assert_eq!(given.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert!(Cli::try_parse_from([
            "dummy-data",
            "generate",
            "--out",
            "x",
            "--now",
            "2026-11-01"
        ])
        .is_err());
    }

    fn upload(args: &[&str]) -> Result<UploadArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["dummy-data", "upload", "--dir", "x"], args].concat())?;
        let Command::Upload(args) = cli.command else {
            panic!("not an upload command");
        };
        Ok(args)
    }

    #[test]
    fn upload_rate_is_optional_and_in_records_per_second() {
        assert_eq!(upload(&[]).expect("valid arguments").rate, None);
        let rate = upload(&["--rate", "10000"]).expect("valid arguments").rate;
        assert_eq!(rate.map(std::num::NonZeroU32::get), Some(10_000));
    }

    #[test]
    fn upload_refuses_a_rate_of_zero_or_below_saying_why() {
        for args in [&["--rate", "0"][..], &["--rate", "-5"], &["--rate=-1"]] {
            let error = upload(args).expect_err("refused").to_string();
            assert!(error.contains("at least 1 record/s"), "{args:?}: {error}");
        }
        let error = upload(&["--rate", "2.5"]).expect_err("refused").to_string();
        assert!(error.contains("not a whole number"), "{error}");
    }
}
