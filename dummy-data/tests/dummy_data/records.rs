use std::collections::HashSet;

use chrono::{Datelike, TimeDelta};
use serde_json::Value;
use slipstream_model::{Coupon, Event, Invalid, User};

use crate::helpers::{config, counts, generated_files, lines, now, MEDIUM};

/// Parses every line and checks that writing the parsed record back gives the line unchanged:
/// the files hold exactly the bodies the producer and the api accept.
fn assert_every_line_parses<T: serde::Serialize>(
    bytes: &[u8],
    parse: impl Fn(&Value) -> Result<T, Invalid>,
) -> usize {
    let values = lines(bytes);
    for (index, value) in values.iter().enumerate() {
        let record = parse(value).unwrap_or_else(|e| panic!("line {}: {e}: {value}", index + 1));
        assert_eq!(
            &serde_json::to_value(&record).expect("serializes"),
            value,
            "line {}",
            index + 1
        );
    }
    values.len()
}

#[test]
fn every_record_parses_with_the_model_and_is_written_as_the_model_writes_it() {
    let [users, events, coupons] = generated_files(&config(counts(500, 300, 3_000), 3));
    assert_eq!(
        assert_every_line_parses(&users, |v| User::parse(v, now())),
        500
    );
    assert_eq!(assert_every_line_parses(&events, Event::parse), 300);
    assert_eq!(assert_every_line_parses(&coupons, Coupon::parse), 3_000);
}

#[test]
fn ids_run_from_one_to_each_count() {
    let data = &*MEDIUM;
    let user_ids: Vec<_> = data.users.iter().map(|u| u.id).collect();
    let coupon_ids: Vec<_> = data.coupons.iter().map(|c| c.id).collect();
    assert_eq!(user_ids, (1..=2_000).map(Some).collect::<Vec<_>>());
    assert_eq!(coupon_ids, (1..=20_000).map(Some).collect::<Vec<_>>());
    let mut event_ids: Vec<_> = data.events.keys().copied().collect();
    event_ids.sort_unstable();
    assert_eq!(event_ids, (1..=1_000).collect::<Vec<_>>());
}

#[test]
fn coupons_reference_existing_users_and_distinct_existing_events() {
    let data = &*MEDIUM;
    for coupon in &data.coupons {
        assert!((1..=2_000).contains(&coupon.user_id), "{coupon:?}");
        let events: HashSet<_> = coupon.event_ids().collect();
        assert_eq!(events.len(), coupon.selections.len(), "{coupon:?}");
        assert!(
            events.iter().all(|id| data.events.contains_key(id)),
            "{coupon:?}"
        );
    }
}

#[test]
fn coupons_are_placed_after_the_users_registration_and_not_after_now() {
    let data = &*MEDIUM;
    for coupon in &data.coupons {
        let user = &data.users[coupon.user_id as usize - 1];
        let placed = coupon.timestamp.expect("timestamp");
        assert!(placed <= data.config.now, "{coupon:?}");
        assert!(
            Some(placed) >= user.registration_date,
            "{coupon:?} {user:?}"
        );
    }
}

#[test]
fn users_are_adults_born_from_1940_and_registered_before_now() {
    let data = &*MEDIUM;
    let youngest = data.config.now.year() - 18;
    for user in &data.users {
        assert!((1940..=youngest).contains(&user.birth_year), "{user:?}");
        assert!(user.registration_date < Some(data.config.now), "{user:?}");
    }
}

#[test]
fn events_begin_from_60_days_before_to_30_days_after_now() {
    let data = &*MEDIUM;
    let now = data.config.now;
    for event in data.events.values() {
        assert!(
            event.begin_timestamp >= now - TimeDelta::days(60),
            "{event:?}"
        );
        assert!(
            event.begin_timestamp < now + TimeDelta::days(30),
            "{event:?}"
        );
        assert!(
            event.end_timestamp - event.begin_timestamp <= TimeDelta::hours(4),
            "{event:?}"
        );
    }
}
