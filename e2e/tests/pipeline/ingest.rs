use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use slipstream_devkit::eventually;

use crate::helpers::Pipeline;
use slipstream_testkit::records;

const COUNTRIES: [&str; 5] = ["GR", "GB", "JP", "DE", "US"];
const CURRENCIES: [&str; 3] = ["EUR", "GBP", "USD"];
const GENDERS: [&str; 3] = ["M", "F", "X"];
const ODDS: [f64; 3] = [1.5, 1.85, 2.35];
const SPORTS: [&str; 4] = ["football", "Basketball", "tennis", "Football"];

fn user(i: u64) -> Value {
    let user = records::user().set("birth_year", 1950 + i % 50);
    let user = user.set("country", COUNTRIES[i as usize % COUNTRIES.len()]);
    let user = user.set("currency", CURRENCIES[i as usize % CURRENCIES.len()]);
    user.set("gender", GENDERS[i as usize % GENDERS.len()])
        .into()
}

fn event(i: u64) -> Value {
    let begin = format!("2027-01-{:02}T18:00:00Z", 1 + i % 28)
        .parse()
        .expect("a time");
    let event = records::event_at(begin).set("country", COUNTRIES[i as usize % COUNTRIES.len()]);
    let event = event.set("league", format!("League {}", i % 7));
    let event = event.set("sport", SPORTS[i as usize % SPORTS.len()]);
    let participants = [format!("Team {i}"), format!("Team {}", i + 1000)];
    event.set("participants", participants.to_vec()).into()
}

fn coupon(i: u64, user_id: i64, events: &[i64]) -> Value {
    let picks = 1 + (i as usize % 3);
    let selections: Vec<Value> = (0..picks)
        .map(|k| json!({"event_id": events[(i as usize * 7 + k * 13) % events.len()], "odds": ODDS[k]}))
        .collect();
    let coupon = records::coupon(user_id, &[]).set("stake", 5 + i % 100);
    let coupon = coupon.set("selections", selections);
    coupon.set("timestamp", "2026-11-01T12:00:00Z").into()
}

/// Posts records one by one or in batches of `batch`; returns (id, the record sent) per record.
async fn produce_all(
    pipeline: &Pipeline,
    path: &str,
    records: Vec<Value>,
    batch: usize,
) -> Vec<(i64, Value)> {
    let mut sent = Vec::new();
    for chunk in records.chunks(batch) {
        let body = if batch == 1 {
            chunk[0].clone()
        } else {
            Value::Array(chunk.to_vec())
        };
        let (status, answer) = pipeline.produce(path, &body).await;
        assert_eq!(status, 202, "{path} answered {answer}");
        let receipts = if batch == 1 {
            vec![answer]
        } else {
            answer.as_array().expect("array of receipts").clone()
        };
        assert_eq!(receipts.len(), chunk.len());
        for (receipt, record) in receipts.iter().zip(chunk) {
            assert!(
                receipt["partition"].is_i64() && receipt["offset"].is_i64(),
                "{receipt}"
            );
            assert_eq!(
                receipt["topic"]
                    .as_str()
                    .map(|t| t.ends_with(path.trim_start_matches('/'))),
                Some(true)
            );
            sent.push((receipt["id"].as_i64().expect("id"), record.clone()));
        }
    }
    sent
}

/// Every field sent must come back as sent.
fn assert_same_content(path: &str, sent: &Value, stored: &Value) {
    for (field, value) in sent.as_object().expect("object") {
        assert_eq!(
            &stored[field], value,
            "{path}: field {field} differs: stored {stored}"
        );
    }
}

async fn assert_all_stored(pipeline: &Pipeline, kind: &str, sent: &[(i64, Value)]) {
    for (id, record) in sent {
        let path = format!("/{kind}/{id}");
        eventually(
            &format!("{path} is stored"),
            Duration::from_secs(90),
            || async { pipeline.get(&path).await.is_some() },
        )
        .await;
        let stored = pipeline.get(&path).await.expect("stored");
        assert_eq!(stored["id"], json!(id));
        assert_same_content(&path, record, &stored);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_posted_to_the_producer_are_stored_once_in_the_api() {
    let pipeline = Pipeline::start().await;

    // Some records carry their own ids, the rest get ids from the producer; some travel in
    // batches. Coupons are posted while users and events may still be on their way.
    let with_ids = |mut v: Value, id: u64| {
        v["id"] = json!(id);
        v
    };
    let mut users = produce_all(
        &pipeline,
        "/users",
        (1..=60).map(|i| with_ids(user(i), i)).collect(),
        1,
    )
    .await;
    users.extend(produce_all(&pipeline, "/users", (61..=140).map(user).collect(), 20).await);
    let mut events = produce_all(
        &pipeline,
        "/events",
        (1..=40).map(|i| with_ids(event(i), i)).collect(),
        10,
    )
    .await;
    events.extend(produce_all(&pipeline, "/events", (41..=60).map(event).collect(), 1).await);
    let event_ids: Vec<i64> = events.iter().map(|(id, _)| *id).collect();
    let coupons: Vec<Value> = (0..240)
        .map(|i| coupon(i, users[i as usize % users.len()].0, &event_ids))
        .collect();
    let mut sent_coupons = produce_all(&pipeline, "/coupons", coupons[..120].to_vec(), 1).await;
    sent_coupons.extend(produce_all(&pipeline, "/coupons", coupons[120..].to_vec(), 40).await);

    assert_all_stored(&pipeline, "users", &users).await;
    assert_all_stored(&pipeline, "events", &events).await;
    assert_all_stored(&pipeline, "coupons", &sent_coupons).await;

    // Exactly once: each user holds exactly the coupons posted for them, no more.
    let mut per_user: HashMap<i64, Vec<i64>> = HashMap::new();
    for (id, coupon) in &sent_coupons {
        per_user
            .entry(coupon["user_id"].as_i64().expect("user id"))
            .or_default()
            .push(*id);
    }
    for (user_id, mut expected) in per_user {
        let listed = pipeline
            .get(&format!("/coupons/user/{user_id}"))
            .await
            .expect("user exists");
        let mut ids: Vec<i64> = listed
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["id"].as_i64().expect("id"))
            .collect();
        ids.sort_unstable();
        expected.sort_unstable();
        assert_eq!(ids, expected, "coupons of user {user_id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_posted_twice_is_stored_once_and_aliases_are_stored_canonically() {
    let pipeline = Pipeline::start().await;
    let user = json!({"id": 7, "birth_year": 1980, "country": "UK", "currency": "GBP", "gender": "M", "registration_date": "2024-03-01 09:30:00"});
    let event = json!({"id": 8, "begin_timestamp": "2027-02-01 18:00:00", "end_timestamp": "2027-02-01T20:00:00Z", "country": "JPN", "league": "J1", "sport": "Football", "participants": ["A", "B"]});
    let coupon = json!({"id": 9, "user_id": 7, "stake": 0.29, "selections": [{"event_id": 8, "odds": 2.125}], "timestamp": "2026-11-01T12:00:00Z"});
    for _ in 0..2 {
        produce_each(&pipeline, &user, &event, &coupon).await;
    }
    eventually("coupon 9 is stored", Duration::from_secs(60), || async {
        pipeline.get("/coupons/9").await.is_some()
    })
    .await;

    let stored_user = pipeline.get("/users/7").await.expect("user");
    assert_eq!(
        (&stored_user["country"], &stored_user["registration_date"]),
        (&json!("GB"), &json!("2024-03-01T09:30:00Z"))
    );
    let stored_event = pipeline.get("/events/8").await.expect("event");
    assert_eq!(
        (&stored_event["country"], &stored_event["begin_timestamp"]),
        (&json!("JP"), &json!("2027-02-01T18:00:00Z"))
    );
    let stored_coupon = pipeline.get("/coupons/9").await.expect("coupon");
    assert_eq!(stored_coupon, coupon);
    // Give the replays time to arrive, then check they changed nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pipeline.get("/coupons/user/7").await, Some(json!([coupon])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_without_dates_posted_twice_is_stored_once_with_the_apis_date() {
    let pipeline = Pipeline::start().await;
    let user =
        json!({"id": 17, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "M"});
    let event = json!({"id": 18, "begin_timestamp": "2027-02-01T18:00:00Z", "end_timestamp": "2027-02-01T20:00:00Z", "country": "GR", "league": "Super League", "sport": "Football", "participants": ["A", "B"]});
    let coupon =
        json!({"id": 19, "user_id": 17, "stake": 2, "selections": [{"event_id": 18, "odds": 1.5}]});
    for _ in 0..2 {
        produce_each(&pipeline, &user, &event, &coupon).await;
        // Apart in time: a date filled by the producer would differ between the two copies.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    eventually("coupon 19 is stored", Duration::from_secs(60), || async {
        pipeline.get("/coupons/19").await.is_some()
    })
    .await;
    let stored_user = pipeline.get("/users/17").await.expect("user");
    assert!(
        stored_user["registration_date"].is_string(),
        "{stored_user}"
    );
    let stored_coupon = pipeline.get("/coupons/19").await.expect("coupon");
    assert!(stored_coupon["timestamp"].is_string(), "{stored_coupon}");
    // Give the second copies time to arrive: each is a replay, never a dead letter.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let letters = crate::ledger::dead_letters(&pipeline).await;
    assert!(letters.is_empty(), "{} dead letter(s)", letters.len());
    assert_eq!(pipeline.get("/users/17").await, Some(stored_user));
    assert_eq!(
        pipeline.get("/coupons/user/17").await,
        Some(json!([stored_coupon]))
    );
}

/// Posts a user, an event and a coupon to the producer, in order, and asserts it accepted each.
async fn produce_each(pipeline: &Pipeline, user: &Value, event: &Value, coupon: &Value) {
    for (path, body) in [("/users", user), ("/events", event), ("/coupons", coupon)] {
        let (status, answer) = pipeline.produce(path, body).await;
        assert_eq!(status, 202, "{answer}");
    }
}
