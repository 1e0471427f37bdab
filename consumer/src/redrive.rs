//! `consumer redrive`: dead letters back to their topic, for the running consumer to take
//! again once what made them fail is fixed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::config::Config;
use crate::dead_letter::redrive_count;
use crate::poll::bounded_prefetch;
use slipstream_model::contract::kafka_headers::{DEAD_LETTER_PREFIX, REDRIVE_COUNT};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Rounds a message may make through the dead-letter topic before a redrive asks for
/// `--force`: one that failed this often is failing for a reason a redrive does not fix.
pub const MAX_REDRIVES: u32 = 3;

/// What a redrive did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redriven {
    pub from: String,
    pub to: String,
    pub count: u64,
    /// Letters left where they are, having been redriven [`MAX_REDRIVES`] times already; each
    /// stops its partition there, so that a later `--force` run finds it and what follows.
    pub refused: Vec<Refused>,
}

/// A letter a redrive without `--force` left in the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub partition: i32,
    pub offset: i64,
    pub redrives: u32,
}

/// Moves every dead letter present when it starts, each acknowledged by Kafka before its offset
/// is committed in the redrive's own group: interrupted, it resumes without losing or
/// repeating a message. Each moved message carries its `redrive-count`, one more than before;
/// without `force` a message already redriven [`MAX_REDRIVES`] times stays, with those after
/// it in its partition.
pub async fn redrive(config: &Config, force: bool) -> anyhow::Result<Redriven> {
    let (from, to) = (
        config.kafka.dead_letter_topic(config.topic),
        config.kafka.topic(config.topic),
    );
    let reader: BaseConsumer = config
        .kafka
        .create(
            bounded_prefetch(config.kafka.client_config())
                .set("group.id", format!("{}-redrive", config.group_id()))
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "earliest"),
        )
        .context("Failed to create the dead-letter reader")?;
    let writer: FutureProducer = config
        .kafka
        .create(
            config
                .kafka
                .client_config()
                .set("enable.idempotence", "true")
                .set("acks", "all"),
        )
        .context("Failed to create the producer")?;
    let mut ends = assign_up_to_now(&reader, &from)?;
    let mut count = 0;
    let mut refused = Vec::new();
    while !ends.is_empty() {
        let Some(message) = reader.poll(TIMEOUT) else {
            anyhow::bail!(
                "{from} stopped answering with {} partition(s) left to move",
                ends.len()
            );
        };
        let message = message.with_context(|| format!("Failed to read {from}"))?;
        let redrives = redrive_count(message.headers());
        let due = message.offset() < ends.get(&message.partition()).copied().unwrap_or(0);
        if due && redrives >= MAX_REDRIVES && !force {
            tracing::warn!(
                partition = message.partition(),
                offset = message.offset(),
                redrives,
                "Letter redriven too often; left in place (use --force)."
            );
            refused.push(Refused {
                partition: message.partition(),
                offset: message.offset(),
                redrives,
            });
            ends.remove(&message.partition());
            continue;
        }
        if due {
            move_one(&writer, &to, &message, redrives.saturating_add(1)).await?;
            reader
                .commit_message(&message, CommitMode::Sync)
                .context("Failed to commit the redrive's progress")?;
            count += 1;
        }
        if message.offset() + 1 >= ends.get(&message.partition()).copied().unwrap_or(0) {
            ends.remove(&message.partition());
        }
    }
    tracing::info!(%from, %to, count, refused = refused.len(), "Redrive finished.");
    Ok(Redriven {
        from,
        to,
        count,
        refused,
    })
}

/// Assigns every partition from where the last redrive stopped, and returns, for those with
/// something left, the end offset as of now: letters arriving later wait for the next run.
fn assign_up_to_now(reader: &BaseConsumer, topic: &str) -> anyhow::Result<HashMap<i32, i64>> {
    let metadata = reader
        .fetch_metadata(Some(topic), TIMEOUT)
        .with_context(|| format!("Failed to read the metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut wanted = TopicPartitionList::new();
    for &p in &partitions {
        wanted.add_partition(topic, p);
    }
    let committed = reader
        .committed_offsets(wanted, TIMEOUT)
        .context("Failed to read the redrive's progress")?;
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for element in committed.elements() {
        let (low, high) = reader
            .fetch_watermarks(topic, element.partition(), TIMEOUT)
            .context("Failed to read the watermarks")?;
        let start = match element.offset() {
            Offset::Offset(o) => o.max(low),
            _ => low,
        };
        if start < high {
            assignment.add_partition_offset(topic, element.partition(), Offset::Offset(start))?;
            ends.insert(element.partition(), high);
        }
    }
    reader
        .assign(&assignment)
        .context("Failed to assign the dead-letter partitions")?;
    Ok(ends)
}

/// Writes the letter back as the original message: same key and value, its own headers
/// without the dead-letter ones, and `redrives` as its `redrive-count`.
async fn move_one(
    writer: &FutureProducer,
    topic: &str,
    message: &BorrowedMessage<'_>,
    redrives: u32,
) -> anyhow::Result<()> {
    let mut headers = OwnedHeaders::new();
    for header in message.headers().into_iter().flat_map(|h| h.iter()) {
        if !header.key.starts_with(DEAD_LETTER_PREFIX) && header.key != REDRIVE_COUNT {
            headers = headers.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let redrives = redrives.to_string();
    headers = headers.insert(Header {
        key: REDRIVE_COUNT,
        value: Some(&redrives),
    });
    let mut record = FutureRecord::to(topic).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    writer
        .send(record, TIMEOUT)
        .await
        .map_err(|(e, _)| e)
        .with_context(|| format!("Failed to write to {topic}"))?;
    Ok(())
}
