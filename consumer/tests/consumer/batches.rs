//! A backlog goes to the api in batches of consecutive messages; a batch the api refuses is
//! forwarded again one message at a time, so each message still gets its own verdict.

use std::time::Duration;

use serde_json::Value;
use slipstream_devkit::kafka::header;
use slipstream_devkit::metrics::sample;

use crate::helpers::Setup;
use slipstream_testkit::records;

const BACKLOG: i64 = 600;

/// Registered at a fixed time, so that a redelivery is the same record.
fn user(id: i64, birth_year: i64) -> Value {
    let user = records::user().id(id).set("birth_year", birth_year);
    user.set("registration_date", "2024-01-01T00:00:00Z").into()
}

/// Users 1 to `BACKLOG` in partition 0, with `replace` applied to their values.
fn users(replace: impl Fn(i64, Value) -> Value) -> Vec<(String, Value)> {
    (1..=BACKLOG)
        .map(|id| (id.to_string(), replace(id, user(id, 1980))))
        .collect()
}

/// Writes a backlog to partition 0 while the api is down, then starts the api and waits
/// until every offset is committed.
async fn drain(setup: &mut Setup, records: &[(String, Value)]) {
    let records: Vec<(&str, Value)> = records
        .iter()
        .map(|(key, value)| (key.as_str(), value.clone()))
        .collect();
    setup.write_json_to(0, &records);
    setup.wait_for_log("retrying.").await;
    setup.start_api().await;
    setup.wait_committed(BACKLOG, Duration::from_secs(60)).await;
}

/// Forwards made so far, and messages stored, from the consumer's `/metrics`.
async fn forwards_and_stored(setup: &Setup) -> (f64, f64) {
    let text = setup.metrics().await;
    let topic = setup.topic_name();
    let forwards = sample(
        &text,
        "slipstream_consumer_forward_duration_seconds_count",
        &[],
    );
    let stored = sample(
        &text,
        "slipstream_consumer_messages_total",
        &[("topic", &topic), ("outcome", "stored")],
    );
    (forwards.unwrap_or(0.0), stored.unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_is_forwarded_in_batches_each_record_stored_once() {
    let mut setup = Setup::start("users", &[]).await;
    drain(&mut setup, &users(|_, user| user)).await;

    let (forwards, stored) = forwards_and_stored(&setup).await;
    assert_eq!(stored, BACKLOG as f64);
    // Retries while the api was down count too; one message per forward would be 600.
    assert!(
        forwards < 60.0,
        "{forwards} forwards for {BACKLOG} messages"
    );
    for id in [1, BACKLOG / 2, BACKLOG] {
        assert_eq!(
            setup.get(&format!("/users/{id}")).await,
            Some(user(id, 1980))
        );
    }
    assert_eq!(setup.dead_letter_count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_batch_is_forwarded_message_by_message_in_order() {
    let mut setup = Setup::start("users", &[]).await;
    // User 300 comes twice, the second time different: an id conflict inside a batch.
    let mut records = users(|_, user| user);
    records.insert(300, ("300".into(), user(300, 1999)));
    records.truncate(BACKLOG as usize);
    drain(&mut setup, &records).await;

    assert_eq!(setup.get("/users/300").await, Some(user(300, 1980)));
    assert_eq!(setup.get("/users/599").await, Some(user(599, 1980)));
    assert_eq!(setup.get("/users/600").await, None, "truncated away");
    let letters = setup.dead_letters(1);
    assert_eq!(letters.len(), 1);
    assert_eq!(header(&letters[0], "dlq-status").as_deref(), Some("409"));
    let (_, stored) = forwards_and_stored(&setup).await;
    assert_eq!(stored, (BACKLOG - 1) as f64);
}
