use std::net::IpAddr;
use std::time::Duration;

use slipstream_model::contract::{settings, Service};
use slipstream_runtime::http::{EdgeArgs, DEFAULT_BODY_LIMIT};
use slipstream_runtime::kafka::KafkaArgs;
use slipstream_runtime::telemetry::LogFormat;

/// Producer settings, from flags or the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "producer",
    version,
    about = "Slipstream producer: HTTP in, Kafka out."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = settings::HOST, default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = settings::PORT, default_value_t = Service::PRODUCER.port)]
    pub port: u16,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// How long Kafka may take to acknowledge a record before the client gets a 503.
    /// Keep it shorter than your clients' HTTP timeout.
    #[arg(long, env = "PRODUCE_TIMEOUT_MS", default_value_t = 5_000)]
    pub produce_timeout_ms: u64,
    /// Records waiting for Kafka's acknowledgement at once; past that, 503 at once.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 50_000)]
    pub max_in_flight: usize,
    /// This replica's id (0–1023) in the ids it assigns; give each replica its own.
    /// Random when unset.
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<u16>,
    /// Largest accepted request body.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit_bytes: usize,
    /// How long startup waits for Kafka to create the topics.
    #[arg(long, env = "STARTUP_TIMEOUT_SECS", default_value_t = 30)]
    pub startup_timeout_secs: u64,
    /// Log format; JSON unless stdout is a terminal.
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    pub edge: EdgeArgs,
}

impl Config {
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }

    /// Requests wait for Kafka at most the produce timeout, so this only guards the rest.
    pub fn request_timeout(&self) -> Duration {
        self.produce_timeout() + Duration::from_secs(5)
    }
}
