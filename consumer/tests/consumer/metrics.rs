//! `/metrics` on the consumer's health port tells what became of each message.

use std::time::Duration;

use serde_json::json;
use slipstream_devkit::eventually;
use slipstream_devkit::metrics::sample;

use crate::helpers::Setup;

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_each_outcome_and_report_lag_per_partition() {
    // One message per forward, so the forwards can be counted exactly.
    let mut setup = Setup::start("users", &[("FORWARD_BATCH", "1")]).await;
    setup.start_api().await;
    let user =
        json!({"id": 1, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "M"});
    setup.write_json(&[("1", user.clone()), ("1", user)]);
    setup.write(&[("1", b"not json")]);
    let topic = setup.topic_name();
    let scrape = || setup.metrics();
    let count = |text: &str, outcome: &str| {
        sample(
            text,
            "slipstream_consumer_messages_total",
            &[("topic", &topic), ("outcome", outcome)],
        )
    };
    eventually(
        "every outcome is counted",
        Duration::from_secs(30),
        || async {
            let text = scrape().await;
            ["stored", "replayed", "dead_lettered"]
                .iter()
                .all(|o| count(&text, o) == Some(1.0))
        },
    )
    .await;
    eventually("lag is reported", Duration::from_secs(30), || async {
        sample(
            &scrape().await,
            "slipstream_consumer_lag_messages",
            &[("topic", &topic)],
        ) == Some(0.0)
    })
    .await;
    let text = scrape().await;
    let forwards = sample(
        &text,
        "slipstream_consumer_forward_duration_seconds_count",
        &[],
    );
    assert_eq!(forwards, Some(2.0));
    assert!(sample(&text, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 0.0));
    let scrapes = [("route", "/metrics"), ("method", "GET"), ("status", "200")];
    assert!(sample(&text, "http_requests_total", &scrapes).is_some_and(|n| n >= 1.0));
}
