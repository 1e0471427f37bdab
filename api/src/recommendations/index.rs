//! The recommender's in-memory index (SPEC §6).
//!
//! A user's list depends on the user only through their favourite sport and the events they
//! already bet on. So the index keeps what is shared — every sport's not-ended events ranked
//! by popularity, and the same ranking over all sports — and per user only their bets and
//! per-sport selection counts. A request walks the shared ranking of the user's favourite
//! sport, skipping what the user bet on: work of `limit` plus the user's own bets, never of
//! all users. An event upload is one insertion into two rankings; a coupon moves each of its
//! events in them. Nothing is recomputed per user, and every answer is fresh.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use slipstream_model::{Event, Id};

use super::tally::{SportTally, Tally};

/// Timestamps as microseconds since the epoch, as the database keeps them.
pub type Micros = i64;

type SportId = usize;

/// The order of SPEC §6: popularity descending, then `begin_timestamp`, then id ascending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    popularity: Reverse<u32>,
    begin: Micros,
    id: Id,
}

#[derive(Debug)]
struct EventEntry {
    /// The event as the api answers it, serialized once: answers are read far more often
    /// than events change.
    json: Arc<str>,
    sport: SportId,
    begin: Micros,
    end: Micros,
    /// Coupons with a selection on this event.
    popularity: u32,
    /// In the rankings: not pruned as ended, and not held back by `gen_recommendations=false`.
    listed: bool,
}

impl EventEntry {
    fn rank(&self, id: Id) -> Rank {
        Rank {
            popularity: Reverse(self.popularity),
            begin: self.begin,
            id,
        }
    }
}

#[derive(Debug, Default)]
struct UserEntry {
    /// Events the user bet on, sorted, without repeats; empty for a user without coupons.
    bets: Vec<Id>,
    sports: Vec<SportStat>,
}

/// One sport in one user's coupons.
#[derive(Debug, Clone, Copy)]
struct SportStat {
    sport: SportId,
    selections: u32,
    /// Timestamp of the user's most recent coupon with a selection in this sport.
    latest: Micros,
}

/// Why an event is in a user's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    FavouriteSport,
    Popular,
}

/// How a user's list was made: from their favourite sport, or (no coupons yet) only popular.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    FavouriteSport,
    Popular,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub id: Id,
    /// The event's JSON object.
    pub event: Arc<str>,
    pub reason: Reason,
    pub popularity: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub strategy: Strategy,
    /// The sport's key: lower case, as sports group case-insensitively.
    pub favourite_sport: Option<String>,
    pub picks: Vec<Pick>,
}

/// What the index holds, for the answer of a rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub users: usize,
    pub events: usize,
}

#[derive(Debug, Default)]
pub struct Index {
    sport_ids: HashMap<String, SportId>,
    sport_keys: Vec<String>,
    events: HashMap<Id, EventEntry>,
    by_sport: Vec<BTreeSet<Rank>>,
    popular: BTreeSet<Rank>,
    users: HashMap<Id, UserEntry>,
}

impl Index {
    pub fn add_user(&mut self, id: Id) {
        self.users.entry(id).or_default();
    }

    /// Adds a stored event; `listed` puts it in the rankings now, otherwise it waits for
    /// [`Index::list_pending`].
    pub fn add_event(&mut self, event: &Event, listed: bool) {
        let Some(id) = event.id.filter(|id| !self.events.contains_key(id)) else {
            return;
        };
        let sport = self.sport_id(&event.sport_key());
        let entry = EventEntry {
            json: serde_json::to_string(event).unwrap_or_default().into(),
            sport,
            begin: event.begin_timestamp.timestamp_micros(),
            end: event.end_timestamp.timestamp_micros(),
            popularity: 0,
            listed: false,
        };
        self.events.insert(id, entry);
        if listed {
            self.list(id);
        }
    }

    /// Adds a stored event with its stored popularity, held back until
    /// [`Index::list_pending`]: how a rebuild adds events.
    pub fn load_event(&mut self, event: &Event, popularity: u32) {
        self.add_event(event, false);
        if let Some(entry) = event.id.and_then(|id| self.events.get_mut(&id)) {
            entry.popularity = popularity;
        }
    }

    /// Adds a user with their stored tally: how a rebuild adds users. The tally's events
    /// need not have been added.
    pub fn load_user(&mut self, id: Id, tally: Tally) {
        let mut bets = tally.events;
        // The index relies on the order; the column is only trusted for its content.
        bets.sort_unstable();
        bets.dedup();
        let sports = tally
            .sports
            .iter()
            .map(|SportTally(key, selections, latest)| SportStat {
                sport: self.sport_id(key),
                selections: *selections,
                latest: *latest,
            })
            .collect();
        self.users.insert(id, UserEntry { bets, sports });
    }

    /// Counts a user's selections, each an event and the time of its coupon: the events get
    /// more popular, the user's bets and sports grow. A stored coupon comes as its selections;
    /// a rebuild may bring all of a user's selections at once. Events must have been added
    /// first (the database's foreign keys see to that).
    pub fn add_selections(
        &mut self,
        user_id: Id,
        selections: impl IntoIterator<Item = (Id, Micros)>,
    ) {
        let mut counted = Vec::new();
        for (event_id, placed_at) in selections {
            if let Some(sport) = self.count_selection(event_id) {
                counted.push((event_id, sport, placed_at));
            }
        }
        let user = self.users.entry(user_id).or_default();
        for (event_id, sport, placed_at) in counted {
            if let Err(at) = user.bets.binary_search(&event_id) {
                user.bets.insert(at, event_id);
            }
            match user.sports.iter_mut().find(|s| s.sport == sport) {
                Some(stat) => {
                    stat.selections += 1;
                    stat.latest = stat.latest.max(placed_at);
                }
                None => user.sports.push(SportStat {
                    sport,
                    selections: 1,
                    latest: placed_at,
                }),
            }
        }
    }

    /// Lists every event still held back that has not ended.
    pub fn list_pending(&mut self, now: Micros) -> usize {
        let pending: Vec<Id> = self
            .events
            .iter()
            .filter(|(_, e)| !e.listed && e.end > now)
            .map(|(&id, _)| id)
            .collect();
        for &id in &pending {
            self.list(id);
        }
        pending.len()
    }

    /// Takes ended events out of the rankings, so walks over them stay short. Answers are
    /// exact without it: a walk skips ended events anyway.
    pub fn prune_ended(&mut self, now: Micros) -> usize {
        let ended: Vec<Id> = self
            .events
            .iter()
            .filter(|(_, e)| e.listed && e.end <= now)
            .map(|(&id, _)| id)
            .collect();
        for &id in &ended {
            if let Some(entry) = self.events.get_mut(&id) {
                entry.listed = false;
                let (rank, sport) = (entry.rank(id), entry.sport);
                self.by_sport[sport].remove(&rank);
                self.popular.remove(&rank);
            }
        }
        ended.len()
    }

    /// The user's tally as the index counts it; `None` for a user without coupons.
    pub fn tally(&self, user_id: Id) -> Option<Tally> {
        let user = self.users.get(&user_id).filter(|u| !u.bets.is_empty())?;
        let mut sports: Vec<SportTally> = user
            .sports
            .iter()
            .map(|s| SportTally(self.sport_keys[s.sport].clone(), s.selections, s.latest))
            .collect();
        sports.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Some(Tally {
            events: user.bets.clone(),
            sports,
        })
    }

    /// The event's popularity as the index counts it; `None` for an event it does not know.
    pub fn popularity(&self, event_id: Id) -> Option<u32> {
        self.events.get(&event_id).map(|e| e.popularity)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            users: self.users.len(),
            events: self.events.len(),
        }
    }

    /// The user's top `limit` events as of `now`; `None` for a user the index does not know.
    pub fn recommend(&self, user_id: Id, limit: usize, now: Micros) -> Option<Recommendation> {
        let user = self.users.get(&user_id)?;
        let favourite = self.favourite_sport(user);
        let mut picks = Vec::with_capacity(limit);
        if let Some(sport) = favourite {
            self.take(
                &self.by_sport[sport],
                user,
                now,
                limit,
                Reason::FavouriteSport,
                &mut picks,
            );
        }
        self.take(&self.popular, user, now, limit, Reason::Popular, &mut picks);
        Some(Recommendation {
            strategy: if user.bets.is_empty() {
                Strategy::Popular
            } else {
                Strategy::FavouriteSport
            },
            favourite_sport: favourite.map(|s| self.sport_keys[s].clone()),
            picks,
        })
    }

    /// Most selections; ties to the sport of the most recent coupon among them, then
    /// alphabetical.
    fn favourite_sport(&self, user: &UserEntry) -> Option<SportId> {
        user.sports
            .iter()
            .max_by(|a, b| {
                (a.selections, a.latest)
                    .cmp(&(b.selections, b.latest))
                    .then_with(|| self.sport_keys[b.sport].cmp(&self.sport_keys[a.sport]))
            })
            .map(|s| s.sport)
    }

    fn take(
        &self,
        ranking: &BTreeSet<Rank>,
        user: &UserEntry,
        now: Micros,
        limit: usize,
        reason: Reason,
        picks: &mut Vec<Pick>,
    ) {
        for rank in ranking {
            if picks.len() >= limit {
                return;
            }
            let Some(entry) = self.events.get(&rank.id) else {
                continue;
            };
            let chosen = entry.end > now
                && user.bets.binary_search(&rank.id).is_err()
                && !picks.iter().any(|p| p.id == rank.id);
            if chosen {
                picks.push(Pick {
                    id: rank.id,
                    event: entry.json.clone(),
                    reason,
                    popularity: entry.popularity,
                });
            }
        }
    }

    fn sport_id(&mut self, key: &str) -> SportId {
        if let Some(&id) = self.sport_ids.get(key) {
            return id;
        }
        let id = self.sport_keys.len();
        self.sport_ids.insert(key.to_owned(), id);
        self.sport_keys.push(key.to_owned());
        self.by_sport.push(BTreeSet::new());
        id
    }

    /// One more coupon on the event: re-ranks it where it is listed. Returns its sport.
    fn count_selection(&mut self, id: Id) -> Option<SportId> {
        let entry = self.events.get_mut(&id)?;
        let (old, sport, listed) = (entry.rank(id), entry.sport, entry.listed);
        entry.popularity += 1;
        let new = entry.rank(id);
        if listed {
            reposition(&mut self.by_sport[sport], old, new);
            reposition(&mut self.popular, old, new);
        }
        Some(sport)
    }

    fn list(&mut self, id: Id) {
        let Some(entry) = self.events.get_mut(&id) else {
            return;
        };
        if entry.listed {
            return;
        }
        entry.listed = true;
        let (rank, sport) = (entry.rank(id), entry.sport);
        self.by_sport[sport].insert(rank);
        self.popular.insert(rank);
    }
}

fn reposition(ranking: &mut BTreeSet<Rank>, old: Rank, new: Rank) {
    if old.cmp(&new) != Ordering::Equal && ranking.remove(&old) {
        ranking.insert(new);
    }
}
