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

/// Checks the end state of a fault test in which no record is refused for good.
async fn assert_all_stored_once(pipeline: &Pipeline, ledger: &Ledger) {
    let letters = assert_stored_once_or_dead_lettered(pipeline, ledger).await;
    assert!(
        letters.is_empty(),
        "no record deserves a dead letter here: {letters:?}"
    );
}

async fn survives_kills_of(victim: &str, kills: usize) {
    let mut pipeline = Pipeline::start().await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline.producer_url, FIRST_COUPON);
    for _ in 0..kills {
        load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
        pipeline.kill_and_restart(victim).await;
    }
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_all_stored_once(&pipeline, &ledger).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    survives_kills_of("consumer-coupons", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_sigkilled_mid_stream_loses_and_duplicates_nothing() {
    survives_kills_of("api", 3).await;
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
    let load = Load::start(&pipeline.producer_url, FIRST_COUPON);
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
    let mut pipeline = Pipeline::start().await;
    let replica = pipeline.add_replica("consumer-coupons").await;
    let mut ledger = references(&pipeline).await;
    let load = Load::start(&pipeline.producer_url, FIRST_COUPON);
    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;

    pipeline.kill(&replica);

    load.until_accepted(BATCHES_BETWEEN_FAULTS).await;
    ledger.merge(load.finish().await);
    assert_eq!(
        ledger.partitions("coupons").len(),
        3,
        "the coupons reach every partition, the killed replica's among them"
    );
    assert_all_stored_once(&pipeline, &ledger).await;
}
