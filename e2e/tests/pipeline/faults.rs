//! Nothing lost, nothing duplicated (SPEC §7) while parts of the pipeline fail mid-stream: a
//! consumer or the api SIGKILLed, the broker stopped, one of two consumer replicas killed.
//! Each test ends with the api holding exactly the records answered 202.

use std::time::Duration;

use slipstream_devkit::eventually;

use crate::helpers::{Options, Pipeline};
use crate::ledger::{assert_stored_once_or_dead_lettered, Ledger};
use crate::load::{references, Load};

/// Ids of the coupons the load posts; users and events take the small ones.
const FIRST_COUPON: i64 = 1_000;
/// Batches accepted between two faults, and after the last one, so that every fault hits
/// a stream in flow.
const BATCHES_BETWEEN_FAULTS: usize = 8;

/// Partitions of the replica test's topics, which its load's users all reach.
const PARTITIONS: usize = 3;
/// Longer than a consumer's interval between two offset commits (1 s).
const COMMIT_WINDOW: Duration = Duration::from_millis(1500);

/// Checks the end state of a fault test in which no record is refused for good.
async fn assert_all_stored_once(pipeline: &Pipeline, ledger: &Ledger) {
    let letters = assert_stored_once_or_dead_lettered(pipeline, ledger).await;
    assert!(
        letters.is_empty(),
        "no record deserves a dead letter here: {letters:?}"
    );
}

/// Kills `consumer` while it holds messages it fetched that the api has not stored yet: the
/// api is frozen while the load goes on, for longer than a consumer's commit interval, so a
/// consumer that commits ahead of the api would have committed them by the kill.
async fn kill_with_work_in_flight(pipeline: &mut Pipeline, load: &Load, consumer: &str) {
    pipeline.suspend("api");
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    tokio::time::sleep(COMMIT_WINDOW).await;
    pipeline.kill(consumer);
    pipeline.resume("api");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    let mut pipeline = Pipeline::start().await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline, FIRST_COUPON);
    for _ in 0..2 {
        load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
        kill_with_work_in_flight(&mut pipeline, &load, "consumer-coupons").await;
        pipeline.restart("consumer-coupons").await;
    }
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_all_stored_once(&pipeline, &ledger).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    let mut pipeline = Pipeline::start().await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline, FIRST_COUPON);
    for _ in 0..3 {
        load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
        pipeline.kill_and_restart("api").await;
    }
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_all_stored_once(&pipeline, &ledger).await;
}

/// Two api replicas on PostgreSQL, one SIGKILLed mid-stream and started again later: the
/// consumers carry on with the other, every record answered 202 is stored once, and the
/// restarted replica recommends what the other does.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_replica_sigkilled_mid_stream_loses_nothing_and_catches_up_with_the_other() {
    let mut pipeline = Pipeline::start_with(Options::default().two_apis_on_postgres()).await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline, FIRST_COUPON);
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    pipeline.kill("api-2");
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    pipeline.restart("api-2").await;
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_all_stored_once(&pipeline, &ledger).await;

    let urls: std::collections::BTreeMap<String, String> = pipeline.urls().into_iter().collect();
    let users = ledger.users();
    eventually(
        "the restarted replica recommends what the other does",
        Duration::from_secs(5),
        || async {
            let mut answers = Vec::new();
            for api in ["api", "api-2"] {
                answers.push(recommendations(&pipeline, &urls[api], &users).await);
            }
            answers[0] == answers[1]
        },
    )
    .await;
}

/// Each user's recommendations as the api at `url` answers them, without the time made.
async fn recommendations(pipeline: &Pipeline, url: &str, users: &[i64]) -> Vec<serde_json::Value> {
    let mut answers = Vec::new();
    for user in users {
        let response = pipeline
            .http
            .get(format!("{url}/recommendation/{user}?limit=20"))
            .send()
            .await
            .expect("the api answers");
        let mut answer: serde_json::Value = response.json().await.expect("JSON");
        answer["generated_at"] = serde_json::Value::Null;
        answers.push(answer);
    }
    answers
}

/// The producer answers 503 while the broker is down and the client sends the same records
/// again; once the broker is back, every record arrives, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_broker_stopped_and_restarted_mid_stream_loses_and_duplicates_nothing() {
    let options = Options::default()
        .own_broker()
        .env("producer", "PRODUCE_TIMEOUT_MS", "2000");
    let mut pipeline = Pipeline::start_with(options).await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline, FIRST_COUPON);
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;

    tokio::task::block_in_place(|| pipeline.broker().stop()).expect("the broker stops");
    eventually(
        "the producer answers 503 while the broker is down",
        Duration::from_secs(30),
        || async { load.unavailable() > 0 },
    )
    .await;
    tokio::task::block_in_place(|| pipeline.broker().restart()).expect("the broker restarts");

    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_all_stored_once(&pipeline, &ledger).await;
}

/// Two consumers share the coupons topic; one dies without leaving the group, and once the
/// group notices, the survivor reads the dead one's partitions from their last commit.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_replica_sigkilled_mid_stream_hands_its_partitions_to_the_other() {
    // A partition count of its own: coupons are keyed by their user, and the few users of
    // the load must reach every partition for both replicas to hold some.
    let mut options = Options::default();
    for service in [
        "producer",
        "consumer-users",
        "consumer-events",
        "consumer-coupons",
    ] {
        options = options.env(service, "TOPIC_PARTITIONS", PARTITIONS.to_string());
    }
    let mut pipeline = Pipeline::start_with(options).await;
    let replica = pipeline.add_replica("consumer-coupons").await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline, FIRST_COUPON);
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;

    kill_with_work_in_flight(&mut pipeline, &load, &replica).await;

    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_eq!(
        ledger.partitions("coupons").len(),
        PARTITIONS,
        "the coupons reach every partition, the killed replica's among them"
    );
    assert_all_stored_once(&pipeline, &ledger).await;
}
