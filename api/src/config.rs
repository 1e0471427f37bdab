//! Everything the api can be told, from flags or the environment.

use std::net::IpAddr;
use std::time::Duration;

use slipstream_model::contract::{settings, Service};
use slipstream_runtime::http::{EdgeArgs, DEFAULT_BODY_LIMIT};
use slipstream_runtime::telemetry::LogFormat;
use sqlx::sqlite::SqliteSynchronous;

/// The api's settings; every flag can also be set by the environment variable named after it.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "api",
    version,
    about = "Slipstream's validating REST api and its storage."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = settings::HOST, default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on; 0 picks a free one.
    #[arg(long, env = settings::PORT, default_value_t = Service::API.port)]
    pub port: u16,

    /// The database: an SQLite file, e.g. `sqlite://slipstream.db`, created if missing (a
    /// file, as the api opens it with separate read and write connections); or PostgreSQL,
    /// `postgres://user:password@host:5432/database`, which several api replicas may share.
    #[arg(long, env = settings::DATABASE_URL, default_value = "sqlite://slipstream.db")]
    pub database_url: String,

    /// On PostgreSQL, the name this replica's connections carry (`pg_stat_activity`), to
    /// tell replicas apart.
    #[arg(long, env = settings::DATABASE_APPLICATION_NAME, default_value = "slipstream-api")]
    pub database_application_name: String,

    /// When a commit reaches the disk. `full` makes an acknowledged write survive a crash;
    /// `normal` is faster but may lose the last writes when the machine (not the process) dies.
    #[arg(long, env, value_enum, ignore_case = true, default_value_t = Synchronous::Full)]
    pub sqlite_synchronous: Synchronous,

    /// Connections that serve reads; writes always go through one connection of their own.
    #[arg(long, env, default_value_t = 4)]
    pub database_read_connections: u32,

    /// How long a request waits for the database (a free connection, a lock held by another
    /// process) before it is answered 503 with `Retry-After`.
    #[arg(long, env, default_value_t = 5_000)]
    pub database_busy_timeout_ms: u64,

    /// Largest request body accepted, in bytes.
    #[arg(long, env, default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit_bytes: usize,

    /// Longest a request may take before it is answered 408.
    #[arg(long, env, default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Every this many seconds, ended events leave the recommendations and events uploaded
    /// with `gen_recommendations=false` join them; 0 turns the pass off.
    #[arg(long, env, default_value_t = 60)]
    pub recommendation_refresh_secs: u64,

    /// New coupons counted in memory before the writer writes the counts they change (each
    /// user's tally, each event's popularity) to the database. More means fewer pages written
    /// per coupon; fewer means less to recount at startup after a crash (a clean stop writes
    /// them all).
    #[arg(long, env, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub count_flush_coupons: u32,

    /// On PostgreSQL, how often this replica reads what the others committed, in
    /// milliseconds: SPEC §10 wants a write in every replica's recommendations within a
    /// second, and each read is a query on the shared server.
    #[arg(long, env, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub feed_poll_ms: u64,

    /// On PostgreSQL, how long the replicas' change feed keeps a row, in seconds. A replica
    /// that falls further behind (its connections to the database down for longer) rebuilds
    /// its recommendations from the database instead.
    #[arg(long, env, default_value_t = 600)]
    pub feed_retention_secs: u64,

    /// Log lines as `json` or `pretty`; JSON unless stdout is a terminal.
    #[arg(long, env, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(flatten)]
    pub edge: EdgeArgs,
}

impl Config {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn feed(&self) -> FeedSettings {
        FeedSettings {
            poll: Duration::from_millis(self.feed_poll_ms),
            retention: Duration::from_secs(self.feed_retention_secs),
        }
    }

    /// `None` when the periodic pass is off.
    pub fn recommendation_refresh(&self) -> Option<Duration> {
        (self.recommendation_refresh_secs > 0)
            .then(|| Duration::from_secs(self.recommendation_refresh_secs))
    }

    pub fn database_busy_timeout(&self) -> Duration {
        Duration::from_millis(self.database_busy_timeout_ms)
    }
}

/// How a replica follows the change feed of a shared database.
#[derive(Debug, Clone, Copy)]
pub struct FeedSettings {
    /// How often it reads the rows the others appended.
    pub poll: Duration,
    /// Rows older than this are pruned.
    pub retention: Duration,
}

/// SQLite's `synchronous` pragma, as far as it matters in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Synchronous {
    Off,
    Normal,
    Full,
    Extra,
}

impl From<Synchronous> for SqliteSynchronous {
    fn from(value: Synchronous) -> Self {
        match value {
            Synchronous::Off => Self::Off,
            Synchronous::Normal => Self::Normal,
            Synchronous::Full => Self::Full,
            Synchronous::Extra => Self::Extra,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_are_durable_and_match_the_original_port() {
        let config = Config::try_parse_from(["api"]).expect("defaults parse");
        assert_eq!(config.port, 8098);
        assert_eq!(config.sqlite_synchronous, Synchronous::Full);
        assert_eq!(config.body_limit_bytes, 1024 * 1024);
        assert_eq!(config.request_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn synchronous_is_read_in_any_case() {
        let config =
            Config::try_parse_from(["api", "--sqlite-synchronous", "NORMAL"]).expect("parses");
        assert_eq!(config.sqlite_synchronous, Synchronous::Normal);
    }
}
