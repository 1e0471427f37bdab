//! One lane per assigned partition: a partition's messages are handled one after another, in
//! offset order (a backlog in batches of consecutive messages), while partitions proceed side
//! by side. A message waiting for the records it names is set aside with its key's later
//! messages ([`crate::parked`]), so the others of its partition go on within one forward; the
//! partition's committed offset stays below the first message not done. The consume loop owns
//! the lanes and
//! keeps polling Kafka whatever they wait for, so the consumer stays in its group through an
//! api outage of any length; a lane that falls behind has its partition paused instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::group::GroupContext;
use crate::parked::Parked;
use crate::verdict::{Courier, Verdict};

/// Messages a lane may hold before its partition is paused: two full batches, so the next
/// batch is there when one comes back, and little enough that a lane stuck on a retry holds
/// little memory (a few hundred KiB). Fetching resumes at half.
const DEPTH: usize = 2_000;

/// Bytes of keys and values a lane may hold before its partition is paused, whatever the
/// count: [`DEPTH`] records of 1 MB would be 2 GB. [`DEPTH`] records of M (120–250 bytes)
/// stay under it, so it stops only records above 512 bytes on average; fetching resumes at
/// half, two full batches ([`BATCH_BYTES`]). A lane overshoots by at most the message that
/// filled it (≤ 1 MB, Kafka's default `message.max.bytes`), and its request in flight copies
/// about as much again: 4 MB a lane at worst, 24 MB for the 6 partitions of a topic. With
/// librdkafka's prefetch ([`crate::poll::bounded_prefetch`], ≤ 11 MB) and the process
/// itself (12–20 MB at M), a consumer stays under 55 MB of its 64 MB (36 MB measured at M).
const LANE_BYTES: usize = 1024 * 1024;

/// A batch stops growing at this many bytes of values: a quarter of the api's default body
/// limit (1 MiB), so a batch it refuses as too large is rare (its messages then go one by one).
const BATCH_BYTES: usize = 256 * 1024;

/// Longest a lane spends in one go on trying waiting messages again before it takes the
/// messages that came meanwhile: with one forward of a newly waiting message, what a
/// missing reference can delay the other keys of a partition by (about a second; a forward
/// takes milliseconds while the api is well).
const RETRY_BUDGET: Duration = Duration::from_secs(1);

/// A lane finished a message.
#[derive(Debug)]
pub struct Finished {
    lane: u64,
    partition: i32,
    offset: i64,
    /// The message's [`size`], which its lane no longer holds.
    bytes: usize,
    verdict: Verdict,
}

/// What a lane holds, in messages and in bytes: either bound full pauses its partition, and
/// both must be down to half to resume it, so a lane does not flap around one threshold.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Depth {
    messages: usize,
    bytes: usize,
}

impl Depth {
    fn push(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes;
    }

    fn pop(&mut self, bytes: usize) {
        self.messages = self.messages.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    fn is_full(self) -> bool {
        self.messages >= DEPTH || self.bytes >= LANE_BYTES
    }

    fn has_room(self) -> bool {
        self.messages <= DEPTH / 2 && self.bytes <= LANE_BYTES / 2
    }
}

struct Lane {
    id: u64,
    queue: mpsc::UnboundedSender<OwnedMessage>,
    depth: Depth,
    /// Offsets queued and not done yet: the committed offset may not pass the first.
    pending: BTreeSet<i64>,
    /// One past the last offset queued: the committed offset once nothing is pending.
    next: i64,
    paused: bool,
    stop: CancellationToken,
}

impl Lane {
    /// The offset to commit now: the first message not done, or the next to read.
    fn committable(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

/// The lanes of one consumer; every method is called from its consume loop.
pub struct Lanes {
    consumer: Arc<StreamConsumer<GroupContext>>,
    topic: String,
    courier: Arc<Courier>,
    stop: CancellationToken,
    lanes: HashMap<i32, Lane>,
    next_id: u64,
    finished: mpsc::UnboundedSender<Finished>,
    tasks: JoinSet<()>,
}

impl Lanes {
    /// The lanes, and where they report each finished message.
    pub fn new(
        consumer: Arc<StreamConsumer<GroupContext>>,
        topic: String,
        courier: Courier,
        stop: CancellationToken,
    ) -> (Self, mpsc::UnboundedReceiver<Finished>) {
        let (finished, reports) = mpsc::unbounded_channel();
        let lanes = Self {
            consumer,
            topic,
            courier: Arc::new(courier),
            stop,
            lanes: HashMap::new(),
            next_id: 0,
            finished,
            tasks: JoinSet::new(),
        };
        (lanes, reports)
    }

    /// Queues a message on its partition's lane, pausing the partition when the lane is full.
    pub fn dispatch(&mut self, message: OwnedMessage) {
        let partition = message.partition();
        let lane = match self.lanes.get_mut(&partition) {
            Some(lane) => lane,
            None => {
                let lane = self.open(partition);
                self.lanes.entry(partition).or_insert(lane)
            }
        };
        lane.depth.push(size(&message));
        lane.pending.insert(message.offset());
        lane.next = lane.next.max(message.offset() + 1);
        // The lane's task ends only after its sender is dropped or its token cancelled, and
        // both remove the lane from the map first.
        let _ = lane.queue.send(message);
        if lane.depth.is_full() && !lane.paused {
            lane.paused = true;
            tracing::debug!(
                partition,
                messages = lane.depth.messages,
                bytes = lane.depth.bytes,
                "Partition paused: its lane is full."
            );
            let partitions = partition_list(&self.topic, partition);
            if let Err(e) = self.consumer.pause(&partitions) {
                tracing::warn!(error = %e, partition, "Failed to pause a partition.");
            }
        }
    }

    /// Stores the offset of a message that is done, and resumes its partition once its
    /// lane has room again.
    pub fn finish(&mut self, report: Finished) {
        let Some(lane) = self
            .lanes
            .get_mut(&report.partition)
            .filter(|lane| lane.id == report.lane)
        else {
            return; // A revoked lane: the partition's new owner reads the message again.
        };
        lane.depth.pop(report.bytes);
        if report.verdict == Verdict::Done {
            let before = lane.committable();
            lane.pending.remove(&report.offset);
            let now = lane.committable();
            if now > before {
                // librdkafka stores `offset + 1`: the next message to read.
                let stored = self
                    .consumer
                    .store_offset(&self.topic, report.partition, now - 1);
                if let Err(e) = stored {
                    tracing::warn!(error = %e, partition = report.partition, "Offset not stored.");
                }
            }
        }
        if lane.paused && lane.depth.has_room() {
            lane.paused = false;
            tracing::debug!(partition = report.partition, "Partition resumed.");
            let partitions = partition_list(&self.topic, report.partition);
            if let Err(e) = self.consumer.resume(&partitions) {
                tracing::warn!(error = %e, partition = report.partition, "Failed to resume a partition.");
            }
        }
    }

    /// Stops the lanes of partitions this consumer lost: what they hold is read again, from
    /// the last commit, by the partitions' new owners, and the api recognises the replays.
    pub fn revoke(&mut self, partitions: &[i32]) {
        for partition in partitions {
            let Some(lane) = self.lanes.remove(partition) else {
                continue;
            };
            lane.stop.cancel();
            if lane.paused {
                // A pause would outlive the assignment and stall the partition if it returns.
                let _ = self
                    .consumer
                    .resume(&partition_list(&self.topic, *partition));
            }
        }
    }

    /// Tells every lane to finish the message in hand and drop the rest, and hands over
    /// their tasks: the caller waits for them, for as long as a shutdown allows.
    pub fn close(&mut self) -> JoinSet<()> {
        for lane in self.lanes.values() {
            lane.stop.cancel();
        }
        std::mem::take(&mut self.tasks)
    }

    fn open(&mut self, partition: i32) -> Lane {
        tracing::debug!(partition, "Lane opened.");
        self.next_id += 1;
        let (queue, messages) = mpsc::unbounded_channel();
        let stop = self.stop.child_token();
        let driver = Driver {
            courier: Arc::clone(&self.courier),
            lane: self.next_id,
            finished: self.finished.clone(),
            stop: stop.clone(),
        };
        self.tasks.spawn(driver.run(messages));
        // Reap lanes that ended so the set does not grow with every rebalance.
        while self.tasks.try_join_next().is_some() {}
        Lane {
            id: self.next_id,
            queue,
            depth: Depth::default(),
            pending: BTreeSet::new(),
            next: 0,
            paused: false,
            stop,
        }
    }
}

/// The task behind a lane.
struct Driver {
    courier: Arc<Courier>,
    lane: u64,
    finished: mpsc::UnboundedSender<Finished>,
    stop: CancellationToken,
}

impl Driver {
    async fn run(self, mut messages: mpsc::UnboundedReceiver<OwnedMessage>) {
        let mut parked = Parked::default();
        loop {
            let due = parked.next_due();
            let first = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                () = sleep_until(due), if due.is_some() => {
                    if !self.retry_parked(&mut parked).await {
                        return;
                    }
                    // Then a batch of what came meanwhile, if any, before more retries.
                    match messages.try_recv() {
                        Ok(message) => message,
                        Err(_) => continue,
                    }
                }
                message = messages.recv() => match message {
                    Some(message) => message,
                    None => return,
                },
            };
            let batch = self.gather(first, &mut messages);
            if !self.handle(batch, &mut parked).await {
                return;
            }
        }
    }

    /// Forwards a batch, as one request when the api takes it whole, else message by message;
    /// a message of a key that waits joins it. `false` once the lane must end.
    async fn handle(&self, batch: Vec<OwnedMessage>, parked: &mut Parked) -> bool {
        self.courier.received(&batch);
        let (held, ready): (Vec<_>, Vec<_>) = batch.into_iter().partition(|m| parked.holds(m));
        let wait = self.courier.first_wait();
        for message in held {
            parked.park(message, wait);
        }
        if ready.len() > 1 {
            if let Some(verdicts) = self.courier.deliver_batch(&ready, &self.stop).await {
                let all = verdicts.len() == ready.len();
                return ready
                    .iter()
                    .zip(verdicts)
                    .all(|(message, verdict)| self.report(message, verdict))
                    && all;
            }
        }
        for message in ready {
            if parked.holds(&message) {
                parked.park(message, wait);
                continue;
            }
            match self.courier.deliver(&message, &self.stop).await {
                Verdict::Waiting => parked.park(message, wait),
                verdict => {
                    if !self.report(&message, verdict) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Tries again the waiting messages that are due, for up to [`RETRY_BUDGET`] and not
    /// after a stop. `false` once the lane must end.
    async fn retry_parked(&self, parked: &mut Parked) -> bool {
        let started = Instant::now();
        let in_budget = || started.elapsed() < RETRY_BUDGET && !self.stop.is_cancelled();
        while let Some(due) = parked.due().filter(|_| in_budget()) {
            let tried = self
                .courier
                .retry(due.message, due.since, due.attempt, &self.stop)
                .await;
            let key = due.key;
            match tried {
                Ok(verdict) => {
                    let Some(message) = parked.finish_first(&key) else {
                        continue;
                    };
                    if !self.report(&message, verdict) {
                        return false;
                    }
                }
                Err(wait) => parked.postpone(&key, wait),
            }
        }
        true
    }

    /// Tells the consume loop a message is finished. `false` once the lane must end.
    fn report(&self, message: &OwnedMessage, verdict: Verdict) -> bool {
        let report = Finished {
            lane: self.lane,
            partition: message.partition(),
            offset: message.offset(),
            bytes: size(message),
            verdict,
        };
        self.finished.send(report).is_ok() && verdict != Verdict::Abandoned
    }

    /// `first` and whatever else the lane already holds, up to a batch: a backlog is
    /// forwarded in large requests, while a lone message does not wait for company.
    fn gather(
        &self,
        first: OwnedMessage,
        messages: &mut mpsc::UnboundedReceiver<OwnedMessage>,
    ) -> Vec<OwnedMessage> {
        let mut bytes = payload_len(&first);
        let mut batch = vec![first];
        while batch.len() < self.courier.batch() && bytes < BATCH_BYTES {
            let Ok(message) = messages.try_recv() else {
                break;
            };
            bytes += payload_len(&message);
            batch.push(message);
        }
        batch
    }
}

/// Sleeps until `at`; never, without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn payload_len(message: &OwnedMessage) -> usize {
    message.payload().map_or(0, <[u8]>::len)
}

/// What a message weighs in its lane: its key and value, the bulk of an `OwnedMessage`.
fn size(message: &OwnedMessage) -> usize {
    payload_len(message) + message.key().map_or(0, <[u8]>::len)
}

fn partition_list(topic: &str, partition: i32) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    // Pause and resume ignore the offset; `Invalid` says so.
    let _ = list.add_partition_offset(topic, partition, Offset::Invalid);
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    /// Pushes messages of `bytes` until the lane is full, and says how many it took.
    fn fill(depth: &mut Depth, bytes: usize) -> usize {
        let mut pushed = 0;
        while !depth.is_full() {
            depth.push(bytes);
            pushed += 1;
        }
        pushed
    }

    #[test]
    fn a_few_large_messages_fill_a_lane_long_before_its_message_depth() {
        let mut depth = Depth::default();
        assert_eq!(fill(&mut depth, MIB), 1);
        let mut depth = Depth::default();
        assert_eq!(fill(&mut depth, 300 * 1024), 4);
        assert!(depth.messages < DEPTH);
    }

    #[test]
    fn a_lane_full_of_large_messages_has_room_only_once_drained_to_half_its_bytes() {
        let mut depth = Depth::default();
        let pushed = fill(&mut depth, 300 * 1024);
        for _ in 0..pushed - 1 {
            assert!(!depth.has_room(), "resumed at {} bytes", depth.bytes);
            depth.pop(300 * 1024);
        }
        assert!(depth.has_room());
        assert_eq!(depth.bytes, 300 * 1024);
    }

    #[test]
    fn records_of_m_fill_a_lane_at_its_message_depth_and_have_room_at_half() {
        let mut depth = Depth::default();
        assert_eq!(fill(&mut depth, 250), DEPTH);
        while depth.messages > DEPTH / 2 {
            assert!(!depth.has_room());
            depth.pop(250);
        }
        assert!(depth.has_room());
    }

    #[test]
    fn a_lane_under_half_its_messages_but_not_its_bytes_stays_paused() {
        let mut depth = Depth::default();
        depth.push(MIB);
        for _ in 0..10 {
            depth.push(100);
        }
        assert!(depth.is_full());
        for _ in 0..10 {
            depth.pop(100);
        }
        assert!(!depth.has_room(), "one large message still fills it");
        depth.pop(MIB);
        assert!(depth.has_room());
        assert_eq!(depth, Depth::default());
    }
}
