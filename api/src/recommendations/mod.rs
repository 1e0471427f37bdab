//! Recommendations (SPEC §6): `GET /recommendation/{user_id}`, `POST /recommendation/generate`,
//! and the recommender that keeps its index fresh as records are stored.

mod index;
mod load;
pub(crate) mod routes;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use slipstream_model::{Coupon, Event, Id};

use crate::metrics::{self, Trigger};

pub use index::{Counts, Index, Pick, Reason, Recommendation, Strategy};
pub use load::{rebuild, report_staleness, run_periodic_pass};
pub use routes::router;

/// The index behind a lock, absent until the first build from the database finished.
///
/// Updates happen while the store still holds its write connection, so they reach the index
/// in commit order, and a rebuild (which holds that connection while it reads) never misses
/// or double-counts a write.
#[derive(Debug, Default)]
pub struct Recommender {
    index: RwLock<Option<Index>>,
    /// When the oldest event held back by `gen_recommendations=false` was stored (Unix
    /// microseconds, 0 when none is): everything else is reflected as soon as it is stored.
    held_back_since: AtomicI64,
}

impl Recommender {
    pub fn is_ready(&self) -> bool {
        self.read().is_some()
    }

    /// The user's list; `Err` while the first build is still running.
    pub fn recommend(
        &self,
        user: Id,
        limit: usize,
        now: DateTime<Utc>,
    ) -> Result<Option<Recommendation>, NotReady> {
        let guard = self.read();
        let index = guard.as_ref().ok_or(NotReady)?;
        Ok(index.recommend(user, limit, now.timestamp_micros()))
    }

    pub fn user_stored(&self, id: Id) {
        self.update(|index| index.add_user(id));
    }

    /// A new event enters the rankings at once unless its upload asked to wait for the next
    /// regeneration (`gen_recommendations=false`).
    pub fn event_stored(&self, event: &Event, listed: bool) {
        let started = Instant::now();
        self.update(|index| {
            index.add_event(event, listed);
            if !listed {
                // Under the index lock, so a periodic pass cannot list it in between. Only
                // the first held-back event starts the clock.
                let now = Utc::now().timestamp_micros();
                let since = &self.held_back_since;
                let _ = since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
            }
        });
        metrics::regenerated(Trigger::Event, started.elapsed());
    }

    pub fn coupon_stored(&self, coupon: &Coupon) {
        let started = Instant::now();
        let placed_at = coupon.timestamp.map_or(0, |t| t.timestamp_micros());
        let selections = coupon.event_ids().map(|event| (event, placed_at));
        self.update(|index| index.add_selections(coupon.user_id, selections));
        metrics::regenerated(Trigger::Coupon, started.elapsed());
    }

    /// How long the oldest stored change the recommendations do not reflect yet has waited.
    pub fn staleness(&self, now: DateTime<Utc>) -> Duration {
        match self.held_back_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => {
                Duration::from_micros(now.timestamp_micros().saturating_sub(since).max(0) as u64)
            }
        }
    }

    /// Called with the index write-locked, after every held-back event was listed.
    fn caught_up(&self) {
        self.held_back_since.store(0, Ordering::Relaxed);
    }

    fn replace(&self, index: Index) {
        let mut guard = self.write();
        *guard = Some(index);
        self.caught_up();
    }

    fn update(&self, change: impl FnOnce(&mut Index)) {
        if let Some(index) = self.write().as_mut() {
            change(index);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Index>> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Index>> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The first build from the database has not finished yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;
