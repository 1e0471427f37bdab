//! The consumer's series: what became of each message, how long forwards take, and how far
//! behind each partition is.

use std::time::Duration;

use rdkafka::Statistics;

use crate::health::Link;

/// What became of a message, or of one attempt at it (`retried`).
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Stored,
    Replayed,
    Retried,
    DeadLettered,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stored => "stored",
            Self::Replayed => "replayed",
            Self::Retried => "retried",
            Self::DeadLettered => "dead_lettered",
        }
    }
}

pub fn describe() {
    metrics::describe_counter!(
        "slipstream_consumer_messages_total",
        "Messages by outcome: stored, replayed (already stored), retried (per attempt), dead_lettered."
    );
    metrics::describe_histogram!(
        "slipstream_consumer_forward_duration_seconds",
        metrics::Unit::Seconds,
        "Time of one forward to the api, whatever it answered."
    );
    metrics::describe_counter!(
        "slipstream_consumer_api_key_refused_total",
        "Forwards the api answered 401 or 403: this consumer's API_KEY is missing, wrong, revoked or lacks the write scope."
    );
    metrics::describe_counter!(
        "slipstream_consumer_api_misconfigured_total",
        "Forwards answered by something else than the api's verdict on a record (a redirect, a 4xx without one of its problem types): API_URL is wrong."
    );
    metrics::describe_gauge!(
        "slipstream_consumer_misconfigured",
        "1 while the last answer from API_URL said the key or the URL is wrong (the consumer is not ready), else 0."
    );
    metrics::describe_counter!(
        "slipstream_consumer_redriven_messages_total",
        "Messages read that `consumer redrive` had moved back from the dead-letter topic, by `redrives` (1, 2, 3 or 4+): how many rounds they made."
    );
    metrics::describe_counter!(
        "slipstream_consumer_dead_letter_failures_total",
        "Attempts to write a dead letter that Kafka did not take; the message waits, and its offset with it."
    );
    metrics::describe_gauge!(
        "slipstream_consumer_lag_messages",
        "Messages in a partition not yet read by this consumer (0 where it does not own it)."
    );
}

/// The series alerts watch, at 0 from the start: a rule's query then finds them before the
/// first failure, and `increase()` sees that failure as a rise.
pub fn start(topic: &str) {
    metrics::counter!("slipstream_consumer_dead_letter_failures_total", "topic" => topic.to_owned())
        .absolute(0);
    misconfigured(false);
}

pub fn message(topic: &str, outcome: Outcome) {
    messages(topic, outcome, 1);
}

/// `count` messages of one batch met the same outcome.
pub fn messages(topic: &str, outcome: Outcome, count: usize) {
    let labels = [
        ("topic", topic.to_owned()),
        ("outcome", outcome.as_str().to_owned()),
    ];
    metrics::counter!("slipstream_consumer_messages_total", &labels).increment(count as u64);
}

pub fn misconfiguration(topic: &str, link: Link) {
    let name = match link {
        Link::KeyRefused => "slipstream_consumer_api_key_refused_total",
        _ => "slipstream_consumer_api_misconfigured_total",
    };
    metrics::counter!(name, "topic" => topic.to_owned()).increment(1);
}

pub fn misconfigured(now: bool) {
    metrics::gauge!("slipstream_consumer_misconfigured").set(f64::from(u8::from(now)));
}

/// A message read with `redrive-count` = `redrives`; the label is one of four values, whatever
/// the header says.
pub fn redriven(topic: &str, redrives: u32) {
    let redrives = match redrives {
        0 => return,
        1 => "1",
        2 => "2",
        3 => "3",
        _ => "4+",
    };
    let labels = [
        ("topic", topic.to_owned()),
        ("redrives", redrives.to_owned()),
    ];
    metrics::counter!("slipstream_consumer_redriven_messages_total", &labels).increment(1);
}

pub fn dead_letter_failed(topic: &str) {
    metrics::counter!("slipstream_consumer_dead_letter_failures_total", "topic" => topic.to_owned())
        .increment(1);
}

pub fn forwarded(topic: &str, took: Duration) {
    metrics::histogram!("slipstream_consumer_forward_duration_seconds", "topic" => topic.to_owned())
        .record(took.as_secs_f64());
}

/// Lag per partition from librdkafka's statistics; partitions this consumer does not own
/// report 0, so the sum over replicas is the topic's lag.
pub fn lag(statistics: &Statistics) {
    for (topic, stats) in &statistics.topics {
        for (&partition, stats) in &stats.partitions {
            if partition < 0 {
                continue; // librdkafka's internal "unassigned" partition.
            }
            let labels = [
                ("topic", topic.clone()),
                ("partition", partition.to_string()),
            ];
            metrics::gauge!("slipstream_consumer_lag_messages", &labels)
                .set(stats.consumer_lag.max(0) as f64);
        }
    }
}
