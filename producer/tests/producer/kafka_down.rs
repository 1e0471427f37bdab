use std::time::{Duration, Instant};

use serde_json::Value;
use slipstream_devkit::KafkaBroker;
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::TestProducer;
use slipstream_testkit::records;

fn event() -> Value {
    records::event().into()
}

/// Stops its own broker: the shared one must stay up for the other tests.
#[tokio::test(flavor = "multi_thread")]
async fn with_kafka_down_the_producer_answers_503_in_bounded_time_and_recovers() {
    let mut broker = tokio::task::spawn_blocking(KafkaBroker::start)
        .await
        .expect("join")
        .expect("broker starts");
    let producer = TestProducer::start(
        &broker.bootstrap_servers(),
        &["--produce-timeout-ms", "2000"],
    )
    .await;
    assert_eq!(producer.post("/events", &event()).await.status(), 202);

    let mut broker = tokio::task::spawn_blocking(move || broker.stop().map(|()| broker))
        .await
        .expect("join")
        .expect("broker stops");
    let started = Instant::now();
    let response = producer.post("/events", &event()).await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        waited < Duration::from_secs(6),
        "answered after {waited:?}, the bound is the produce timeout"
    );
    let problem: Value = response.json().await.expect("problem");
    let failed = &problem["failed"];
    assert_eq!(failed[0]["index"], 0, "{problem}");
    assert!(
        failed[0]["id"]
            .as_i64()
            .is_some_and(|id| id >= GENERATED_ID_FLOOR),
        "the id it was given, to resend it with: {problem}"
    );
    let ready = producer
        .http
        .get(format!("{}/ready", producer.url))
        .send()
        .await
        .expect("reachable");
    assert_eq!(ready.status(), 503);

    let _broker = tokio::task::spawn_blocking(move || broker.restart().map(|()| broker))
        .await
        .expect("join")
        .expect("broker restarts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = producer.post("/events", &event()).await.status();
        if status == 202 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            Instant::now() < deadline,
            "the producer did not recover after the broker came back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        producer.count("events") >= 2,
        "every record answered 202 is in the topic"
    );
}
