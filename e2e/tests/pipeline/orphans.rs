//! Coupons whose user never arrives (orphans), posted through the producer ahead of coupons
//! of users the api has: the others are stored within seconds, not after the orphans' wait,
//! and the orphans are still dead-lettered, each after its own missing-reference timeout.

use std::time::Duration;

use serde_json::{json, Value};
use slipstream_devkit::eventually;
use tokio::time::Instant;

use crate::helpers::{Options, Pipeline};
use crate::ledger::dead_letters;
use slipstream_testkit::records;

const TIMEOUT_SECS: u64 = 20;
const VALID: i64 = 300;
const ORPHANS: i64 = 200;

fn coupon(id: i64, user_id: i64) -> Value {
    records::coupon(user_id, &[1]).id(id).into()
}

async fn all_stored(pipeline: &Pipeline, paths: impl Iterator<Item = String>) -> bool {
    for path in paths {
        if pipeline.get(&path).await.is_none() {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_delay_other_users_coupons_by_seconds_and_are_dead_lettered_in_time() {
    let options = Options::default().env(
        "consumer-coupons",
        "MISSING_REFERENCE_TIMEOUT_SECS",
        TIMEOUT_SECS.to_string(),
    );
    let pipeline = Pipeline::start_with(options).await;
    let users: Vec<Value> = (1..=VALID)
        .map(|id| json!({"id": id, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F"}))
        .collect();
    let event = json!({"id": 1, "begin_timestamp": "2031-01-01T18:00:00Z", "end_timestamp": "2031-01-01T20:00:00Z", "country": "GR", "league": "L", "sport": "football", "participants": ["A", "B"]});
    assert_eq!(
        pipeline.produce("/users", &Value::Array(users)).await.0,
        202
    );
    assert_eq!(pipeline.produce("/events", &event).await.0, 202);
    let references = (1..=VALID)
        .map(|id| format!("/users/{id}"))
        .chain(["/events/1".to_owned()]);
    let references: Vec<String> = references.collect();
    eventually(
        "the users and the event are stored",
        Duration::from_secs(60),
        || all_stored(&pipeline, references.iter().cloned()),
    )
    .await;

    let orphans: Vec<Value> = (1..=ORPHANS).map(|n| coupon(10_000 + n, 9_999)).collect();
    let valid: Vec<Value> = (1..=VALID).map(|id| coupon(id, id)).collect();
    let posted = Instant::now();
    for batch in [orphans, valid] {
        let (status, answer) = pipeline.produce("/coupons", &Value::Array(batch)).await;
        assert_eq!(status, 202, "{answer}");
    }
    eventually(
        "the 300 valid coupons are stored within 10 s",
        Duration::from_secs(10),
        || all_stored(&pipeline, (1..=VALID).map(|id| format!("/coupons/{id}"))),
    )
    .await;

    let deadline = Duration::from_secs(TIMEOUT_SECS + 40);
    eventually("the 200 orphans are dead-lettered", deadline, || async {
        dead_letters(&pipeline).await.len() == ORPHANS as usize
    })
    .await;
    assert!(
        posted.elapsed() >= Duration::from_secs(TIMEOUT_SECS),
        "dead-lettered before their timeout"
    );
    let letters = dead_letters(&pipeline).await;
    assert!(letters
        .iter()
        .all(|letter| letter.reason.as_deref() == Some("missing-reference")));
}
