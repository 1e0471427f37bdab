//! The dead-letter topic: where a message the api refused for good goes, with its reason, so
//! nothing is dropped and consumption goes on.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use slipstream_runtime::kafka::KafkaArgs;

/// Headers a dead letter carries besides the original message's own.
pub mod headers {
    /// What every dead-letter header starts with, so a redrive can take them off again.
    pub const DEAD_LETTER_PREFIX: &str = "dlq-";
    pub const REASON: &str = "dlq-reason";
    pub const STATUS: &str = "dlq-status";
    pub const PROBLEM: &str = "dlq-problem";
    pub const TOPIC: &str = "dlq-original-topic";
    pub const PARTITION: &str = "dlq-original-partition";
    pub const OFFSET: &str = "dlq-original-offset";
    pub const TIME: &str = "dlq-time";
    /// How many times `consumer redrive` moved the message back to its topic: not a
    /// dead-letter header, so it stays on through the next round.
    pub const REDRIVE_COUNT: &str = "redrive-count";
}

/// The message's `redrive-count`: 0 when it has none (or one that is not a count).
pub fn redrive_count<H: Headers>(message_headers: Option<&H>) -> u32 {
    message_headers
        .into_iter()
        .flat_map(|h| h.iter())
        .find(|h| h.key == headers::REDRIVE_COUNT)
        .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Why a message is dead-lettered.
#[derive(Debug)]
pub struct Verdict<'a> {
    pub reason: &'a str,
    pub status: Option<u16>,
    pub problem: &'a str,
}

pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(kafka: &KafkaArgs, topic: String) -> anyhow::Result<Self> {
        let producer = kafka
            .create(
                kafka
                    .client_config()
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("message.timeout.ms", "10000"),
            )
            .context("Failed to create the dead-letter producer")?;
        Ok(Self { producer, topic })
    }

    /// Writes the message, as it came, to the dead-letter topic and waits for Kafka's
    /// acknowledgement: only then may the original offset be committed.
    pub async fn send(&self, message: &OwnedMessage, verdict: &Verdict<'_>) -> anyhow::Result<()> {
        let headers = dead_letter_headers(message, verdict);
        let mut record = FutureRecord::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .with_context(|| format!("Failed to write to dead-letter topic {}", self.topic))?;
        Ok(())
    }
}

fn dead_letter_headers(message: &OwnedMessage, verdict: &Verdict<'_>) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let status = verdict.status.map(|s| s.to_string()).unwrap_or_default();
    let fields = [
        (headers::REASON, verdict.reason.to_owned()),
        (headers::STATUS, status),
        (headers::PROBLEM, verdict.problem.to_owned()),
        (headers::TOPIC, message.topic().to_owned()),
        (headers::PARTITION, message.partition().to_string()),
        (headers::OFFSET, message.offset().to_string()),
        (headers::TIME, Utc::now().to_rfc3339()),
    ];
    for (key, value) in &fields {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_str()),
        });
    }
    headers
}
