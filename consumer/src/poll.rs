//! The poll stage, the consumer's main loop: polls Kafka, hands each message to its
//! partition's lane, and stores an offset only once its message was stored by the api or
//! dead-lettered (the lanes report each verdict back here).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Message;
use slipstream_runtime::fatal::Supervisor;
use slipstream_runtime::shutdown;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::group::GroupContext;
use crate::health::{self, LinkStatus, Readiness};
use crate::lane::{Finished, Lanes};
use crate::metrics;
use crate::verdict::Courier;

/// How long a shutdown waits for forwards in flight, within SPEC §5's 10 s.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(6);

/// Consumes until Ctrl-C or SIGTERM, then commits what is done and leaves the group.
pub async fn run(config: Config) -> anyhow::Result<()> {
    run_until(config, shutdown::signal()).await
}

/// Consumes until `stop` resolves (or the health endpoint fails), then commits what is
/// done and leaves the group: how a test runs a consumer in its own process.
pub async fn run_until(
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = {
        let token = CancellationToken::new();
        let cancel = token.clone();
        tokio::spawn(async move {
            stop.await;
            cancel.cancel();
        });
        token
    };
    let mut background = Supervisor::default();
    let (group, mut revoked) = GroupContext::new();
    let link = LinkStatus::default();
    let readiness = Readiness {
        group: group.clone(),
        link: link.clone(),
    };
    let address = health::serve(
        SocketAddr::new(config.host, config.port),
        readiness,
        &config.edge,
        stop.clone(),
        &mut background,
    )
    .await?;
    metrics::describe();
    config
        .kafka
        .ensure_topics(&[config.topic], Duration::from_secs(30))
        .await?;
    let consumer = Arc::new(subscribe(&config, group)?);
    let topic = config.kafka.topic(config.topic);
    metrics::start(&topic);
    tracing::info!(%topic, group = %config.group_id(), %address, "Consumer started.");
    let courier = Courier::new(&config, link)?;
    let (mut lanes, mut finished) = Lanes::new(Arc::clone(&consumer), topic, courier, stop.clone());
    let mut failure = None;
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            error = background.failure() => {
                failure = Some(error);
                stop.cancel();
                break;
            }
            Some(partitions) = revoked.recv() => lanes.revoke(&partitions),
            Some(report) = finished.recv() => lanes.finish(report),
            message = consumer.recv() => match message {
                Ok(message) => {
                    // A rebalance is served inside `recv`: forget the lost lanes before a
                    // message of the new assignment reaches them.
                    while let Ok(partitions) = revoked.try_recv() {
                        lanes.revoke(&partitions);
                    }
                    tracing::trace!(partition = message.partition(), offset = message.offset(), "Message received.");
                    lanes.dispatch(message.detach());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka consume error.");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    drain(&mut lanes, &mut finished).await;
    commit(&consumer);
    match failure {
        Some(failure) => Err(failure),
        None => {
            tracing::info!("Consumer stopped.");
            Ok(())
        }
    }
}

/// Waits, for a bounded time, for the forwards in flight, so what the api stored is
/// committed rather than read again after a restart.
async fn drain(lanes: &mut Lanes, finished: &mut mpsc::UnboundedReceiver<Finished>) {
    let mut tasks = lanes.close();
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    while !tasks.is_empty() {
        tokio::select! {
            () = &mut deadline => {
                tracing::warn!(lanes = tasks.len(), "Forwards still in flight at shutdown are abandoned.");
                tasks.abort_all();
                break;
            }
            Some(report) = finished.recv() => lanes.finish(report),
            _ = tasks.join_next() => {}
        }
    }
    while let Ok(report) = finished.try_recv() {
        lanes.finish(report);
    }
}

fn subscribe(config: &Config, group: GroupContext) -> anyhow::Result<StreamConsumer<GroupContext>> {
    let consumer: StreamConsumer<GroupContext> = config
        .kafka
        .create_with_context(
            bounded_prefetch(config.kafka.client_config())
                .set("group.id", config.group_id())
                // Offsets are stored by hand after each message is done, and committed in
                // the background and on shutdown: at-least-once, never ahead of the work.
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false")
                .set("auto.commit.interval.ms", "1000")
                .set("auto.offset.reset", "earliest")
                .set("session.timeout.ms", "10000")
                // Statistics carry each partition's lag, for the metrics.
                .set("statistics.interval.ms", "5000"),
            group,
        )
        .context("Failed to create the Kafka consumer")?;
    let topic = config.kafka.topic(config.topic);
    consumer
        .subscribe(&[&topic])
        .with_context(|| format!("Failed to subscribe to {topic}"))?;
    Ok(consumer)
}

/// Bounds what librdkafka fetches ahead of the lanes: by default up to 64 MiB of values and
/// 100,000 messages, alone more than the consumer's 64 MB. 2 MB of values is two seconds of
/// M's whole ingest; 10,000 messages bound the ≈ 300 bytes librdkafka keeps beside each
/// (3 MB), which small records would otherwise multiply. `fetch.max.bytes` follows the byte
/// bound (librdkafka caps it there unless it is set), so the queue overshoots by at most one
/// 2 MiB fetch per broker: ≤ 11 MB with three brokers. A full queue is fetched again after
/// 100 ms instead of 1 s, so that a queue this small does not slow a backlog.
pub(crate) fn bounded_prefetch(mut settings: ClientConfig) -> ClientConfig {
    settings
        .set("queued.max.messages.kbytes", "2048")
        .set("queued.min.messages", "10000")
        .set("fetch.queue.backoff.ms", "100");
    settings
}

/// Commits the stored offsets before the consumer is dropped, which leaves the group.
fn commit(consumer: &StreamConsumer<GroupContext>) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "Failed to commit offsets on shutdown."),
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::BaseConsumer;

    use super::*;

    #[test]
    fn librdkafka_knows_and_accepts_the_prefetch_bounds() {
        let consumer: Result<BaseConsumer, _> = bounded_prefetch(ClientConfig::new())
            .set("bootstrap.servers", "127.0.0.1:9")
            .create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
    }
}
