//! Partitions are forwarded side by side, each in its own order, and the consumer keeps its
//! place in the group however long a partition waits.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::Setup;
use slipstream_testkit::records;

fn user(id: i64, birth_year: i64) -> Value {
    records::user().id(id).set("birth_year", birth_year).into()
}

fn coupon(id: i64, user_id: i64) -> Value {
    json!({"id": id, "user_id": user_id, "stake": 2, "selections": [{"event_id": 1, "odds": 2}], "timestamp": "2026-01-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coupon_waiting_for_a_reference_holds_back_only_its_own_users_later_coupons() {
    let env = [
        ("MISSING_REFERENCE_TIMEOUT_SECS", "300"),
        ("RUST_LOG", "info,consumer=debug"),
    ];
    let mut setup = Setup::start("coupons", &env).await;
    setup.start_api().await;
    assert_eq!(setup.post("/users", &user(1, 1980)).await, 201);
    assert_eq!(setup.post("/users", &user(2, 1980)).await, 201);
    let event = json!({"id": 1, "begin_timestamp": "2031-01-01T18:00:00Z", "end_timestamp": "2031-01-01T20:00:00Z", "country": "GR", "league": "L", "sport": "football", "participants": ["A", "B"]});
    assert_eq!(setup.post("/events", &event).await, 201);

    // Partition 0: coupon 10 waits for user 50; coupon 11, another user's, goes on; coupon
    // 13, user 50's too, must wait behind coupon 10.
    setup.write_json_to(0, &[("50", coupon(10, 50)), ("1", coupon(11, 1))]);
    setup.wait_for_log("References not there yet").await;
    setup.write_json_to(0, &[("50", coupon(13, 50)), ("2", coupon(14, 2))]);
    setup.write_json_to(1, &[("1", coupon(12, 1))]);
    for id in [11, 12, 14] {
        setup.wait_stored(&format!("/coupons/{id}")).await;
    }
    assert!(setup.get("/coupons/10").await.is_none());
    assert!(setup.get("/coupons/13").await.is_none());
    // Partition 1's coupon 12 is committed (within the second librdkafka commits in);
    // partition 0's offset stays before coupon 10, which is not stored yet.
    setup.wait_committed(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        setup.committed(),
        1,
        "partition 0's offset passed coupon 10"
    );

    assert_eq!(setup.post("/users", &user(50, 1990)).await, 201);
    for id in [10, 13] {
        setup.wait_stored(&format!("/coupons/{id}")).await;
    }
    setup.wait_committed(5, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_stays_in_its_group_while_the_api_is_down_longer_than_the_poll_interval() {
    // Kafka drops a member that does not poll for `max.poll.interval.ms`: 6 s here instead
    // of 5 minutes, so the outage below lasts longer than it twice over.
    let options = "session.timeout.ms=6000,max.poll.interval.ms=6000";
    let mut setup = Setup::start("users", &[("KAFKA_OPTIONS", options)]).await;
    setup.write_json(&[("1", user(1, 1980))]);
    setup.wait_for_log("Forward failed, retrying.").await;
    let outage = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < outage {
        let members = tokio::task::block_in_place(|| setup.group_members());
        assert_eq!(members, 1, "the consumer left its group while waiting");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    setup.start_api().await;
    setup.wait_stored("/users/1").await;
    setup.wait_committed(1, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_deeper_than_a_lane_is_paused_and_resumed_without_loss_or_duplicates() {
    let env = [("RUST_LOG", "info,consumer=debug")];
    let mut setup = Setup::start("users", &env).await;
    // More than a lane holds (2,000), written while the api is down; user 1 comes twice, so its
    // second version (a conflict) must be dead-lettered once, after the first was stored.
    let mut records: Vec<(String, Value)> = (1..=2_500)
        .map(|id| (id.to_string(), user(id, 1980)))
        .collect();
    records.insert(2_200, ("1".into(), user(1, 1999)));
    let records: Vec<(&str, Value)> = records
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    setup.write_json_to(0, &records);
    setup.wait_for_log("Partition paused").await;

    setup.start_api().await;
    setup.wait_committed(2_501, Duration::from_secs(120)).await;
    for id in 1..=2_500 {
        let stored = setup.get(&format!("/users/{id}")).await;
        assert!(stored.is_some(), "user {id} was lost");
    }
    let first = setup.get("/users/1").await.map(|u| u["birth_year"].clone());
    assert_eq!(first, Some(json!(1980)), "user 1's versions were reordered");
    assert_eq!(setup.dead_letter_count(), 1);
}
