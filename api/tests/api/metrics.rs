//! `/metrics`: the HTTP series by route template, and the api's business series.

use slipstream_devkit::metrics::sample;

use crate::helpers::{coupon, event, user, with_id, TestApp};

/// Tests share the process's recorder, so counts are at least, not exactly, what this test did.
fn at_least(text: &str, name: &str, labels: &[(&str, &str)], floor: f64) {
    let value = sample(text, name, labels);
    assert!(
        value.is_some_and(|v| v >= floor),
        "{name} {labels:?} is {value:?}, expected at least {floor}\n{text}"
    );
}

#[tokio::test]
async fn metrics_show_requests_records_recommendations_and_regenerations() {
    let app = TestApp::spawn().await;
    let owner = app.create("/users", &user()).await;
    let replay = with_id(user(), 77);
    app.post("/users", &replay).await;
    app.post("/users", &replay).await;
    let game = app.create("/events", &event()).await;
    app.create("/coupons", &coupon(owner, &[game])).await;
    app.get(&format!("/recommendation/{owner}")).await;
    app.get(&format!("/recommendation/{}", owner + 1)).await; // Either a cold start or a 404.
    app.post("/recommendation/generate", &serde_json::json!({}))
        .await;
    app.get("/users/424242").await;

    let text = app.get("/metrics").await.text().await.expect("text");
    let records = "slipstream_api_records_total";
    at_least(
        &text,
        records,
        &[("kind", "users"), ("result", "created")],
        2.0,
    );
    at_least(
        &text,
        records,
        &[("kind", "users"), ("result", "replayed")],
        1.0,
    );
    at_least(
        &text,
        records,
        &[("kind", "coupons"), ("result", "created")],
        1.0,
    );
    let served = "slipstream_recommendations_served_total";
    at_least(&text, served, &[("strategy", "favourite_sport")], 1.0);
    let regenerations = "slipstream_recommendation_regeneration_duration_seconds_count";
    for trigger in ["startup", "event", "coupon", "manual"] {
        at_least(&text, regenerations, &[("trigger", trigger)], 1.0);
    }
    let requests = "http_requests_total";
    let missing = [
        ("route", "/users/{id}"),
        ("method", "GET"),
        ("status", "404"),
    ];
    at_least(&text, requests, &missing, 1.0);
    let latency = "http_request_duration_seconds_bucket";
    at_least(&text, latency, &[("route", "/users"), ("le", "+Inf")], 3.0);
    at_least(&text, "process_resident_memory_bytes", &[], 1.0);
    at_least(
        &text,
        "slipstream_recommendation_staleness_seconds",
        &[],
        0.0,
    );
}
