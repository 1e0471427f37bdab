//! Coupons: who bets, on which events, how much and when. Drawn one at a time, so a million
//! of them stream to disk without being held in memory.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, TimeDelta, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use slipstream_model::{Coupon, Id, Odds, Selection, Stake};

use super::events::Schedule;
use super::pick;
use super::users::Bettor;

/// How many selections a coupon holds: mostly singles to trebles, and about three on average,
/// as data set M's 3 M selections on 1 M coupons.
const SELECTION_COUNTS: &[(u32, usize)] = &[(20, 1), (25, 2), (20, 3), (20, 4), (15, 5)];
/// Out of ten selections, this many go to one of the user's favourite sports.
const FAVOURITE_SPORT_TENTHS: u32 = 9;
/// Draws per selection before a coupon settles for fewer selections: a small sport may not
/// hold enough distinct events.
const ATTEMPTS: usize = 16;
/// Bets are placed within this long before the first selected event begins.
const LEAD_TIME: TimeDelta = TimeDelta::days(7);
/// Round amounts most bettors type, in whole currency units.
const ROUND_STAKES: [i64; 10] = [1, 2, 3, 5, 10, 15, 20, 25, 50, 100];

pub struct Coupons<'a> {
    rng: ChaCha8Rng,
    bettors: &'a [Bettor],
    activity: WeightedIndex<u32>,
    schedule: &'a Schedule,
    now: DateTime<Utc>,
}

impl<'a> Coupons<'a> {
    pub fn new(
        rng: ChaCha8Rng,
        bettors: &'a [Bettor],
        schedule: &'a Schedule,
        now: DateTime<Utc>,
    ) -> Result<Self> {
        // When every user happens to be a non-bettor (a handful of users), all bet alike.
        let activity = WeightedIndex::new(bettors.iter().map(|b| b.activity))
            .or_else(|_| WeightedIndex::new(bettors.iter().map(|_| 1)))
            .context("Failed to weigh bettors: coupons need users")?;
        Ok(Self {
            rng,
            bettors,
            activity,
            schedule,
            now,
        })
    }

    pub fn coupon(&mut self, id: Id) -> Result<Coupon> {
        let index = self.activity.sample(&mut self.rng);
        let bettors = self.bettors;
        let bettor = &bettors[index];
        let selections = self.selections(bettor)?;
        let timestamp = self.placed_at(bettor, &selections);
        Ok(Coupon {
            id: Some(id),
            user_id: Id::try_from(index + 1).context("user id out of range")?,
            stake: Stake::from_cents(stake(&mut self.rng)).context("Failed to draw a stake")?,
            selections,
            timestamp: Some(timestamp),
        })
    }

    fn selections(&mut self, bettor: &Bettor) -> Result<Vec<Selection>> {
        let wanted = pick(&mut self.rng, SELECTION_COUNTS);
        let mut selections: Vec<Selection> = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            if let Some(event_id) = self.new_event(bettor, &selections) {
                let odds =
                    Odds::from_thousandths(odds(&mut self.rng)).context("Failed to draw odds")?;
                selections.push(Selection { event_id, odds });
            }
        }
        if selections.is_empty() {
            bail!("no events to bet on");
        }
        Ok(selections)
    }

    /// A popular event, mostly of a favourite sport, that the coupon does not hold yet.
    fn new_event(&mut self, bettor: &Bettor, taken: &[Selection]) -> Option<Id> {
        (0..ATTEMPTS).find_map(|_| {
            let rng = &mut self.rng;
            let event = if rng.random_ratio(FAVOURITE_SPORT_TENTHS, 10) {
                let sport = bettor.favourites.pick(rng);
                // A favourite sport without events (small data sets) falls back to any.
                self.schedule
                    .pick_in(sport, rng)
                    .or_else(|| self.schedule.pick_any(rng))
            } else {
                self.schedule.pick_any(rng)
            };
            event.filter(|id| taken.iter().all(|s| s.event_id != *id))
        })
    }

    /// In the week before the first selected event begins, never before the user registered
    /// nor after `now`; any time since registration when that leaves no room.
    fn placed_at(&mut self, bettor: &Bettor, selections: &[Selection]) -> DateTime<Utc> {
        let first_begin = selections
            .iter()
            .filter_map(|s| self.schedule.begin(s.event_id))
            .min()
            .unwrap_or(self.now);
        let latest = first_begin.min(self.now);
        let earliest = (latest - LEAD_TIME).max(bettor.registered);
        let (from, to) = if earliest < latest {
            (earliest, latest)
        } else {
            (bettor.registered, self.now)
        };
        let seconds = (to - from).num_seconds().max(1);
        from + TimeDelta::seconds(self.rng.random_range(0..seconds))
    }
}

/// Cents: mostly a round amount or a few units, rarely thousands, and once in a thousand
/// coupons a high roller's, up to the model's limit of 1,000,000.
fn stake(rng: &mut ChaCha8Rng) -> i64 {
    match rng.random_range(0..1_000) {
        0..600 => 100 * ROUND_STAKES[rng.random_range(0..ROUND_STAKES.len())],
        600..900 => rng.random_range(10..=5_000),
        900..990 => 100 * rng.random_range(50..=1_000),
        990..999 => 100 * rng.random_range(1_000..=20_000),
        _ => 100 * rng.random_range(20_000..=1_000_000),
    }
}

/// Thousandths: the price of an outcome with an implied probability of 5 to 99 %, so
/// 1.01 to 20; mostly quoted to two decimals, one in ten to three.
fn odds(rng: &mut ChaCha8Rng) -> i64 {
    let thousandths = 1_000_000 / rng.random_range(50..=990);
    if rng.random_ratio(1, 10) {
        thousandths
    } else {
        thousandths / 10 * 10
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn odds_span_1_01_to_20_with_at_most_three_decimals() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let drawn: Vec<i64> = (0..100_000).map(|_| odds(&mut rng)).collect();
        assert!(drawn.iter().all(|o| (1_010..=20_000).contains(o)));
        assert_eq!(drawn.iter().min(), Some(&1_010));
        assert!(
            drawn.iter().any(|o| o % 10 != 0),
            "some have three decimals"
        );
    }

    #[test]
    fn stakes_are_mostly_small_with_a_long_tail_within_the_limit() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut drawn: Vec<i64> = (0..100_000).map(|_| stake(&mut rng)).collect();
        drawn.sort_unstable();
        assert!(drawn[0] > 0 && drawn[drawn.len() - 1] <= 100_000_000);
        assert!(drawn[drawn.len() / 2] <= 2_000, "median at most 20");
        assert!(
            drawn[drawn.len() - 50] >= 2_000_000,
            "a tail of 20,000 and more"
        );
    }
}
