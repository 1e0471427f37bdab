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
use tracing::Instrument;

use crate::config::Config;
use crate::dead_letter::{redrive_count, DeadLetters, Verdict};
use crate::forward::{BatchOutcome, Forwarder, Outcome};
use crate::health::{Link, LinkStatus};
use crate::metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Done,
    /// Shutdown or a revocation came first: the offset must not be stored.
    Abandoned,
    /// A coupon names records the api does not have yet: its lane sets it aside (see
    /// [`crate::parked`]) and tries it again with [`Worker::retry`], while other keys go on.
    Waiting,
}

/// What one forward of a lone message came to.
enum Step {
    Finished(Handled),
    /// Its references are missing; the next try after the wait.
    Missing(Duration),
    /// The api could not answer about it (down, misconfigured); the next try after the wait.
    Again(Duration),
}

pub struct Worker {
    topic: String,
    batch: usize,
    forwarder: Forwarder,
    dead_letters: DeadLetters,
    missing_reference_timeout: Duration,
    max_backoff: Duration,
}

impl Worker {
    /// `link` learns from each forward whether `API_URL` and `API_KEY` are right.
    pub fn new(config: &Config, link: LinkStatus) -> anyhow::Result<Self> {
        Ok(Self {
            topic: config.kafka.topic(config.topic),
            batch: usize::from(config.forward_batch),
            forwarder: Forwarder::new(
                &config.api_url,
                config.topic,
                config.forward_timeout(),
                config.api_key.as_ref(),
                config.api_ca_file.as_deref(),
                link,
            )?,
            dead_letters: DeadLetters::new(
                &config.kafka,
                config.kafka.dead_letter_topic(config.topic),
            )?,
            missing_reference_timeout: config.missing_reference_timeout(),
            max_backoff: config.max_backoff(),
        })
    }

    /// Most messages a lane forwards in one request.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Counts the messages a lane took that a redrive had moved back.
    pub fn received(&self, messages: &[OwnedMessage]) {
        for message in messages {
            metrics::redriven(&self.topic, redrive_count(message.headers()));
        }
    }

    /// Forwards the messages as one JSON array, retrying while the api is unavailable;
    /// `None` when the api refused the batch (or a message is not JSON), so each message must
    /// go alone to get its own verdict.
    ///
    /// A batch has a request id of its own; each message's log line names it, which is how a
    /// record's request id leads to the api's log.
    #[tracing::instrument(skip_all, fields(messages = messages.len(), first_offset = messages[0].offset(), request_id = tracing::field::Empty))]
    pub async fn forward_batch(
        &self,
        messages: &[OwnedMessage],
        stop: &CancellationToken,
    ) -> Option<Vec<Handled>> {
        let body = batch_body(messages)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        tracing::Span::current().record("request_id", &request_id);
        let mut context = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            context.insert(HeaderName::from_static("x-request-id"), value);
        }
        for attempt in 0u32.. {
            let sent = Instant::now();
            let outcome = self
                .forwarder
                .forward_batch(body.clone(), messages.len(), context.clone())
                .await;
            metrics::forwarded(&self.topic, sent.elapsed());
            let wait = match outcome {
                BatchOutcome::Misconfigured { link, status } => {
                    self.misconfigured(link, status);
                    self.backoff(attempt, None)
                }
                BatchOutcome::Stored(created) => {
                    for (message, created) in messages.iter().zip(created) {
                        self.stored(message, created, &request_id);
                    }
                    return Some(vec![Handled::Done; messages.len()]);
                }
                BatchOutcome::Refused { status } => {
                    tracing::debug!(status, "Batch refused, forwarding its messages one by one.");
                    return None;
                }
                BatchOutcome::Retry { reason, after } => {
                    tracing::warn!(attempt, %reason, "Batch forward failed, retrying.");
                    self.backoff(attempt, after)
                }
            };
            metrics::messages(&self.topic, metrics::Outcome::Retried, messages.len());
            if sleep_or_stop(wait, stop).await {
                return Some(vec![Handled::Abandoned]);
            }
        }
        Some(vec![Handled::Abandoned])
    }

    /// Counts and logs a message of a stored batch, in a span like [`Worker::handle`]'s.
    fn stored(&self, message: &OwnedMessage, created: bool, batch: &str) {
        let outcome = if created {
            metrics::Outcome::Stored
        } else {
            metrics::Outcome::Replayed
        };
        metrics::message(&self.topic, outcome);
        if tracing::enabled!(tracing::Level::DEBUG) {
            let span = message_span(message, &request_context(message));
            span.in_scope(|| tracing::debug!(batch, created, "Message stored in a batch."));
        }
    }

    /// Forwards a message on its own, retrying while the api cannot answer about it; a
    /// message whose references are missing is [`Handled::Waiting`] at the first answer.
    pub async fn handle(&self, message: &OwnedMessage, stop: &CancellationToken) -> Handled {
        let context = request_context(message);
        let span = message_span(message, &context);
        self.forward_alone(message, context, stop)
            .instrument(span)
            .await
    }

    /// One more try of a message waiting since `since` for its references (the
    /// missing-reference timeout counts from then): finished, or how long until the next.
    pub async fn retry(
        &self,
        message: &OwnedMessage,
        since: Instant,
        attempt: u32,
        stop: &CancellationToken,
    ) -> Result<Handled, Duration> {
        let context = request_context(message);
        let span = message_span(message, &context);
        let step = self.attempt(message, &context, attempt, since, stop);
        match step.instrument(span).await {
            Step::Finished(handled) => Ok(handled),
            Step::Missing(wait) | Step::Again(wait) => {
                metrics::message(&self.topic, metrics::Outcome::Retried);
                Err(wait)
            }
        }
    }

    async fn forward_alone(
        &self,
        message: &OwnedMessage,
        context: HeaderMap,
        stop: &CancellationToken,
    ) -> Handled {
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
            let wait = match self
                .attempt(message, &context, attempt, started, stop)
                .await
            {
                Step::Finished(handled) => return handled,
                Step::Missing(_) => return Handled::Waiting,
                Step::Again(wait) => wait,
            };
            metrics::message(&self.topic, metrics::Outcome::Retried);
            if sleep_or_stop(wait, stop).await {
                return Handled::Abandoned;
            }
        }
        Handled::Abandoned
    }

    /// Forwards the message once and acts on the answer: counted, dead-lettered, or a wait.
    async fn attempt(
        &self,
        message: &OwnedMessage,
        context: &HeaderMap,
        attempt: u32,
        waiting_since: Instant,
        stop: &CancellationToken,
    ) -> Step {
        let payload = message.payload().unwrap_or_default();
        let sent = Instant::now();
        let outcome = self.forwarder.forward(payload, context.clone()).await;
        metrics::forwarded(&self.topic, sent.elapsed());
        match outcome {
            Outcome::Misconfigured { link, status } => {
                self.misconfigured(link, status);
                Step::Again(self.backoff(attempt, None))
            }
            Outcome::Stored => {
                tracing::debug!("Message stored.");
                metrics::message(&self.topic, metrics::Outcome::Stored);
                Step::Finished(Handled::Done)
            }
            Outcome::Replayed => {
                tracing::debug!("Message was already stored.");
                metrics::message(&self.topic, metrics::Outcome::Replayed);
                Step::Finished(Handled::Done)
            }
            Outcome::Rejected { status, problem } => {
                let verdict = Verdict {
                    reason: "rejected",
                    status: Some(status),
                    problem: &problem,
                };
                Step::Finished(self.dead_letter(message, &verdict, stop).await)
            }
            Outcome::MissingReference { problem }
                if waiting_since.elapsed() >= self.missing_reference_timeout =>
            {
                let verdict = Verdict {
                    reason: "missing-reference",
                    status: Some(409),
                    problem: &problem,
                };
                Step::Finished(self.dead_letter(message, &verdict, stop).await)
            }
            Outcome::MissingReference { .. } => {
                tracing::debug!(
                    attempt,
                    "References not there yet; the message waits aside."
                );
                Step::Missing(self.backoff(attempt, None))
            }
            Outcome::Retry { reason, after } => {
                tracing::warn!(attempt, %reason, "Forward failed, retrying.");
                Step::Again(self.backoff(attempt, after))
            }
        }
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
                    metrics::dead_letter_failed(&self.topic);
                    tracing::error!(error = ?e, attempt, "Dead letter not written, retrying.")
                }
            }
            if sleep_or_stop(self.backoff(attempt, None), stop).await {
                break;
            }
        }
        Handled::Abandoned
    }

    /// Loud, counted, and never a reason to give up on a message: the way to the api is
    /// wrong, not the record.
    fn misconfigured(&self, link: Link, status: u16) {
        metrics::misconfiguration(&self.topic, link);
        match link {
            Link::KeyRefused => tracing::error!(
                status,
                "The api refused this consumer's key (API_KEY needs the `write` scope); retrying."
            ),
            _ => tracing::error!(
                status,
                "API_URL answered with something else than the api's verdict on a record (a redirect, or a refusal without one of its problem types); check API_URL. Retrying."
            ),
        }
    }

    /// Capped exponential backoff with full jitter, never sooner than the server asked.
    pub fn backoff(&self, attempt: u32, at_least: Option<Duration>) -> Duration {
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_backoff);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        at_least.map_or(jittered, |floor| {
            jittered.max(floor.min(Duration::from_secs(60)))
        })
    }
}

/// A message's span: where it is in Kafka, and the request context it carries on.
fn message_span(message: &OwnedMessage, context: &HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "message",
        partition = message.partition(),
        offset = message.offset(),
        request_id = tracing::field::Empty,
        traceparent = tracing::field::Empty,
    );
    for (header, field) in [
        ("x-request-id", "request_id"),
        ("traceparent", "traceparent"),
    ] {
        if let Some(value) = context.get(header).and_then(|v| v.to_str().ok()) {
            span.record(field, value);
        }
    }
    span
}

/// The messages' values as one JSON array, exactly as they came; `None` when one is not JSON
/// (it goes alone, to the dead-letter topic).
fn batch_body(messages: &[OwnedMessage]) -> Option<Vec<u8>> {
    let size: usize = messages
        .iter()
        .map(|m| m.payload().map_or(0, <[u8]>::len) + 1)
        .sum();
    let mut body = Vec::with_capacity(size + 1);
    body.push(b'[');
    for (i, message) in messages.iter().enumerate() {
        let payload = message.payload().unwrap_or_default();
        serde_json::from_slice::<serde::de::IgnoredAny>(payload).ok()?;
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(payload);
    }
    body.push(b']');
    Some(body)
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

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn message(payload: &[u8]) -> OwnedMessage {
        let payload = Some(payload.to_vec());
        OwnedMessage::new(
            payload,
            None,
            "users".into(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        )
    }

    #[test]
    fn a_batch_body_is_the_values_as_they_came_in_one_array() {
        let body = batch_body(&[message(br#"{"id":1}"#), message(br#"{ "id": 2 }"#)]);
        assert_eq!(body.as_deref(), Some(&br#"[{"id":1},{ "id": 2 }]"#[..]));
        assert_eq!(batch_body(&[message(b"{}"), message(b"{not json")]), None);
        assert_eq!(batch_body(&[message(b"{}"), message(b"")]), None);
    }
}
