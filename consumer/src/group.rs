//! Membership of the consumer group: whether this consumer has partitions to read (what its
//! `/ready` tells), and which partitions it just lost (their lanes must stop).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Statistics};
use tokio::sync::mpsc;

use crate::metrics;

/// Follows rebalances: ready once partitions are assigned, not while they are being moved.
#[derive(Debug, Clone)]
pub struct GroupContext {
    assigned: Arc<AtomicBool>,
    revoked: mpsc::UnboundedSender<Vec<i32>>,
}

impl GroupContext {
    /// The context, and where the partitions revoked from this consumer are announced. The
    /// announcement is sent while the consumer is being polled, so it is waiting before the
    /// poll returns any message of the next assignment.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Vec<i32>>) {
        let (revoked, announcements) = mpsc::unbounded_channel();
        let context = Self {
            assigned: Arc::default(),
            revoked,
        };
        (context, announcements)
    }

    pub fn is_assigned(&self) -> bool {
        self.assigned.load(Ordering::Relaxed)
    }
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        metrics::lag(&statistics);
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let assigned = matches!(rebalance, Rebalance::Assign(partitions) if partitions.count() > 0);
        self.assigned.store(assigned, Ordering::Relaxed);
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions assigned.")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions revoked.");
                let lost = partitions
                    .elements()
                    .iter()
                    .map(|p| p.partition())
                    .collect();
                // The receiver is gone only once the consume loop has ended.
                let _ = self.revoked.send(lost);
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Rebalance failed."),
        }
    }
}
