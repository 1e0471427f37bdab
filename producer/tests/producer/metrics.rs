//! `/metrics`: records per topic and result, and how long Kafka took to acknowledge them.

use serde_json::json;
use slipstream_devkit::metrics::sample;
use slipstream_devkit::shared_broker;
use slipstream_runtime::auth::Scope;

use crate::helpers::TestProducer;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_accepted_records_per_topic_and_time_their_acknowledgement() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let users = json!([
        {"birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"},
        {"birth_year": 1991, "country": "GR", "currency": "EUR", "gender": "M"},
    ]);
    assert_eq!(producer.post("/users", &users).await.status(), 202);

    let response = producer
        .http
        .get(format!("{}/metrics", producer.url))
        .header("authorization", producer.keys.bearer(Scope::Metrics))
        .send()
        .await;
    let text = response
        .expect("producer reachable")
        .text()
        .await
        .expect("text");
    let topic = format!("{}users", producer.prefix);
    let accepted = [("topic", topic.as_str()), ("result", "accepted")];
    assert_eq!(
        sample(&text, "slipstream_producer_records_total", &accepted),
        Some(2.0)
    );
    let timed = [("topic", topic.as_str())];
    let count = sample(
        &text,
        "slipstream_producer_produce_duration_seconds_count",
        &timed,
    );
    assert_eq!(count, Some(1.0));
    let posts = [("route", "/users"), ("method", "POST"), ("status", "202")];
    assert!(sample(&text, "http_requests_total", &posts).is_some_and(|n| n >= 1.0));
}
