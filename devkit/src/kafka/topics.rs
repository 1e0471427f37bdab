//! Reading topics back in tests, as any Kafka client would: what a test asserts on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long [`read_to_end`] waits for the broker before it gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Every message of `topic` from the start, stopping once `expected` arrived or after 30 s
/// (then the caller's assertion on the count says what is missing).
///
/// # Panics
/// When no consumer can be created or subscribed: a test cannot go on without it.
pub fn read_topic(bootstrap: &str, topic: &str, expected: usize) -> Vec<OwnedMessage> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    reader.subscribe(&[topic]).expect("subscribed");
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while messages.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(200)) {
            messages.push(message.detach());
        }
    }
    messages
}

/// Every message `topic` holds right now, read up to the end of each partition; empty when
/// the topic does not exist (yet).
///
/// Unlike [`read_topic`] it needs no expected count, so a test can poll a topic whose size it
/// cannot know in advance, such as a dead-letter topic while the pipeline is still running.
///
/// # Panics
/// When the broker does not answer within 30 s: a test cannot go on without it.
pub fn read_to_end(bootstrap: &str, topic: &str) -> Vec<OwnedMessage> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("reader-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("a Kafka consumer");
    let mut unread = partition_ends(&reader, topic);
    if unread.is_empty() {
        return Vec::new();
    }
    let mut partitions = TopicPartitionList::new();
    for &partition in unread.keys() {
        partitions
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a valid offset");
    }
    reader.assign(&partitions).expect("partitions assigned");
    let mut messages = Vec::new();
    let deadline = Instant::now() + READ_TIMEOUT;
    while !unread.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{topic} was not read to its end within {READ_TIMEOUT:?}"
        );
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
            let partition = message.partition();
            let reached_end = unread
                .get(&partition)
                .is_some_and(|&end| message.offset() + 1 >= end);
            if reached_end {
                unread.remove(&partition);
            }
            messages.push(message.detach());
        }
    }
    messages
}

/// The end offset (the high watermark) of each partition of `topic` that holds messages.
fn partition_ends(reader: &BaseConsumer, topic: &str) -> HashMap<i32, i64> {
    let metadata = reader
        .fetch_metadata(Some(topic), READ_TIMEOUT)
        .expect("topic metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions
        .into_iter()
        .filter_map(|partition| {
            let (low, high) = reader
                .fetch_watermarks(topic, partition, READ_TIMEOUT)
                .expect("partition watermarks");
            (high > low).then_some((partition, high))
        })
        .collect()
}

/// A header's value as text.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
