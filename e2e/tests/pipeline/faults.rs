//! Nothing lost, nothing duplicated (SPEC §7) while parts of the pipeline are SIGKILLed
//! mid-stream: every coupon answered 202 ends up stored exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use slipstream_devkit::eventually;

use crate::helpers::Pipeline;

const USERS: i64 = 8;
const BATCHES: usize = 30;

/// Users and events with known ids, stored before the coupons start flowing.
async fn references(pipeline: &Pipeline) {
    for id in 1..=USERS {
        let user = json!({"id": id, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "M"});
        let event = json!({"id": id, "begin_timestamp": "2031-01-01T18:00:00Z", "end_timestamp": "2031-01-01T20:00:00Z", "country": "GR", "league": "L", "sport": "football", "participants": ["A", "B"]});
        assert_eq!(pipeline.produce("/users", &user).await.0, 202);
        assert_eq!(pipeline.produce("/events", &event).await.0, 202);
    }
    eventually(
        "the references are stored",
        Duration::from_secs(60),
        || async { pipeline.get(&format!("/events/{USERS}")).await.is_some() },
    )
    .await;
}

/// Posts batches of coupons without ids (the producer assigns them) and returns, per user,
/// the ids answered 202.
async fn post_coupons(producer_url: String) -> BTreeMap<i64, Vec<i64>> {
    let http = reqwest::Client::new();
    let mut accepted: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for batch in 0..BATCHES {
        let coupons: Vec<Value> = (0..10)
            .map(|i| {
                let user = 1 + (batch * 10 + i) as i64 % USERS;
                json!({"user_id": user, "stake": 2.5, "selections": [{"event_id": 1 + (i as i64 % USERS), "odds": 1.5}]})
            })
            .collect();
        let response = http
            .post(format!("{producer_url}/coupons"))
            .json(&coupons)
            .send()
            .await
            .expect("producer reachable");
        assert_eq!(response.status(), 202);
        let receipts: Vec<Value> = response.json().await.expect("receipts");
        for (coupon, receipt) in coupons.iter().zip(receipts) {
            accepted
                .entry(coupon["user_id"].as_i64().expect("user"))
                .or_default()
                .push(receipt["id"].as_i64().expect("id"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    accepted
}

/// Every user holds exactly the coupons accepted for them: none lost, none twice.
async fn assert_stored_exactly_once(pipeline: &Pipeline, accepted: &BTreeMap<i64, Vec<i64>>) {
    let stored = || async {
        let mut all = BTreeMap::new();
        for &user in accepted.keys() {
            let coupons = pipeline
                .get(&format!("/coupons/user/{user}"))
                .await
                .unwrap_or(Value::Null);
            let mut ids: Vec<i64> = coupons
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_i64())
                .collect();
            ids.sort_unstable();
            all.insert(user, ids);
        }
        all
    };
    let mut expected = accepted.clone();
    expected.values_mut().for_each(|ids| ids.sort_unstable());
    eventually(
        "every accepted coupon is stored",
        Duration::from_secs(120),
        || async { stored().await.values().map(Vec::len).sum::<usize>() >= BATCHES * 10 },
    )
    .await;
    assert_eq!(stored().await, expected);
}

async fn survives_kills_of(victim: &str, kills: usize) {
    let mut pipeline = Pipeline::start().await;
    references(&pipeline).await;
    let load = tokio::spawn(post_coupons(pipeline.producer_url.clone()));
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(400)).await;
        pipeline.kill_and_restart(victim).await;
    }
    let accepted = load.await.expect("load finished");
    assert_stored_exactly_once(&pipeline, &accepted).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    survives_kills_of("consumer-coupons", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    survives_kills_of("api", 3).await;
}
