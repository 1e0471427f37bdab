//! Events in the weeks around `now`, and the per-sport popularity tables coupons draw from.

use std::ops::Range;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use slipstream_model::{Country, Event, Id};

use super::names::{roster, Entrant};
use super::sports::{Participants, SPORTS};

/// Days relative to `now` on which events begin: two months back to one month ahead, so about
/// a third of them have not ended and can still be recommended.
const DAYS: Range<i64> = -60..30;
/// Kick-offs fall on the quarter hour from 09:00 to 21:45 UTC.
const KICK_OFF_QUARTERS: Range<i64> = 36..88;
/// The event ranked `r` (from 0) in its sport draws bets in proportion to `1 / (r + OFFSET)`:
/// Zipf-like, with the offset flattening the very top so one match does not take every bet.
const POPULARITY_OFFSET: u64 = 5;
/// Integer weights keep the draw free of floating-point functions whose last bit may differ
/// between platforms.
const POPULARITY_SCALE: u64 = 1 << 40;

/// What coupon generation needs to know about the events once they are written.
pub struct Schedule {
    /// Indexed by `id - 1`.
    begins: Vec<DateTime<Utc>>,
    /// Indexed like [`SPORTS`].
    sports: Vec<SportBook>,
    /// Sports weighed by their number of events; `None` without events.
    by_size: Option<WeightedIndex<usize>>,
}

/// One sport's events, in popularity order, and the weights to draw them by.
struct SportBook {
    ids: Vec<Id>,
    popularity: Option<WeightedIndex<u64>>,
}

impl Schedule {
    /// A popular event of `sport`; `None` when the sport has no events.
    pub fn pick_in(&self, sport: usize, rng: &mut ChaCha8Rng) -> Option<Id> {
        let book = self.sports.get(sport)?;
        let popularity = book.popularity.as_ref()?;
        book.ids.get(popularity.sample(rng)).copied()
    }

    /// A popular event of any sport, the sports weighed by their number of events.
    pub fn pick_any(&self, rng: &mut ChaCha8Rng) -> Option<Id> {
        let sport = self.by_size.as_ref()?.sample(rng);
        self.pick_in(sport, rng)
    }

    pub fn begin(&self, id: Id) -> Option<DateTime<Utc>> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.begins.get(index).copied()
    }
}

/// Draws `count` events with ids 1..=count, and their schedule.
pub fn generate(
    rng: &mut ChaCha8Rng,
    count: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<Event>, Schedule)> {
    let rosters = rosters(rng)?;
    let sports =
        WeightedIndex::new(SPORTS.iter().map(|s| s.weight)).context("Failed to weigh sports")?;
    let day_zero = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    let mut events = Vec::with_capacity(count as usize);
    let mut ids_by_sport = vec![Vec::new(); SPORTS.len()];
    for id in (1..=count).map(Id::from) {
        let sport = sports.sample(rng);
        events.push(event(rng, id, sport, &rosters[sport], day_zero)?);
        ids_by_sport[sport].push(id);
    }
    let schedule = schedule(rng, &events, ids_by_sport)?;
    Ok((events, schedule))
}

/// Every league's entrants, indexed by sport, then league.
fn rosters(rng: &mut ChaCha8Rng) -> Result<Vec<Vec<Vec<Entrant>>>> {
    SPORTS
        .iter()
        .map(|sport| {
            sport
                .leagues
                .iter()
                .map(|league| roster(rng, sport, league))
                .collect()
        })
        .collect()
}

fn event(
    rng: &mut ChaCha8Rng,
    id: Id,
    sport: usize,
    rosters: &[Vec<Entrant>],
    day_zero: DateTime<Utc>,
) -> Result<Event> {
    let sport = &SPORTS[sport];
    let league = rng.random_range(0..sport.leagues.len());
    let entrants = &rosters[league];
    let home = rng.random_range(0..entrants.len());
    let away = (home + rng.random_range(1..entrants.len())) % entrants.len();
    let country = match sport.participants {
        Participants::Clubs(_) => Some(&entrants[home].country),
        Participants::Players => sport.leagues[league].countries.choose(rng),
    };
    let country = country.context("a league without countries")?;
    let begin = day_zero
        + TimeDelta::days(rng.random_range(DAYS))
        + TimeDelta::minutes(15 * rng.random_range(KICK_OFF_QUARTERS));
    let end = begin + TimeDelta::minutes(rng.random_range(sport.minutes.clone()));
    Ok(Event {
        id: Some(id),
        begin_timestamp: begin,
        end_timestamp: end,
        country: Country::parse(country).map_err(anyhow::Error::msg)?,
        league: sport.leagues[league].name.to_owned(),
        sport: sport.name.to_owned(),
        participants: [entrants[home].name.clone(), entrants[away].name.clone()],
    })
}

/// Ranks each sport's events in a random order, so popularity does not follow ids or dates.
fn schedule(
    rng: &mut ChaCha8Rng,
    events: &[Event],
    ids_by_sport: Vec<Vec<Id>>,
) -> Result<Schedule> {
    // Fails only when there are no events at all, and then nothing can be drawn.
    let by_size = WeightedIndex::new(ids_by_sport.iter().map(Vec::len)).ok();
    let mut sports = Vec::with_capacity(ids_by_sport.len());
    for mut ids in ids_by_sport {
        ids.shuffle(rng);
        let popularity = if ids.is_empty() {
            None
        } else {
            let ranks = 0..ids.len() as u64;
            let weights = ranks.map(|rank| POPULARITY_SCALE / (rank + POPULARITY_OFFSET));
            Some(WeightedIndex::new(weights).context("Failed to weigh events")?)
        };
        sports.push(SportBook { ids, popularity });
    }
    Ok(Schedule {
        begins: events.iter().map(|e| e.begin_timestamp).collect(),
        sports,
        by_size,
    })
}
