//! Bad input of every shape (SPEC §7) against the producer on a real broker: each request gets
//! its 4xx as problem+json naming the failing fields, nothing reaches Kafka, and nothing ends
//! in a 5xx, a panic or a hang.

use std::time::Duration;

use serde_json::{json, Value};
use slipstream_devkit::shared_broker;

use crate::helpers::TestProducer;
use slipstream_testkit::records;

fn user() -> Value {
    records::user().into()
}

fn coupon() -> Value {
    records::coupon(1, &[3]).into()
}

/// `base` with `field` set to the raw JSON text `value`, which need not be valid JSON.
fn with_raw(base: &Value, field: &str, value: &str) -> String {
    let mut object = base.clone();
    object[field] = json!("@");
    object.to_string().replacen("\"@\"", value, 1)
}

/// Sends `body` (byte for byte, as `content_type`) and checks the problem: its status, type,
/// and for a 422 the failing fields in the order reported.
async fn expect_problem(
    producer: &TestProducer,
    (path, content_type, body): (&str, Option<&str>, Vec<u8>),
    (status, kind, fields): (u16, &str, &[&str]),
) {
    let mut request = producer
        .http
        .post(format!("{}{path}", producer.url))
        .timeout(Duration::from_secs(10))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("an answer in time");
    let context = format!("{path} expecting {status} {kind} {fields:?}");
    assert_eq!(response.status().as_u16(), status, "{context}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{context}"
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["type"], kind, "{context}: {problem}");
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(named, fields, "{context}: {problem}");
}

const JSON: Option<&str> = Some("application/json");

#[tokio::test(flavor = "multi_thread")]
async fn malformed_records_and_batches_are_422_naming_each_field_and_write_nothing() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let batch = |items: &[String]| format!("[{}]", items.join(","));
    let one_user = user().to_string();
    let cases: [(&str, String, &[&str]); 13] = [
        (
            "/users",
            with_raw(&json!({}), "birth_year", r#""1990""#),
            &["birth_year", "country", "currency", "gender"],
        ),
        (
            "/users",
            with_raw(&user(), "nickname", r#""x""#),
            &["nickname"],
        ),
        (
            "/users",
            with_raw(&user(), "id", "9223372036854775808"),
            &["id"],
        ),
        ("/users", with_raw(&user(), "id", "-1"), &["id"]),
        (
            "/users",
            with_raw(
                &user(),
                "registration_date",
                r#""0000-01-01T00:00:00+23:59""#,
            ),
            &["registration_date"],
        ),
        (
            "/coupons",
            with_raw(&coupon(), "stake", r#""79228162514264337593543950335""#),
            &["stake"],
        ),
        (
            "/coupons",
            with_raw(&coupon(), "stake", r#""NaN""#),
            &["stake"],
        ),
        (
            "/coupons",
            with_raw(&coupon(), "stake", r#""-Infinity""#),
            &["stake"],
        ),
        (
            "/coupons",
            batch(&[coupon().to_string(), with_raw(&coupon(), "user_id", "1e19")]),
            &["[1].user_id"],
        ),
        (
            "/users",
            batch(&[one_user, "[]".into(), with_raw(&user(), "gender", "7")]),
            &["[1]", "[2].gender"],
        ),
        ("/events", "[]".into(), &[""]),
        ("/events", json!(vec![user(); 1001]).to_string(), &[""]),
        ("/events", r#""an event""#.into(), &[""]),
    ];
    for (path, body, fields) in cases {
        let body = body.into_bytes();
        expect_problem(&producer, (path, JSON, body), (422, "validation", fields)).await;
    }
    for topic in ["users", "events", "coupons"] {
        assert_eq!(producer.count(topic), 0, "nothing written to {topic}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_that_are_not_json_are_400_413_or_415_and_write_nothing() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let one_user = user().to_string();
    let mut invalid_utf8 = one_user.clone().into_bytes();
    invalid_utf8.splice(2..2, [0xff, 0xfe]);
    let cases = [
        (
            "/users",
            JSON,
            "[".repeat(100_000).into_bytes(),
            400,
            "malformed-json",
        ),
        ("/users", JSON, invalid_utf8, 400, "malformed-json"),
        (
            "/coupons",
            JSON,
            with_raw(&coupon(), "stake", "NaN").into_bytes(),
            400,
            "malformed-json",
        ),
        (
            "/coupons",
            JSON,
            with_raw(&coupon(), "stake", "1e400").into_bytes(),
            400,
            "malformed-json",
        ),
        ("/events", JSON, Vec::new(), 400, "malformed-json"),
        (
            "/events",
            JSON,
            vec![b' '; 10 * 1024 * 1024],
            413,
            "payload-too-large",
        ),
        (
            "/users",
            None,
            one_user.clone().into_bytes(),
            415,
            "unsupported-media-type",
        ),
        (
            "/users",
            Some("text/json"),
            one_user.clone().into_bytes(),
            415,
            "unsupported-media-type",
        ),
        (
            "/users",
            Some("multipart/form-data; boundary=x"),
            one_user.into_bytes(),
            415,
            "unsupported-media-type",
        ),
    ];
    for (path, content_type, body, status, kind) in cases {
        expect_problem(&producer, (path, content_type, body), (status, kind, &[])).await;
    }
    assert_eq!(producer.count("users"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_are_404_and_405_problems() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let cases = [
        (reqwest::Method::POST, "/bets", 404, "not-found"),
        (reqwest::Method::GET, "/users/1", 404, "not-found"),
        (reqwest::Method::POST, "/users/", 404, "not-found"),
        (reqwest::Method::DELETE, "/users", 405, "method-not-allowed"),
        (reqwest::Method::PUT, "/coupons", 405, "method-not-allowed"),
        (reqwest::Method::POST, "/health", 405, "method-not-allowed"),
    ];
    for (method, path, status, kind) in cases {
        let response = producer
            .http
            .request(method.clone(), format!("{}{path}", producer.url))
            .timeout(Duration::from_secs(10))
            .json(&user())
            .send()
            .await
            .expect("an answer in time");
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        let problem: Value = response.json().await.expect("JSON");
        assert_eq!(problem["type"], kind, "{method} {path}");
    }
}
