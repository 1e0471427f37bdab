//! SPEC §9 on the producer: only `ingest` (or `admin`) keys write, malformed credentials are
//! a 401 and never a 5xx, and nothing refused reaches Kafka.

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::Value;
use slipstream_devkit::shared_broker;
use slipstream_runtime::auth::Scope;

use crate::helpers::TestProducer;
use slipstream_testkit::records;

fn user(id: i64) -> Value {
    let user = records::user().id(id);
    user.set("registration_date", "2024-01-01T00:00:00Z").into()
}

async fn post_with(producer: &TestProducer, values: &[&[u8]], id: i64) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/users", producer.url))
        .json(&user(id));
    for value in values {
        let value = HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(AUTHORIZATION, value);
    }
    request.send().await.expect("reachable")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_ingest_and_admin_keys_write_and_nothing_refused_is_in_kafka() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let mut written = 0;
    for (id, scope) in (1..).zip(Scope::ALL) {
        let bearer = producer.keys.bearer(scope);
        let response = post_with(&producer, &[bearer.as_bytes()], id).await;
        if matches!(scope, Scope::Ingest | Scope::Admin) {
            assert_eq!(response.status(), 202, "{scope}");
            written += 1;
        } else {
            assert_eq!(response.status(), 403, "{scope}");
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(body["type"], "forbidden");
            assert_eq!(body["scope"], "ingest");
        }
    }
    let long = format!("Bearer {}", "a".repeat(10_000));
    let ingest = producer.keys.bearer(Scope::Ingest);
    let malformed: [&[&[u8]]; 7] = [
        &[],
        &[b""],
        &[b"Bearer"],
        &[long.as_bytes()],
        &["Bearer slp_\u{e9}".as_bytes()],
        &[b"Basic dXNlcjpwYXNz"],
        &[ingest.as_bytes(), ingest.as_bytes()],
    ];
    for (n, values) in malformed.iter().enumerate() {
        let response = post_with(&producer, values, 100 + n as i64).await;
        assert_eq!(response.status(), 401, "case {n}");
        assert!(
            response.headers().contains_key(WWW_AUTHENTICATE),
            "case {n}"
        );
    }
    assert_eq!(producer.count("users"), written);
}
