//! `slipstream-keys`: creates, lists and revokes the API keys every service accepts.
//!
//! Keys are kept in a key file holding a hash of each secret; the api, the producer and the
//! consumers read it and pick up a change within seconds. A new key is printed once, on
//! stdout, and is never stored.

#![allow(clippy::print_stdout)] // A command whose answer is its output.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipstream_model::contract::settings;
use slipstream_runtime::auth::file::{self, DEFAULT_RATE};
use slipstream_runtime::auth::Scope;
use slipstream_runtime::fatal;

#[derive(Debug, Parser)]
#[command(
    name = "slipstream-keys",
    version,
    about = "Creates, lists and revokes Slipstream API keys."
)]
struct Cli {
    /// The key file the services read (`AUTH_KEYS_FILE`); created on the first key.
    #[arg(long, env = settings::AUTH_KEYS_FILE)]
    file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Creates a key and prints it, the only time it is shown.
    Create {
        /// Who holds the key, e.g. `site-frontend` or `consumer-coupons`.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, write, read, recommend, admin, metrics.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<Scope>,
        /// Requests per second the key may make on each service replica.
        #[arg(long, default_value_t = DEFAULT_RATE, value_parser = clap::value_parser!(u32).range(1..))]
        rate: u32,
    },
    /// Lists every key: id, name, scopes, rate, when created and revoked. Never a secret.
    List,
    /// Revokes a key by id; every service refuses it within seconds.
    Revoke {
        /// The key id: the part after `slp_` and before the next `_`.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    fatal::command_exit("slipstream-keys", run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Create { name, scopes, rate } => {
            println!("{}", file::create(&cli.file, name, scopes, *rate)?);
        }
        Command::List => {
            println!(
                "{:<16}  {:<24}  {:<28}  {:>8}  {:<20}  status",
                "id", "name", "scopes", "rate/s", "created"
            );
            for key in file::read(&cli.file)? {
                let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
                let status = match key.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%dT%H:%M:%SZ")),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<16}  {:<24}  {:<28}  {:>8}  {:<20}  {status}",
                    key.id,
                    key.name,
                    scopes.join(","),
                    key.rate_per_sec,
                    key.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                );
            }
        }
        Command::Revoke { id } => {
            if !file::revoke(&cli.file, id)? {
                anyhow::bail!("no key {id} in {}", cli.file.display());
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}
