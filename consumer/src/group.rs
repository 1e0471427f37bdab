//! Whether this consumer is in its group with partitions to read: what its `/ready` tells.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::ClientContext;

/// Follows rebalances: ready once partitions are assigned, not while they are being moved.
#[derive(Debug, Clone, Default)]
pub struct GroupContext {
    assigned: Arc<AtomicBool>,
}

impl GroupContext {
    pub fn is_assigned(&self) -> bool {
        self.assigned.load(Ordering::Relaxed)
    }
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let assigned = matches!(rebalance, Rebalance::Assign(partitions) if partitions.count() > 0);
        self.assigned.store(assigned, Ordering::Relaxed);
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions assigned.")
            }
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = partitions.count(), "Partitions revoked.")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "Rebalance failed."),
        }
    }
}
