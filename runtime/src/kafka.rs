//! Where the topics live and the client settings the producer and the consumers share (the
//! names and headers they agree on are in `slipstream_model::contract`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use slipstream_model::contract::{self, settings};
use slipstream_model::Kind;

/// Where the topics live and what they are called.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated.
    #[arg(
        long,
        env = settings::KAFKA_BOOTSTRAP_SERVERS,
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_servers: String,
    /// Prefix of every topic name, to share one cluster between several pipelines.
    #[arg(long, env = settings::TOPIC_PREFIX, default_value = "")]
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
        contract::topic(&self.topic_prefix, kind)
    }

    pub fn dead_letter_topic(&self, kind: Kind) -> String {
        contract::dead_letter_topic(&self.topic_prefix, kind)
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
    /// passes so a service can start alongside a broker that is still coming up. A broker
    /// that refuses this service's credentials or certificate ends the start at once, with
    /// librdkafka's reason: waiting does not fix a wrong password.
    pub async fn ensure_topics(&self, kinds: &[Kind], deadline: Duration) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .create(&mut self.client_config())
            .context("Failed to create a Kafka admin client")?;
        // The admin client leaves librdkafka's error events unread: a producer of nothing,
        // polled, hears of a refused login or handshake.
        let probe: Arc<BaseProducer<Refusals>> = Arc::new(
            self.create_with_context(&mut self.client_config(), Refusals::default())
                .context("Failed to create a Kafka client")?,
        );
        let names: Vec<String> = kinds
            .iter()
            .flat_map(|&k| [self.topic(k), self.dead_letter_topic(k)])
            .collect();
        let started = tokio::time::Instant::now();
        loop {
            if let Some(reason) = refusal(probe.clone()).await {
                bail!(
                    "Kafka at {} refused this service's connection: {reason}; check the \
                     credentials and certificates in KAFKA_OPTIONS",
                    self.bootstrap_servers
                );
            }
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
        // Bounded on this side too: without a broker to send it to, a request would wait
        // for librdkafka's socket timeout (60 s), the whole startup deadline.
        let options = AdminOptions::new()
            .operation_timeout(Some(Duration::from_secs(5)))
            .request_timeout(Some(Duration::from_secs(5)));
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

/// Whether the broker refused `probe`: it asks for metadata, which makes it connect and log
/// in (a refused login takes a few hundred milliseconds to be told), then serves the events
/// that came back.
async fn refusal(probe: Arc<BaseProducer<Refusals>>) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let _ = probe.client().fetch_metadata(None, Duration::from_secs(2));
        probe.poll(Duration::from_millis(100));
        probe.context().first()
    })
    .await
    .ok()
    .flatten()
}

/// The first refusal librdkafka reported on a client's connections: a failed SASL
/// authentication, or a TLS handshake that failed (an untrusted certificate).
#[derive(Debug, Default)]
struct Refusals(Mutex<Option<String>>);

impl Refusals {
    fn first(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The probe produces nothing: no delivery to hear of.
impl ProducerContext for Refusals {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, (): ()) {}
}

impl ClientContext for Refusals {
    fn error(&self, error: KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
            )
        );
        if refused {
            let mut first = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| reason.to_owned());
        } else {
            // A broker not up yet: the retries above say so once a round.
            tracing::debug!(error = %error, reason, "Kafka client error.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(options: &[(&str, &str)]) -> KafkaArgs {
        KafkaArgs {
            bootstrap_servers: "127.0.0.1:9".to_owned(),
            topic_prefix: String::new(),
            topic_partitions: 1,
            topic_replication: 1,
            options: options
                .iter()
                .map(|&(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// librdkafka refuses these settings when it was built without OpenSSL, as the README's
    /// `KAFKA_OPTIONS` example for a secured cluster once was.
    #[test]
    fn clients_take_tls_and_sasl_scram_and_plain_settings() {
        for (protocol, mechanism) in [
            ("SASL_SSL", "SCRAM-SHA-512"),
            ("SASL_SSL", "SCRAM-SHA-256"),
            ("SASL_SSL", "PLAIN"),
            ("SSL", ""),
        ] {
            let mut options = vec![("security.protocol", protocol)];
            if !mechanism.is_empty() {
                options.extend([
                    ("sasl.mechanism", mechanism),
                    ("sasl.username", "slipstream"),
                    ("sasl.password", "secret"),
                ]);
            }
            let args = args(&options);
            let created: KafkaResult<BaseProducer> = args.create(&mut args.client_config());
            if let Err(e) = created {
                panic!("{protocol} {mechanism}: {e}");
            }
        }
    }
}
