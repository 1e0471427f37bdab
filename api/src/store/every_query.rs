//! One test that runs every statement of the store against a real, migrated database: an
//! SQLite file, or with `TEST_DATABASE=postgres` a PostgreSQL database (`scripts/test.sh`
//! runs it both ways). The queries cannot be checked at compile time (one code path serves
//! two databases through `on_backend!`), so this is where a misspelt column or a statement
//! one backend does not take fails first, without HTTP or the writer around it.
//!
//! A new query belongs in this test: each step below names the store functions it runs.

use chrono::Utc;
use clap::Parser;
use serde_json::json;
use slipstream_model::{Coupon, Event, User};

use super::{finish_group, save, write_counts, Saved, Store};
use crate::error::Error;
use crate::recommendations::{Change, Tally};
use crate::Config;

fn user(id: Option<i64>) -> User {
    let mut body = json!({"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    User::parse(&body, Utc::now()).expect("a valid user")
}

fn event(id: i64) -> Event {
    let body = json!({"id": id, "begin_timestamp": "2031-01-01T18:00:00Z",
        "end_timestamp": "2031-01-01T20:00:00Z", "country": "GB", "league": "League",
        "sport": "Football", "participants": ["Home", "Away"]});
    Event::parse(&body).expect("a valid event")
}

fn coupon(id: i64, user: i64, events: &[i64]) -> Coupon {
    let selections: Vec<_> = (events.iter())
        .map(|e| json!({"event_id": e, "odds": 2}))
        .collect();
    let body = json!({"id": id, "user_id": user, "stake": 5, "selections": selections});
    Coupon::parse(&body).expect("a valid coupon")
}

#[tokio::test]
async fn every_query_runs_on_a_migrated_database() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = slipstream_devkit::test_database(dir.path());
    let config = Config::parse_from(["api", &format!("--database-url={url}")]);
    // connect: the pools, the pragmas or settings, the migrations.
    let store = Store::connect(&config)
        .await
        .expect("connects and migrates");
    store.ping().await.expect("ping");
    let now = Utc::now();

    // save: ids assigned from the counters, the batch insert, the one-by-one path (a
    // replay, a conflict), the existence checks of a coupon's references, the deferred
    // counts; finish_group: the feed; write_counts: tallies and popularity.
    let mut tx = store.begin_write().await.expect("a write transaction");
    let mut conn = tx.conn();
    let assigned = save(&mut conn, vec![user(None), user(None)], now).await;
    assert_eq!(assigned.expect("users saved").len(), 2);
    save(&mut conn, vec![user(Some(10)), user(Some(11))], now)
        .await
        .expect("a batch of new users");
    save(&mut conn, vec![event(20), event(21)], now)
        .await
        .expect("events");
    let coupons = vec![coupon(30, 10, &[20, 21]), coupon(31, 11, &[21])];
    save(&mut conn, coupons.clone(), now)
        .await
        .expect("coupons");
    let again = save(&mut conn, coupons, now).await.expect("a replay");
    assert!(matches!(again[0], Saved::Replayed(_)));
    let conflict = save(&mut conn, vec![coupon(30, 11, &[20])], now).await;
    assert!(matches!(
        conflict,
        Err(Error::InBatch { .. } | Error::IdConflict { .. })
    ));
    let missing = save(&mut conn, vec![coupon(32, 99, &[20])], now).await;
    assert!(missing.is_err(), "a coupon of a user not stored");
    let mut tally = Tally::default();
    tally.add(20, "football", 1);
    write_counts(&mut conn, &[(10, tally)], &[(20, 1)])
        .await
        .expect("counts");
    finish_group(&mut conn, &[Change::User(10)])
        .await
        .expect("the feed");
    tx.commit().await.expect("committed");

    // Reads: by id, pages of ids, a user's coupons, and what a rebuild reads.
    assert!(store.find::<User>(10).await.expect("a user").is_some());
    assert!(store.find::<Event>(20).await.expect("an event").is_some());
    assert!(store.find::<Coupon>(30).await.expect("a coupon").is_some());
    assert_eq!(store.ids_after::<User>(0, 10).await.expect("ids").len(), 4);
    assert_eq!(
        store.ids_after::<Event>(0, 10).await.expect("ids"),
        [20, 21]
    );
    assert_eq!(
        store.ids_after::<Coupon>(0, 10).await.expect("ids"),
        [30, 31]
    );
    let page = store.coupons_of_user(10, 1, None).await.expect("coupons");
    assert_eq!(page.expect("a user").coupons.len(), 1);
    let mut snapshot = store.snapshot().await.expect("a snapshot");
    let mut conn = snapshot.conn();
    assert_eq!(Store::all_events(&mut conn).await.expect("events").len(), 2);
    let mut users = 0;
    Store::each_user(&mut conn, |_| users += 1)
        .await
        .expect("users");
    assert_eq!(users, 4);
    Store::each_tally(&mut conn, |_, _| {})
        .await
        .expect("tallies");
    Store::each_uncounted(&mut conn, |_, _| {})
        .await
        .expect("uncounted coupons");
    let head = Store::feed_head(&mut conn).await.expect("the feed's head");
    drop(snapshot);
    store
        .feed_since(0, head.unwrap_or(0))
        .await
        .expect("the feed");
    store
        .prune_feed(std::time::Duration::ZERO)
        .await
        .expect("the feed pruned");

    // import: api-import's bulk insert and its counts.
    let imported = store
        .import(vec![user(Some(40)), user(Some(41))], now)
        .await;
    assert_eq!(imported.expect("imported"), 2);
    store.close().await;
}
