//! What the recommender needs of one user's coupons, in the form the database keeps it
//! (`user_bets.tally`), so that a rebuild reads one small row per user rather than every
//! selection.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use slipstream_model::Id;

use super::index::Micros;
use super::Change;

/// A user's bets: the events, and the selections per sport.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Every event the user bet on, ascending, without repeats.
    pub events: Vec<Id>,
    /// One entry per sport key, by key.
    pub sports: Vec<SportTally>,
}

/// `[sport_key, selections, latest]`: `latest` is the time of the user's most recent coupon
/// with a selection in the sport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SportTally(pub String, pub u32, pub Micros);

impl Tally {
    /// Counts one selection on `event` (of the sport `sport_key`) in a coupon placed at
    /// `placed_at`.
    pub fn add(&mut self, event: Id, sport_key: &str, placed_at: Micros) {
        if let Err(at) = self.events.binary_search(&event) {
            self.events.insert(at, event);
        }
        match self
            .sports
            .binary_search_by(|s| s.0.as_str().cmp(sport_key))
        {
            Ok(at) => {
                let sport = &mut self.sports[at];
                sport.1 += 1;
                sport.2 = sport.2.max(placed_at);
            }
            Err(at) => self
                .sports
                .insert(at, SportTally(sport_key.to_owned(), 1, placed_at)),
        }
    }
}

/// Coupons counted in the index but not in the stored counts yet, as the users and events
/// whose stored counts they change: what the writer writes when it writes the counts.
#[derive(Debug, Default)]
pub struct Uncounted {
    pub coupons: usize,
    pub users: BTreeSet<Id>,
    pub events: BTreeSet<Id>,
}

impl Uncounted {
    /// Notes a change the index applied; only coupons change counts.
    pub fn note(&mut self, change: &Change) {
        if let Change::Coupon { user, selections } = change {
            self.coupon(*user, selections.iter().map(|&(event, _)| event));
        }
    }

    pub fn coupon(&mut self, user: Id, events: impl IntoIterator<Item = Id>) {
        self.coupons += 1;
        self.users.insert(user);
        self.events.extend(events);
    }

    pub fn absorb(&mut self, other: Self) {
        self.coupons += other.coupons;
        self.users.extend(other.users);
        self.events.extend(other.events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_selections_per_sport_and_keeps_events_once_in_order() {
        let mut tally = Tally::default();
        tally.add(9, "tennis", 5);
        tally.add(3, "football", 7);
        tally.add(9, "tennis", 2);
        assert_eq!(tally.events, [3, 9]);
        assert_eq!(
            tally.sports,
            [
                SportTally("football".into(), 1, 7),
                SportTally("tennis".into(), 2, 5)
            ]
        );
        let json = serde_json::to_string(&tally).expect("serializes");
        assert_eq!(
            json,
            r#"{"events":[3,9],"sports":[["football",1,7],["tennis",2,5]]}"#
        );
        assert_eq!(serde_json::from_str::<Tally>(&json).ok(), Some(tally));
    }
}
