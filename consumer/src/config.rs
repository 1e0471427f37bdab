use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use slipstream_model::contract::settings;
use slipstream_model::Kind;
use slipstream_runtime::auth::ApiKey;
use slipstream_runtime::http::EdgeArgs;
use slipstream_runtime::kafka::KafkaArgs;
use slipstream_runtime::telemetry::LogFormat;

/// Consumer settings, from flags or the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "consumer",
    version,
    about = "Slipstream consumer: one topic from Kafka to the api."
)]
pub struct Config {
    /// Without a command, consume until stopped.
    #[command(subcommand)]
    pub command: Option<Mode>,
    /// The topic to consume: users, events or coupons.
    #[arg(long, env = settings::TOPIC, value_parser = parse_kind)]
    pub topic: Kind,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Base URL of the api; of several replicas, comma-separated, which forwards take in
    /// turn, leaving out for a while one that cannot be reached.
    #[arg(long, env = settings::API_URL, default_value = "http://127.0.0.1:8098")]
    pub api_url: String,
    /// The key this consumer sends to the api, with the `write` scope. If the api refuses it,
    /// messages wait (nothing is dead-lettered or committed) and `/ready` answers 503.
    #[arg(long, env = settings::API_KEY, hide_env_values = true)]
    pub api_key: Option<ApiKey>,
    /// A PEM file of certificate authorities to trust for an `https://` API_URL, besides the
    /// system's (an api behind a TLS terminator with a certificate from an internal CA).
    #[arg(long, env = "API_CA_FILE")]
    pub api_ca_file: Option<PathBuf>,
    /// Consumer group; replicas of one topic share it. Defaults to `slipstream-<topic>`.
    #[arg(long, env = "GROUP_ID")]
    pub group_id: Option<String>,
    /// Address of the health endpoint.
    #[arg(long, env = settings::HOST, default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port of the health endpoint (0 picks a free one).
    #[arg(long, env = settings::PORT, default_value_t = 8100)]
    pub port: u16,
    /// Most messages of a partition forwarded in one request, as a JSON array the api stores
    /// in one transaction; a backlog drains in batches, a trickle goes one by one. 1 turns
    /// batching off.
    #[arg(long, env = "FORWARD_BATCH", default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub forward_batch: u16,
    /// Timeout of one forward to the api.
    #[arg(long, env = "FORWARD_TIMEOUT_MS", default_value_t = 10_000)]
    pub forward_timeout_ms: u64,
    /// How long a coupon waits for its user and events before it is dead-lettered.
    #[arg(long, env = "MISSING_REFERENCE_TIMEOUT_SECS", default_value_t = 60)]
    pub missing_reference_timeout_secs: u64,
    /// Longest pause between two retries.
    #[arg(long, env = "MAX_BACKOFF_MS", default_value_t = 10_000)]
    pub max_backoff_ms: u64,
    /// Log format; JSON unless stdout is a terminal.
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Who may read this consumer's `/metrics`, and its connection bounds.
    #[command(flatten)]
    pub edge: EdgeArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Mode {
    /// Move the topic's dead letters back to the topic, once the cause is fixed (a missing user
    /// created, a bug deployed), and report how many moved. Safe to interrupt and run again:
    /// it remembers where it stopped, and moves only what was in the dead-letter topic when
    /// it began. A message already redriven 3 times (its `redrive-count` header) is left
    /// where it is, with what follows it in its partition, and the command fails naming it.
    Redrive {
        /// Move messages already redriven 3 times too.
        #[arg(long)]
        force: bool,
    },
}

impl Config {
    pub fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("{}slipstream-{}", self.kafka.topic_prefix, self.topic))
    }

    pub fn forward_timeout(&self) -> Duration {
        Duration::from_millis(self.forward_timeout_ms)
    }

    pub fn missing_reference_timeout(&self) -> Duration {
        Duration::from_secs(self.missing_reference_timeout_secs)
    }

    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms)
    }
}

fn parse_kind(name: &str) -> Result<Kind, String> {
    Kind::parse(name).ok_or_else(|| format!("`{name}` is not one of users, events, coupons"))
}
