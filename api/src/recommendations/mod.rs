//! Recommendations (SPEC §6): `GET /recommendation/{user_id}`, `POST /recommendation/generate`,
//! and the recommender that keeps its index fresh as records are stored.

mod index;
mod load;
pub(crate) mod routes;
mod tally;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use slipstream_model::{Coupon, Event, Id};

use crate::metrics::{self, Trigger};

pub use index::{Counts, Index, Micros, Pick, Reason, Recommendation, Strategy};
pub use load::{load, report_staleness, run_periodic_pass};
pub use routes::router;
pub use tally::{SportTally, Tally, Uncounted};

/// What a committed write or a periodic pass changes in the recommendations.
#[derive(Debug, Clone)]
pub enum Change {
    User(Id),
    /// `listed`: the event enters the rankings at once, unless its upload asked to wait for
    /// the next regeneration (`gen_recommendations=false`).
    Event {
        event: Event,
        listed: bool,
    },
    /// A new coupon, as its selections: each an event and the coupon's time.
    Coupon {
        user: Id,
        selections: Vec<(Id, Micros)>,
    },
    /// The periodic pass at `now`: ended events leave, held-back ones join.
    Refresh {
        now: Micros,
    },
}

impl Change {
    pub fn coupon(coupon: &Coupon) -> Self {
        let placed_at = coupon.timestamp.map_or(0, |t| t.timestamp_micros());
        Self::Coupon {
            user: coupon.user_id,
            selections: coupon.event_ids().map(|event| (event, placed_at)).collect(),
        }
    }
}

/// Users' tallies and events' popularity as the index counts them.
#[derive(Debug)]
pub struct Counted {
    pub tallies: Vec<(Id, Tally)>,
    pub popularity: Vec<(Id, u32)>,
}

/// The index behind a lock, absent until the first build from the database finished.
///
/// Readers share it; only the writer task changes it, after each commit and in commit order,
/// so it never shows a write that is not on disk, and a rebuild is put in place with the
/// writes committed since its snapshot applied on top.
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

    /// Applies what a group of writes committed, in its order, under one lock.
    pub(crate) fn apply(&self, changes: &[Change]) {
        let started = Instant::now();
        if let Some(index) = self.write().as_mut() {
            for change in changes {
                self.apply_one(index, change);
            }
        }
        let trigger = changes.iter().find_map(|change| match change {
            Change::Coupon { .. } => Some(Trigger::Coupon),
            Change::Event { .. } => Some(Trigger::Event),
            _ => None,
        });
        if let Some(trigger) = trigger {
            metrics::regenerated(trigger, started.elapsed());
        }
    }

    /// The index's counts of these users and events, to be written; `None` before the first
    /// build, when the index counts nothing yet.
    pub(crate) fn counts_of(&self, uncounted: &Uncounted) -> Option<Counted> {
        let guard = self.read();
        let index = guard.as_ref()?;
        Some(Counted {
            tallies: (uncounted.users.iter())
                .filter_map(|&user| Some((user, index.tally(user)?)))
                .collect(),
            popularity: (uncounted.events.iter())
                .filter_map(|&event| Some((event, index.popularity(event)?)))
                .collect(),
        })
    }

    /// The periodic pass: how many events ended and how many held-back ones joined; `None`
    /// before the first build.
    pub(crate) fn refresh(&self, now: Micros) -> Option<(usize, usize)> {
        let mut guard = self.write();
        Some(self.refresh_index(guard.as_mut()?, now))
    }

    /// Puts a rebuilt index in place, with `since` (what was committed after its snapshot)
    /// applied first.
    pub(crate) fn replace(&self, mut index: Index, since: &[Change]) {
        let mut guard = self.write();
        // The rebuild listed every held-back event; `since` may hold back new ones.
        self.caught_up();
        for change in since {
            self.apply_one(&mut index, change);
        }
        *guard = Some(index);
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

    fn apply_one(&self, index: &mut Index, change: &Change) {
        match change {
            Change::User(id) => index.add_user(*id),
            Change::Event { event, listed } => {
                index.add_event(event, *listed);
                if !listed {
                    // Under the index lock, so a periodic pass cannot list it in between.
                    // Only the first held-back event starts the clock.
                    let now = Utc::now().timestamp_micros();
                    let since = &self.held_back_since;
                    let _ = since.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                }
            }
            Change::Coupon { user, selections } => {
                index.add_selections(*user, selections.iter().copied());
            }
            Change::Refresh { now } => {
                self.refresh_index(index, *now);
            }
        }
    }

    fn refresh_index(&self, index: &mut Index, now: Micros) -> (usize, usize) {
        let refreshed = (index.prune_ended(now), index.list_pending(now));
        self.caught_up();
        refreshed
    }

    /// Called with the index write-locked, after every held-back event was listed.
    fn caught_up(&self) {
        self.held_back_since.store(0, Ordering::Relaxed);
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
