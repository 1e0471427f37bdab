//! The consume loop: one message at a time per process, so partition order holds, and an
//! offset is stored only after its message was stored by the api or dead-lettered.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rand::Rng;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use slipstream_runtime::kafka::headers;
use slipstream_runtime::shutdown;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dead_letter::{DeadLetters, Verdict};
use crate::forward::{Forwarder, Outcome};
use crate::group::GroupContext;
use crate::health;

/// Consumes until Ctrl-C or SIGTERM, then commits what is done and leaves the group.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown::signal().await;
            stop.cancel();
        }
    });
    let group = GroupContext::default();
    let address = health::serve(
        SocketAddr::new(config.host, config.port),
        group.clone(),
        stop.clone(),
    )
    .await?;
    config
        .kafka
        .ensure_topics(&[config.topic], Duration::from_secs(30))
        .await?;
    let consumer = subscribe(&config, group)?;
    let worker = Worker::new(&config, stop.clone())?;
    tracing::info!(topic = %config.kafka.topic(config.topic), group = %config.group_id(), %address, "Consumer started.");
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => break,
            message = consumer.recv() => message,
        };
        match message {
            Ok(message) => {
                if worker.handle(&message).await == Handled::Abandoned {
                    break;
                }
                if let Err(e) = consumer.store_offset_from_message(&message) {
                    // The partition moved to another member while the message was in flight:
                    // that member reads it again from the last commit, and the api
                    // recognises the replay.
                    tracing::warn!(error = %e, "Offset not stored: the partition was reassigned.");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "Kafka consume error.");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    commit(&consumer);
    tracing::info!("Consumer stopped.");
    Ok(())
}

fn subscribe(config: &Config, group: GroupContext) -> anyhow::Result<StreamConsumer<GroupContext>> {
    let consumer: StreamConsumer<GroupContext> = config
        .kafka
        .client_config()
        .set("group.id", config.group_id())
        // Offsets are stored by hand after each message is done, and committed in the
        // background and on shutdown: at-least-once, never ahead of the work.
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .create_with_context(group)
        .context("Failed to create the Kafka consumer")?;
    let topic = config.kafka.topic(config.topic);
    consumer
        .subscribe(&[&topic])
        .with_context(|| format!("Failed to subscribe to {topic}"))?;
    Ok(consumer)
}

/// Commits the stored offsets before the consumer is dropped, which leaves the group.
fn commit(consumer: &StreamConsumer<GroupContext>) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "Failed to commit offsets on shutdown."),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Handled {
    Done,
    /// Shutdown came first: the offset must not be stored.
    Abandoned,
}

struct Worker {
    forwarder: Forwarder,
    dead_letters: DeadLetters,
    stop: CancellationToken,
    missing_reference_timeout: Duration,
    max_backoff: Duration,
}

impl Worker {
    fn new(config: &Config, stop: CancellationToken) -> anyhow::Result<Self> {
        Ok(Self {
            forwarder: Forwarder::new(&config.api_url, config.topic, config.forward_timeout())?,
            dead_letters: DeadLetters::new(
                &config.kafka,
                config.kafka.dead_letter_topic(config.topic),
            )?,
            stop,
            missing_reference_timeout: config.missing_reference_timeout(),
            max_backoff: config.max_backoff(),
        })
    }

    #[tracing::instrument(skip_all, fields(partition = message.partition(), offset = message.offset(), request_id = tracing::field::Empty))]
    async fn handle(&self, message: &BorrowedMessage<'_>) -> Handled {
        let context = request_context(message);
        if let Some(id) = context.get("x-request-id").and_then(|v| v.to_str().ok()) {
            tracing::Span::current().record("request_id", id);
        }
        let payload = message.payload().unwrap_or_default();
        if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
            let verdict = Verdict {
                reason: "not-json",
                status: None,
                problem: "The message value is not JSON.",
            };
            return self.dead_letter(message, &verdict).await;
        }
        let started = Instant::now();
        for attempt in 0u32.. {
            let wait = match self.forwarder.forward(payload, context.clone()).await {
                Outcome::Stored => {
                    tracing::debug!("Message stored.");
                    return Handled::Done;
                }
                Outcome::Rejected { status, problem } => {
                    let verdict = Verdict {
                        reason: "rejected",
                        status: Some(status),
                        problem: &problem,
                    };
                    return self.dead_letter(message, &verdict).await;
                }
                Outcome::MissingReference { problem }
                    if started.elapsed() >= self.missing_reference_timeout =>
                {
                    let verdict = Verdict {
                        reason: "missing-reference",
                        status: Some(409),
                        problem: &problem,
                    };
                    return self.dead_letter(message, &verdict).await;
                }
                Outcome::MissingReference { .. } => {
                    tracing::debug!(attempt, "References not there yet, retrying.");
                    self.backoff(attempt, None)
                }
                Outcome::Retry { reason, after } => {
                    tracing::warn!(attempt, %reason, "Forward failed, retrying.");
                    self.backoff(attempt, after)
                }
            };
            if self.sleep_or_stop(wait).await {
                return Handled::Abandoned;
            }
        }
        Handled::Abandoned
    }

    /// Keeps trying until Kafka takes the dead letter: the offset may move only after that.
    async fn dead_letter(&self, message: &BorrowedMessage<'_>, verdict: &Verdict<'_>) -> Handled {
        for attempt in 0u32.. {
            match self.dead_letters.send(message, verdict).await {
                Ok(()) => {
                    tracing::warn!(
                        reason = verdict.reason,
                        status = verdict.status,
                        "Message dead-lettered."
                    );
                    return Handled::Done;
                }
                Err(e) => {
                    tracing::error!(error = ?e, attempt, "Dead letter not written, retrying.")
                }
            }
            if self.sleep_or_stop(self.backoff(attempt, None)).await {
                break;
            }
        }
        Handled::Abandoned
    }

    /// Capped exponential backoff with full jitter, never sooner than the server asked.
    fn backoff(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_backoff);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        at_least.map_or(jittered, |floor| {
            jittered.max(floor.min(Duration::from_secs(60)))
        })
    }

    /// Sleeps, returning `true` if shutdown came first.
    async fn sleep_or_stop(&self, wait: Duration) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => true,
            () = tokio::time::sleep(wait) => false,
        }
    }
}

/// The request context to pass on: Kafka's `request-id` becomes the api's `x-request-id`.
fn request_context(message: &BorrowedMessage<'_>) -> HeaderMap {
    let mut context = HeaderMap::new();
    let Some(message_headers) = message.headers() else {
        return context;
    };
    for header in message_headers.iter() {
        let name = match header.key {
            headers::REQUEST_ID => "x-request-id",
            headers::TRACEPARENT => "traceparent",
            _ => continue,
        };
        if let Some(value) = header.value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            context.insert(HeaderName::from_static(name), value);
        }
    }
    context
}
