//! The verdict stage: what the api's answer (or its absence) means for a message. Stored, it
//! is done and its offset may move on; refused for good, it is dead-lettered and then done;
//! naming records the api does not have yet, it waits aside in its lane; while the api cannot
//! answer about it, it is tried again; at a shutdown, abandoned, its offset left where it is.

use std::time::Duration;

use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::Message;
use reqwest::header::{HeaderMap, HeaderValue};
use slipstream_model::contract::{kafka_headers as headers, DeadLetterReason, ProblemType};
use slipstream_runtime::http::{REQUEST_ID, TRACEPARENT};
use slipstream_runtime::retry::{retry, Attempt, Backoff};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::Config;
use crate::dead_letter::{redrive_count, DeadLetter, DeadLetters};
use crate::forward::{Answer, Forwarder};
use crate::health::{Link, LinkStatus};
use crate::metrics;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Stored, or dead-lettered: the offset may move past it.
    Done,
    /// Shutdown or a revocation came first: the offset must not be stored.
    Abandoned,
    /// A coupon names records the api does not have yet: its lane sets it aside (see
    /// [`crate::parked`]) and tries it again with [`Courier::retry`], while other keys go on.
    Waiting,
}

/// Carries messages to the api and comes back with their verdicts.
pub struct Courier {
    topic: String,
    batch: usize,
    forwarder: Forwarder,
    dead_letters: DeadLetters,
    missing_reference_timeout: Duration,
    backoff: Backoff,
}

impl Courier {
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
            backoff: Backoff::up_to(config.max_backoff()),
        })
    }

    /// Most messages a lane forwards in one request.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// How long a message that starts waiting for its references waits first.
    pub fn first_wait(&self) -> Duration {
        self.backoff.delay(0, None)
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
    pub async fn deliver_batch(
        &self,
        messages: &[OwnedMessage],
        stop: &CancellationToken,
    ) -> Option<Vec<Verdict>> {
        let body = batch_body(messages)?;
        let request_id = uuid::Uuid::new_v4().to_string();
        tracing::Span::current().record("request_id", &request_id);
        let mut context = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            context.insert(REQUEST_ID, value);
        }
        let (body, context) = (&body, &context);
        let answered = retry(&self.backoff, stop, |attempt| async move {
            let sent = Instant::now();
            let answer = self
                .forwarder
                .forward_batch(body.clone(), messages.len(), context.clone())
                .await;
            metrics::forwarded(&self.topic, sent.elapsed());
            let after = match answer {
                Answer::Stored(created) => return Attempt::Done(Some(created)),
                Answer::Refused { status, .. } => {
                    tracing::debug!(status, "Batch refused, forwarding its messages one by one.");
                    return Attempt::Done(None);
                }
                Answer::Misconfigured { link, status } => {
                    self.misconfigured(link, status);
                    None
                }
                Answer::Retry { reason, after } => {
                    tracing::warn!(attempt, %reason, "Batch forward failed, retrying.");
                    after
                }
            };
            metrics::messages(&self.topic, metrics::Outcome::Retried, messages.len());
            Attempt::Again(after)
        });
        match answered.await {
            None => Some(vec![Verdict::Abandoned]),
            Some(None) => None,
            Some(Some(created)) => {
                for (message, created) in messages.iter().zip(created) {
                    self.stored(message, created, &request_id);
                }
                Some(vec![Verdict::Done; messages.len()])
            }
        }
    }

    /// Counts and logs a message of a stored batch, in a span like [`Courier::deliver`]'s.
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
    /// message whose references are missing is [`Verdict::Waiting`] at the first answer.
    pub async fn deliver(&self, message: &OwnedMessage, stop: &CancellationToken) -> Verdict {
        let context = request_context(message);
        let span = message_span(message, &context);
        self.deliver_alone(message, context, stop)
            .instrument(span)
            .await
    }

    /// One more try of a message waiting since `since` for its references (the
    /// missing-reference timeout counts from then): its verdict, or how long until the next.
    pub async fn retry(
        &self,
        message: &OwnedMessage,
        since: Instant,
        attempt: u32,
        stop: &CancellationToken,
    ) -> Result<Verdict, Duration> {
        let context = request_context(message);
        let span = message_span(message, &context);
        let tried = self.attempt(message, &context, attempt, since, stop);
        let at_least = match tried.instrument(span).await {
            Attempt::Done(Verdict::Waiting) => None,
            Attempt::Done(verdict) => return Ok(verdict),
            Attempt::Again(at_least) => at_least,
        };
        metrics::message(&self.topic, metrics::Outcome::Retried);
        Err(self.backoff.delay(attempt, at_least))
    }

    async fn deliver_alone(
        &self,
        message: &OwnedMessage,
        context: HeaderMap,
        stop: &CancellationToken,
    ) -> Verdict {
        let payload = message.payload().unwrap_or_default();
        if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
            let letter = DeadLetter {
                reason: DeadLetterReason::NotJson,
                status: None,
                problem: "The message value is not JSON.",
            };
            return self.dead_letter(message, &letter, stop).await;
        }
        let started = Instant::now();
        let context = &context;
        let verdict = retry(&self.backoff, stop, |attempt| async move {
            match self.attempt(message, context, attempt, started, stop).await {
                Attempt::Again(after) => {
                    metrics::message(&self.topic, metrics::Outcome::Retried);
                    Attempt::Again(after)
                }
                done => done,
            }
        });
        verdict.await.unwrap_or(Verdict::Abandoned)
    }

    /// Forwards the message once and acts on the answer: its verdict (counted, dead-lettered,
    /// waiting), or another try, no sooner than the api asked.
    async fn attempt(
        &self,
        message: &OwnedMessage,
        context: &HeaderMap,
        attempt: u32,
        waiting_since: Instant,
        stop: &CancellationToken,
    ) -> Attempt<Verdict> {
        let payload = message.payload().unwrap_or_default();
        let sent = Instant::now();
        let answer = self.forwarder.forward(payload, context.clone()).await;
        metrics::forwarded(&self.topic, sent.elapsed());
        match answer {
            Answer::Misconfigured { link, status } => {
                self.misconfigured(link, status);
                Attempt::Again(None)
            }
            Answer::Stored(created) => {
                let created = created.first() == Some(&true);
                tracing::debug!(created, "Message stored.");
                let outcome = match created {
                    true => metrics::Outcome::Stored,
                    false => metrics::Outcome::Replayed,
                };
                metrics::message(&self.topic, outcome);
                Attempt::Done(Verdict::Done)
            }
            Answer::Refused {
                kind: Some(ProblemType::MissingReference),
                problem,
                ..
            } if waiting_since.elapsed() >= self.missing_reference_timeout => {
                let letter = DeadLetter {
                    reason: DeadLetterReason::MissingReference,
                    status: Some(409),
                    problem: &problem,
                };
                Attempt::Done(self.dead_letter(message, &letter, stop).await)
            }
            Answer::Refused {
                kind: Some(ProblemType::MissingReference),
                ..
            } => {
                tracing::debug!(
                    attempt,
                    "References not there yet; the message waits aside."
                );
                Attempt::Done(Verdict::Waiting)
            }
            Answer::Refused {
                status, problem, ..
            } => {
                let letter = DeadLetter {
                    reason: DeadLetterReason::Rejected,
                    status: Some(status),
                    problem: &problem,
                };
                Attempt::Done(self.dead_letter(message, &letter, stop).await)
            }
            Answer::Retry { reason, after } => {
                tracing::warn!(attempt, %reason, "Forward failed, retrying.");
                Attempt::Again(after)
            }
        }
    }

    /// Keeps trying until Kafka takes the dead letter: the offset may move only after that.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        letter: &DeadLetter<'_>,
        stop: &CancellationToken,
    ) -> Verdict {
        let written = retry(&self.backoff, stop, |attempt| async move {
            match self.dead_letters.send(message, letter).await {
                Ok(()) => {
                    metrics::message(&self.topic, metrics::Outcome::DeadLettered);
                    tracing::warn!(
                        reason = letter.reason.as_str(),
                        status = letter.status,
                        "Message dead-lettered."
                    );
                    Attempt::Done(Verdict::Done)
                }
                Err(e) => {
                    metrics::dead_letter_failed(&self.topic);
                    tracing::error!(error = ?e, attempt, "Dead letter not written, retrying.");
                    Attempt::Again(None)
                }
            }
        });
        written.await.unwrap_or(Verdict::Abandoned)
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
    for (header, field) in [(REQUEST_ID, "request_id"), (TRACEPARENT, "traceparent")] {
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

/// The request context to pass on: Kafka's `request-id` becomes the api's `x-request-id`.
fn request_context(message: &OwnedMessage) -> HeaderMap {
    let mut context = HeaderMap::new();
    let Some(message_headers) = message.headers() else {
        return context;
    };
    for header in message_headers.iter() {
        let name = match header.key {
            headers::REQUEST_ID => REQUEST_ID,
            headers::TRACEPARENT => TRACEPARENT,
            _ => continue,
        };
        if let Some(value) = header.value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            context.insert(name, value);
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
