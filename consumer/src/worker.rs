//! What happens to one message: forwarded to the api, retried, or dead-lettered, and whether
//! its offset may move on.

use std::time::Duration;

use rand::Rng;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use slipstream_runtime::kafka::headers;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::dead_letter::{DeadLetters, Verdict};
use crate::forward::{Forwarder, Outcome};
use crate::metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// Shutdown or a revocation came first: the offset must not be stored.
    Abandoned,
}

pub struct Worker {
    topic: String,
    forwarder: Forwarder,
    dead_letters: DeadLetters,
    missing_reference_timeout: Duration,
    max_backoff: Duration,
}

impl Worker {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            topic: config.kafka.topic(config.topic),
            forwarder: Forwarder::new(&config.api_url, config.topic, config.forward_timeout())?,
            dead_letters: DeadLetters::new(
                &config.kafka,
                config.kafka.dead_letter_topic(config.topic),
            )?,
            missing_reference_timeout: config.missing_reference_timeout(),
            max_backoff: config.max_backoff(),
        })
    }

    #[tracing::instrument(skip_all, fields(partition = message.partition(), offset = message.offset(), request_id, traceparent))]
    pub async fn handle(&self, message: &OwnedMessage, stop: &CancellationToken) -> Handled {
        let context = request_context(message);
        for (header, field) in [
            ("x-request-id", "request_id"),
            ("traceparent", "traceparent"),
        ] {
            if let Some(value) = context.get(header).and_then(|v| v.to_str().ok()) {
                tracing::Span::current().record(field, value);
            }
        }
        let payload = message.payload().unwrap_or_default();
        if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
            let verdict = Verdict {
                reason: "not-json",
                status: None,
                problem: "The message value is not JSON.",
            };
            return self.dead_letter(message, &verdict, stop).await;
        }
        let started = Instant::now();
        for attempt in 0u32.. {
            let sent = Instant::now();
            let outcome = self.forwarder.forward(payload, context.clone()).await;
            metrics::forwarded(&self.topic, sent.elapsed());
            let wait = match outcome {
                Outcome::Stored => {
                    tracing::debug!("Message stored.");
                    metrics::message(&self.topic, metrics::Outcome::Stored);
                    return Handled::Done;
                }
                Outcome::Replayed => {
                    tracing::debug!("Message was already stored.");
                    metrics::message(&self.topic, metrics::Outcome::Replayed);
                    return Handled::Done;
                }
                Outcome::Rejected { status, problem } => {
                    let verdict = Verdict {
                        reason: "rejected",
                        status: Some(status),
                        problem: &problem,
                    };
                    return self.dead_letter(message, &verdict, stop).await;
                }
                Outcome::MissingReference { problem }
                    if started.elapsed() >= self.missing_reference_timeout =>
                {
                    let verdict = Verdict {
                        reason: "missing-reference",
                        status: Some(409),
                        problem: &problem,
                    };
                    return self.dead_letter(message, &verdict, stop).await;
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
            metrics::message(&self.topic, metrics::Outcome::Retried);
            if sleep_or_stop(wait, stop).await {
                return Handled::Abandoned;
            }
        }
        Handled::Abandoned
    }

    /// Keeps trying until Kafka takes the dead letter: the offset may move only after that.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        verdict: &Verdict<'_>,
        stop: &CancellationToken,
    ) -> Handled {
        for attempt in 0u32.. {
            match self.dead_letters.send(message, verdict).await {
                Ok(()) => {
                    metrics::message(&self.topic, metrics::Outcome::DeadLettered);
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
            if sleep_or_stop(self.backoff(attempt, None), stop).await {
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
}

/// Sleeps, returning `true` if `stop` came first.
async fn sleep_or_stop(wait: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(wait) => false,
    }
}

/// The request context to pass on: Kafka's `request-id` becomes the api's `x-request-id`.
fn request_context(message: &OwnedMessage) -> HeaderMap {
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
