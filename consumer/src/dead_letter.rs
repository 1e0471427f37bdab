//! The dead-letter topic: where a message the api refused for good goes, with its reason, so
//! nothing is dropped and consumption goes on.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Message;
use slipstream_model::contract::kafka_headers as headers;
use slipstream_model::contract::DeadLetterReason;
use slipstream_runtime::kafka::KafkaArgs;

/// The message's `redrive-count`: 0 when it has none (or one that is not a count).
pub fn redrive_count<H: Headers>(message_headers: Option<&H>) -> u32 {
    message_headers
        .into_iter()
        .flat_map(|h| h.iter())
        .find(|h| h.key == headers::REDRIVE_COUNT)
        .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Why a message is dead-lettered: the headers it goes with.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub reason: DeadLetterReason,
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
    pub async fn send(
        &self,
        message: &OwnedMessage,
        letter: &DeadLetter<'_>,
    ) -> anyhow::Result<()> {
        let headers = dead_letter_headers(message, letter);
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

fn dead_letter_headers(message: &OwnedMessage, letter: &DeadLetter<'_>) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let status = letter.status.map(|s| s.to_string()).unwrap_or_default();
    let fields = [
        (
            headers::DEAD_LETTER_REASON,
            letter.reason.as_str().to_owned(),
        ),
        (headers::DEAD_LETTER_STATUS, status),
        (headers::DEAD_LETTER_PROBLEM, letter.problem.to_owned()),
        (headers::DEAD_LETTER_TOPIC, message.topic().to_owned()),
        (
            headers::DEAD_LETTER_PARTITION,
            message.partition().to_string(),
        ),
        (headers::DEAD_LETTER_OFFSET, message.offset().to_string()),
        (headers::DEAD_LETTER_TIME, Utc::now().to_rfc3339()),
    ];
    for (key, value) in &fields {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_str()),
        });
    }
    headers
}
