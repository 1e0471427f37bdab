//! Topic names, headers and client settings the producer and the consumers must agree on.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use slipstream_model::Kind;

/// Message headers of SPEC §4.
pub mod headers {
    pub const CONTENT_TYPE: &str = "content-type";
    pub const SCHEMA_VERSION: &str = "schema-version";
    pub const REQUEST_ID: &str = "request-id";
    pub const TRACEPARENT: &str = "traceparent";
}

/// The version of the record JSON a message carries.
pub const SCHEMA_VERSION: &str = "1";

/// Where the topics live and what they are called.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// Prefix of every topic name, to share one cluster between several pipelines.
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Partitions of topics created at startup. Each is a lane of the topic's consumer, with
    /// a request of its own in flight to the api, whose writer commits what is in flight
    /// together: at M six gave 6,930 records/s against 5,575 for three, and twelve no more.
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 6)]
    pub topic_partitions: i32,
    /// Replication factor of topics created at startup.
    #[arg(long, env = "TOPIC_REPLICATION", default_value_t = 1)]
    pub topic_replication: i32,
    /// Extra librdkafka settings as `key=value`, comma separated (security, tuning); they
    /// win over the service's own.
    #[arg(long = "kafka-option", env = "KAFKA_OPTIONS", value_delimiter = ',', value_parser = parse_option)]
    pub options: Vec<(String, String)>,
}

fn parse_option(option: &str) -> Result<(String, String), String> {
    match option.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("`{option}` is not key=value")),
    }
}

impl KafkaArgs {
    pub fn topic(&self, kind: Kind) -> String {
        format!("{}{}", self.topic_prefix, kind.as_str())
    }

    pub fn dead_letter_topic(&self, kind: Kind) -> String {
        format!("{}.dlq", self.topic(kind))
    }

    /// Settings every client shares.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("socket.keepalive.enable", "true")
            // librdkafka leaves Nagle's algorithm on, unlike Kafka's Java clients: a produce
            // request could wait for the ack of the one before it. Off, the producer's accept
            // p99 at 10,000 records/s went from 69–77 ms to 53–58 ms at M.
            .set("socket.nagle.disable", "true")
            .set("log_level", "4");
        config
    }

    /// Creates a client from its settings with the operator's `KAFKA_OPTIONS` on top.
    pub fn create<T: FromClientConfig>(&self, settings: &mut ClientConfig) -> KafkaResult<T> {
        self.with_options(settings).create()
    }

    /// [`Self::create`] for clients that carry a context.
    pub fn create_with_context<C, T>(
        &self,
        settings: &mut ClientConfig,
        context: C,
    ) -> KafkaResult<T>
    where
        C: ClientContext,
        T: FromClientConfigAndContext<C>,
    {
        self.with_options(settings).create_with_context(context)
    }

    fn with_options<'a>(&self, settings: &'a mut ClientConfig) -> &'a mut ClientConfig {
        for (key, value) in &self.options {
            settings.set(key, value);
        }
        settings
    }

    /// Creates the main and dead-letter topics that are missing, retrying until `deadline`
    /// passes so a service can start alongside a broker that is still coming up.
    pub async fn ensure_topics(&self, kinds: &[Kind], deadline: Duration) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .create(&mut self.client_config())
            .context("Failed to create a Kafka admin client")?;
        let names: Vec<String> = kinds
            .iter()
            .flat_map(|&k| [self.topic(k), self.dead_letter_topic(k)])
            .collect();
        let started = tokio::time::Instant::now();
        loop {
            match self.create_topics(&admin, &names).await {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() < deadline => {
                    tracing::warn!(error = %e, "Topics not created yet, retrying.");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    return Err(e)
                        .context("Failed to create the topics before the startup deadline")
                }
            }
        }
    }

    async fn create_topics(
        &self,
        admin: &AdminClient<DefaultClientContext>,
        names: &[String],
    ) -> anyhow::Result<()> {
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|n| {
                NewTopic::new(
                    n,
                    self.topic_partitions,
                    TopicReplication::Fixed(self.topic_replication),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        let results = admin
            .create_topics(&topics, &options)
            .await
            .context("Failed to reach Kafka")?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => bail!("Failed to create topic {topic}: {code}"),
            }
        }
        Ok(())
    }
}
