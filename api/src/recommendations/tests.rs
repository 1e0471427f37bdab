//! The recommender against SPEC §6: a hand-computed scenario per rule, and a property test
//! comparing the index with a plain reference written straight from the definition.

use std::collections::{HashMap, HashSet};

use chrono::DateTime;
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use slipstream_model::{Country, Event, Id};

use super::index::{Index, Micros, Reason, Strategy};
use super::{Change, Tally};

const HOUR: Micros = 3_600_000_000;
const NOW: Micros = 1_800_000_000_000_000;

fn event(id: Id, sport: &str, begin: Micros, end: Micros) -> Event {
    Event {
        id: Some(id),
        begin_timestamp: DateTime::from_timestamp_micros(begin).expect("valid"),
        end_timestamp: DateTime::from_timestamp_micros(end).expect("valid"),
        country: Country::parse("GB").expect("valid"),
        league: "League".into(),
        sport: sport.into(),
        participants: [format!("Home {id}"), format!("Away {id}")],
    }
}

/// An event of `sport` that begins `hours` from now and lasts two hours.
fn upcoming(id: Id, sport: &str, hours: i64) -> Event {
    event(id, sport, NOW + hours * HOUR, NOW + (hours + 2) * HOUR)
}

struct Scenario {
    index: Index,
}

impl Scenario {
    fn new(events: &[Event]) -> Self {
        let mut index = Index::default();
        for id in 1..=9 {
            index.add_user(id);
        }
        for event in events {
            index.add_event(event, true);
        }
        Self { index }
    }

    /// A coupon of `user` at `at` (hours before now) on `events`.
    fn bet(&mut self, user: Id, at: i64, events: &[Id]) -> &mut Self {
        self.index
            .add_selections(user, events.iter().map(|&e| (e, NOW - at * HOUR)));
        self
    }

    fn ids(&self, user: Id, limit: usize) -> Vec<Id> {
        let answer = self.index.recommend(user, limit, NOW).expect("known user");
        answer.picks.iter().map(|p| p.id).collect()
    }

    fn favourite(&self, user: Id) -> Option<String> {
        self.index
            .recommend(user, 3, NOW)
            .expect("known user")
            .favourite_sport
    }
}

#[test]
fn the_favourite_sport_has_the_most_selections() {
    let mut s = Scenario::new(&[
        upcoming(1, "tennis", 1),
        upcoming(2, "football", 1),
        upcoming(3, "football", 2),
    ]);
    s.bet(1, 1, &[1]).bet(1, 5, &[2, 3]);
    assert_eq!(s.favourite(1).as_deref(), Some("football"));
}

#[test]
fn a_tie_goes_to_the_sport_of_the_most_recent_coupon() {
    let mut s = Scenario::new(&[upcoming(1, "tennis", 1), upcoming(2, "football", 1)]);
    s.bet(1, 5, &[1]).bet(1, 1, &[2]);
    assert_eq!(s.favourite(1).as_deref(), Some("football"));
    s.bet(2, 1, &[1]).bet(2, 5, &[2]);
    assert_eq!(s.favourite(2).as_deref(), Some("tennis"));
}

#[test]
fn a_tie_within_one_coupon_goes_alphabetically() {
    let mut s = Scenario::new(&[
        upcoming(1, "tennis", 1),
        upcoming(2, "football", 1),
        upcoming(3, "golf", 1),
    ]);
    s.bet(1, 1, &[1, 2]).bet(1, 9, &[3]);
    assert_eq!(s.favourite(1).as_deref(), Some("football"));
}

#[test]
fn sports_group_case_insensitively() {
    let mut s = Scenario::new(&[
        upcoming(1, "Football", 1),
        upcoming(2, "football", 1),
        upcoming(3, "tennis", 1),
        upcoming(4, "football", 3),
    ]);
    s.bet(1, 1, &[3]).bet(1, 2, &[1]).bet(1, 3, &[2]);
    assert_eq!(s.favourite(1).as_deref(), Some("football"));
    assert_eq!(s.ids(1, 1), [4]);
}

#[test]
fn candidates_rank_by_popularity_then_begin_then_id() {
    let events = [
        upcoming(1, "football", 5),
        upcoming(2, "football", 3),
        upcoming(3, "football", 3),
        upcoming(4, "football", 1),
        upcoming(9, "football", 9),
    ];
    let mut s = Scenario::new(&events);
    s.bet(1, 1, &[9]);
    // Popularity: event 1 twice, events 2, 3, 4 not at all (other users' bets only count).
    s.bet(2, 1, &[1]).bet(3, 1, &[1]);
    assert_eq!(s.ids(1, 4), [1, 4, 2, 3]);
}

#[test]
fn events_bet_on_or_ended_are_never_recommended() {
    let ended = event(2, "football", NOW - 3 * HOUR, NOW - HOUR);
    let ends_now = event(3, "football", NOW - 2 * HOUR, NOW);
    let running = event(4, "football", NOW - HOUR, NOW + HOUR);
    let mut s = Scenario::new(&[
        upcoming(1, "football", 1),
        ended,
        ends_now,
        running,
        upcoming(5, "football", 2),
    ]);
    s.bet(1, 1, &[5]);
    assert_eq!(s.ids(1, 10), [4, 1]);
}

#[test]
fn fewer_candidates_are_filled_with_popular_events_of_any_sport() {
    let mut s = Scenario::new(&[
        upcoming(1, "football", 1),
        upcoming(2, "tennis", 1),
        upcoming(3, "golf", 1),
        upcoming(4, "golf", 2),
    ]);
    s.bet(1, 1, &[1])
        .bet(2, 1, &[4])
        .bet(3, 1, &[4])
        .bet(4, 1, &[3]);
    s.index.add_event(&upcoming(5, "football", 4), true);
    let answer = s.index.recommend(1, 3, NOW).expect("known");
    let picks: Vec<(Id, Reason, u32)> = answer
        .picks
        .iter()
        .map(|p| (p.id, p.reason, p.popularity))
        .collect();
    assert_eq!(
        picks,
        [
            (5, Reason::FavouriteSport, 0),
            (4, Reason::Popular, 2),
            (3, Reason::Popular, 1)
        ]
    );
    assert_eq!(answer.strategy, Strategy::FavouriteSport);
}

#[test]
fn a_user_without_coupons_gets_the_popular_cold_start() {
    let mut s = Scenario::new(&[upcoming(1, "football", 1), upcoming(2, "tennis", 1)]);
    s.bet(2, 1, &[2]);
    let answer = s.index.recommend(1, 3, NOW).expect("known");
    assert_eq!(
        (answer.strategy, answer.favourite_sport),
        (Strategy::Popular, None)
    );
    assert_eq!(s.ids(1, 3), [2, 1]);
    assert!(answer.picks.iter().all(|p| p.reason == Reason::Popular));
}

#[test]
fn an_unknown_user_has_no_recommendation() {
    assert!(Scenario::new(&[]).index.recommend(42, 3, NOW).is_none());
}

#[test]
fn the_limit_caps_the_list() {
    let events: Vec<Event> = (1..=60).map(|id| upcoming(id, "football", id)).collect();
    let s = Scenario::new(&events);
    assert_eq!(s.ids(1, 1), [1]);
    assert_eq!(s.ids(1, 50).len(), 50);
}

#[test]
fn an_event_held_back_appears_once_listed_and_ended_events_can_be_pruned() {
    let mut s = Scenario::new(&[upcoming(1, "football", 1)]);
    s.index.add_event(&upcoming(2, "football", 0), false);
    s.index
        .add_event(&event(3, "football", NOW - 3 * HOUR, NOW - HOUR), true);
    assert_eq!(s.ids(1, 5), [1]);
    assert_eq!(s.index.list_pending(NOW), 1);
    assert_eq!(s.ids(1, 5), [2, 1]);
    assert_eq!(s.index.prune_ended(NOW), 1);
    assert_eq!(s.ids(1, 5), [2, 1]);
}

#[test]
fn staleness_runs_from_the_first_held_back_event_until_a_rebuild() {
    use std::time::Duration;

    let stored = |id, listed| Change::Event {
        event: upcoming(id, "football", 1),
        listed,
    };
    let recommender = super::Recommender::default();
    recommender.replace(Index::default(), &[]);
    let later = |secs| chrono::Utc::now() + chrono::Duration::seconds(secs);
    recommender.apply(&[stored(1, true)]);
    assert_eq!(recommender.staleness(later(5)), Duration::ZERO);
    recommender.apply(&[stored(2, false), stored(3, false)]);
    let stale = recommender.staleness(later(5));
    assert!(stale >= Duration::from_secs(4) && stale <= Duration::from_secs(6));
    recommender.replace(Index::default(), &[]);
    assert_eq!(recommender.staleness(later(5)), Duration::ZERO);
    recommender.replace(Index::default(), &[stored(4, false)]);
    assert!(
        recommender.staleness(later(5)) >= Duration::from_secs(4),
        "an event held back after the snapshot is still held back"
    );
}

// ---- The property test ----------------------------------------------------------------

#[derive(Debug, Clone)]
struct Data {
    users: Vec<Id>,
    events: Vec<Event>,
    /// (user, timestamp, events) in upload order.
    coupons: Vec<(Id, Micros, Vec<Id>)>,
}

const SPORTS: [&str; 4] = ["football", "Football", "tennis", "golf"];

fn data() -> impl proptest::strategy::Strategy<Value = Data> {
    let event_shape = (0..SPORTS.len(), -4i64..6, 1i64..4);
    (1usize..6, prop::collection::vec(event_shape, 1..14)).prop_flat_map(|(users, events)| {
        let event_count = events.len() as Id;
        let coupon = (
            1..=users as Id,
            0i64..4,
            prop::collection::btree_set(1..=event_count, 1..=events.len().min(3)),
        );
        (
            Just(users),
            Just(events),
            prop::collection::vec(coupon, 0..25),
        )
            .prop_map(|(users, events, coupons)| Data {
                users: (1..=users as Id).collect(),
                events: events
                    .iter()
                    .enumerate()
                    .map(|(i, &(sport, begin, hours))| {
                        event(
                            i as Id + 1,
                            SPORTS[sport],
                            NOW + begin * HOUR,
                            NOW + (begin + hours) * HOUR,
                        )
                    })
                    .collect(),
                coupons: coupons
                    .into_iter()
                    .map(|(user, at, events)| (user, NOW - at * HOUR, events.into_iter().collect()))
                    .collect(),
            })
    })
}

type Answer = (Strategy, Option<String>, Vec<(Id, Reason, u32)>);

/// SPEC §6 read literally, with no thought for speed.
fn reference(data: &Data, user: Id, limit: usize) -> Answer {
    let sport_of = |id: Id| {
        data.events
            .iter()
            .find(|e| e.id == Some(id))
            .map(|e| e.sport_key())
            .expect("event")
    };
    let popularity = |id: Id| {
        data.coupons
            .iter()
            .filter(|(_, _, events)| events.contains(&id))
            .count() as u32
    };
    let mine: Vec<&(Id, Micros, Vec<Id>)> =
        data.coupons.iter().filter(|(u, _, _)| *u == user).collect();
    let bet: HashSet<Id> = mine
        .iter()
        .flat_map(|(_, _, events)| events.iter().copied())
        .collect();
    let mut selections: HashMap<String, (u32, Micros)> = HashMap::new();
    for (_, at, events) in &mine {
        for &id in events {
            let stat = selections.entry(sport_of(id)).or_insert((0, Micros::MIN));
            stat.0 += 1;
            stat.1 = stat.1.max(*at);
        }
    }
    let favourite = selections
        .iter()
        .min_by(|(a, (ca, la)), (b, (cb, lb))| cb.cmp(ca).then(lb.cmp(la)).then(a.cmp(b)))
        .map(|(sport, _)| sport.clone());
    let mut open: Vec<&Event> = data
        .events
        .iter()
        .filter(|e| e.end_timestamp.timestamp_micros() > NOW && !bet.contains(&e.id.expect("id")))
        .collect();
    open.sort_by_key(|e| {
        (
            std::cmp::Reverse(popularity(e.id.expect("id"))),
            e.begin_timestamp,
            e.id,
        )
    });
    let mut picks: Vec<(Id, Reason, u32)> = open
        .iter()
        .filter(|e| Some(e.sport_key()) == favourite)
        .take(limit)
        .map(|e| {
            (
                e.id.expect("id"),
                Reason::FavouriteSport,
                popularity(e.id.expect("id")),
            )
        })
        .collect();
    for e in &open {
        let id = e.id.expect("id");
        if picks.len() < limit && !picks.iter().any(|(p, _, _)| *p == id) {
            picks.push((id, Reason::Popular, popularity(id)));
        }
    }
    let strategy = if mine.is_empty() {
        Strategy::Popular
    } else {
        Strategy::FavouriteSport
    };
    (strategy, favourite, picks)
}

fn answer(index: &Index, user: Id, limit: usize) -> Answer {
    parts(index.recommend(user, limit, NOW).expect("known user"))
}

fn parts(r: super::Recommendation) -> Answer {
    let picks = r
        .picks
        .iter()
        .map(|p| (p.id, p.reason, p.popularity))
        .collect();
    (r.strategy, r.favourite_sport, picks)
}

/// As uploads build it: users, then events and coupons as they arrive.
fn incremental(data: &Data) -> Index {
    let mut index = Index::default();
    data.users.iter().for_each(|&u| index.add_user(u));
    for (i, event) in data.events.iter().enumerate() {
        index.add_event(event, true);
        // Interleave: coupons whose events all exist by now arrive between events.
        if i == data.events.len() / 2 {
            index.prune_ended(NOW);
        }
    }
    for (user, at, events) in &data.coupons {
        index.add_selections(*user, events.iter().map(|&e| (e, *at)));
    }
    index
}

/// The writes of the data as the writer applies them: users, events, then coupons.
fn changes(data: &Data) -> Vec<Change> {
    let users = data.users.iter().map(|&u| Change::User(u));
    let events = data.events.iter().map(|e| Change::Event {
        event: e.clone(),
        listed: true,
    });
    let coupons = data
        .coupons
        .iter()
        .map(|(user, at, events)| Change::Coupon {
            user: *user,
            selections: events.iter().map(|&e| (e, *at)).collect(),
        });
    users.chain(events).chain(coupons).collect()
}

/// As a rebuild makes it from what the database counted of these writes: each event's
/// popularity and each user's tally, the rankings built last.
fn loaded(changes: &[Change]) -> Index {
    let mut events: Vec<(&Event, u32)> = Vec::new();
    let mut users: Vec<(Id, Tally)> = Vec::new();
    for change in changes {
        match change {
            Change::User(id) => users.push((*id, Tally::default())),
            Change::Event { event, .. } => events.push((event, 0)),
            Change::Coupon { user, selections } => {
                for &(id, at) in selections {
                    let (event, popularity) = events
                        .iter_mut()
                        .find(|(e, _)| e.id == Some(id))
                        .expect("events come first");
                    *popularity += 1;
                    let tally = &mut users.iter_mut().find(|(u, _)| u == user).expect("known").1;
                    tally.add(id, &event.sport_key(), at);
                }
            }
            Change::Refresh { .. } => {}
        }
    }
    let mut index = Index::default();
    // Another order than the writes came in.
    for (event, popularity) in events.into_iter().rev() {
        index.load_event(event, popularity);
    }
    for (user, tally) in users.into_iter().rev() {
        index.load_user(user, tally);
    }
    index.list_pending(NOW);
    index
}

/// A rebuild from a snapshot taken after `split` of the writes, put in place with the rest
/// applied on top, as the writer does while writes go on during a rebuild.
fn rebuilt_during_writes(changes: &[Change], split: usize) -> super::Recommender {
    let recommender = super::Recommender::default();
    recommender.replace(loaded(&changes[..split]), &changes[split..]);
    recommender
}

/// A rebuild after the writer wrote its counts once, after `counted` of the writes: the
/// stored counts are the index's at that point (for the users and events those writes
/// touched), and the coupons after it are listed as uncounted and recounted on top.
fn recounted(changes: &[Change], counted: usize) -> Index {
    let written = super::Recommender::default();
    written.replace(Index::default(), &changes[..counted]);
    let mut uncounted = super::Uncounted::default();
    changes[..counted].iter().for_each(|c| uncounted.note(c));
    let stored = written.counts_of(&uncounted).expect("built");
    let mut index = Index::default();
    for change in changes {
        match change {
            Change::Event { event, .. } => {
                let popularity = stored
                    .popularity
                    .iter()
                    .find(|(id, _)| Some(*id) == event.id);
                index.load_event(event, popularity.map_or(0, |&(_, p)| p));
            }
            Change::User(user) => {
                let tally = stored.tallies.iter().find(|(id, _)| id == user);
                index.load_user(*user, tally.map(|(_, t)| t.clone()).unwrap_or_default());
            }
            _ => {}
        }
    }
    for change in &changes[counted..] {
        if let Change::Coupon { user, selections } = change {
            index.add_selections(*user, selections.iter().copied());
        }
    }
    index.list_pending(NOW);
    index
}

fn answer_of(recommender: &super::Recommender, user: Id, limit: usize) -> Answer {
    let now = DateTime::from_timestamp_micros(NOW).expect("valid");
    let r = recommender.recommend(user, limit, now).expect("built");
    parts(r.expect("known user"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_index_answers_exactly_as_the_definition(data in data(), split in 0.0..=1.0f64) {
        let changes = changes(&data);
        let split = (split * changes.len() as f64) as usize;
        let incremental = incremental(&data);
        let rebuilt = loaded(&changes);
        let during = rebuilt_during_writes(&changes, split);
        let recounted = recounted(&changes, split);
        for &user in &data.users {
            for limit in [1, 3, 50] {
                let expected = reference(&data, user, limit);
                prop_assert_eq!(&answer(&incremental, user, limit), &expected, "user {} limit {}", user, limit);
                prop_assert_eq!(&answer(&rebuilt, user, limit), &expected, "rebuilt: user {} limit {}", user, limit);
                prop_assert_eq!(&answer_of(&during, user, limit), &expected, "rebuilt after {} writes: user {} limit {}", split, user, limit);
                prop_assert_eq!(&answer(&recounted, user, limit), &expected, "counted after {} writes: user {} limit {}", split, user, limit);
            }
        }
    }
}
