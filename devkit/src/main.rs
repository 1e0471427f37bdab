//! `slipstream-dev`: run a real Kafka broker, or the whole pipeline, on this machine.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use slipstream_devkit::kafka::{self, KafkaOptions};
use slipstream_runtime::fatal;

#[derive(Debug, Parser)]
#[command(
    name = "slipstream-dev",
    version,
    about = "Slipstream's local development tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A real Apache Kafka broker, without Docker.
    Kafka {
        #[command(subcommand)]
        command: KafkaCommand,
    },
    /// Kafka, the api, the producer and the three consumers, until Ctrl-C.
    Up(slipstream_devkit::up::UpOptions),
    /// A real PostgreSQL server (Debian's package), without Docker, until Ctrl-C; the
    /// database `slipstream` on it, its URL written to `<dir>/database.env`.
    Postgres {
        /// Port for clients, on 127.0.0.1.
        #[arg(long, default_value_t = 5433)]
        port: u16,
        /// The cluster's directory, kept across runs (the one `up --postgres` uses).
        #[arg(long, default_value = ".local/postgres")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KafkaCommand {
    /// Download the pinned broker jars into the cache (done automatically when needed).
    Fetch,
    /// Run a broker in the foreground until Ctrl-C or SIGTERM.
    Start {
        /// Port for clients, on 127.0.0.1.
        #[arg(long, default_value_t = 9092)]
        port: u16,
        /// Keep the broker's data here across runs (default: a temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    fatal::command_exit("slipstream-dev", run(Cli::parse().command))
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Kafka {
            command: KafkaCommand::Fetch,
        } => fetch(),
        Command::Kafka {
            command: KafkaCommand::Start { port, data_dir },
        } => {
            let mut options = KafkaOptions::new().port(port).fast_start(false);
            if let Some(dir) = data_dir {
                options = options.data_dir(dir);
            }
            kafka::run_in_foreground(options)
        }
        Command::Up(options) => slipstream_devkit::up::run(&options),
        Command::Postgres { port, dir } => {
            slipstream_devkit::postgres::run_in_foreground(&dir, port)
        }
    }
}

#[allow(clippy::print_stdout)] // Where the jars are is this command's output.
fn fetch() -> Result<()> {
    let dist = kafka::fetch()?;
    println!("{}", dist.lib_dir().display());
    Ok(())
}
