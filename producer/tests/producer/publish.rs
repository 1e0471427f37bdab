use rdkafka::Message;
use serde_json::{json, Value};
use slipstream_devkit::shared_broker;
use slipstream_model::GENERATED_ID_FLOOR;

use slipstream_devkit::kafka::header;

use crate::helpers::{json_of, key_of, TestProducer};
use slipstream_testkit::records;

fn user() -> Value {
    records::user().set("country", "UK").into()
}

fn coupon(id: i64, user_id: i64) -> Value {
    records::coupon(user_id, &[3]).id(id).into()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_record_is_in_kafka_with_key_value_and_headers() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let response = producer
        .http
        .post(format!("{}/users", producer.url))
        .header("x-request-id", "req-123")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .json(&user())
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 202);
    let receipt: Value = response.json().await.expect("JSON");
    let id = receipt["id"].as_i64().expect("id");
    assert!(
        id >= GENERATED_ID_FLOOR,
        "producer ids live above the api's"
    );
    assert_eq!(receipt["topic"], json!(format!("{}users", producer.prefix)));

    let messages = producer.read_topic("users", 1);
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(
        (i64::from(message.partition()), message.offset()),
        (
            receipt["partition"].as_i64().expect("p"),
            receipt["offset"].as_i64().expect("o")
        )
    );
    assert_eq!(key_of(message), id.to_string());
    let value = json_of(message);
    assert_eq!(value["id"], json!(id));
    assert_eq!(
        value["country"], "GB",
        "the value is the parsed, canonical record"
    );
    assert!(
        value.get("registration_date").is_none(),
        "an absent date stays absent, for the api to fill: {value}"
    );
    assert_eq!(
        header(message, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(header(message, "schema-version").as_deref(), Some("1"));
    assert_eq!(header(message, "request-id").as_deref(), Some("req-123"));
    assert_eq!(
        header(message, "traceparent").as_deref(),
        Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn coupons_are_keyed_by_user_and_a_batch_gets_a_receipt_per_record() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let batch = json!([coupon(1, 42), coupon(2, 42), coupon(3, 7)]);
    let response = producer.post("/coupons", &batch).await;
    assert_eq!(response.status(), 202);
    let receipts: Vec<Value> = response.json().await.expect("JSON");
    assert_eq!(
        receipts
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        receipts[0]["partition"], receipts[1]["partition"],
        "one user's coupons share a partition"
    );

    let messages = producer.read_topic("coupons", 3);
    let mut keys: Vec<String> = messages.iter().map(key_of).collect();
    keys.sort();
    assert_eq!(keys, ["42", "42", "7"]);
    assert!(messages
        .iter()
        .all(|m| json_of(m).get("timestamp").is_none()));
    assert!(messages.iter().all(|m| m.headers().is_some()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_with_an_invalid_record_is_refused_whole_naming_it_by_index() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let mut bad = user();
    bad["country"] = json!("Greece");
    bad["nickname"] = json!("x");
    let response = producer.post("/users", &json!([user(), bad, user()])).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("JSON");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["[1].nickname", "[1].country"]);
    assert_eq!(
        producer.count("users"),
        0,
        "nothing of a refused batch is written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clients_own_id_in_the_range_producers_assign_is_refused_naming_it() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let with_id = |id: i64| {
        let mut user = user();
        user["id"] = json!(id);
        user
    };
    let batch = json!([with_id(GENERATED_ID_FLOOR - 1), with_id(GENERATED_ID_FLOOR)]);
    let response = producer.post("/users", &batch).await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["errors"][0]["field"], "[1].id", "{problem}");
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(1));
    let response = producer.post("/users", &with_id(i64::MAX)).await;
    assert_eq!(response.status(), 422);
    assert_eq!(producer.count("users"), 0);
    let response = producer
        .post("/users", &with_id(GENERATED_ID_FLOOR - 1))
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test(flavor = "multi_thread")]
async fn batches_over_a_thousand_records_are_refused() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    let response = producer
        .post("/users", &Value::Array(vec![user(); 1001]))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(producer.count("users"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_problem_json_not_server_errors() {
    let producer = TestProducer::start(shared_broker(), &["--body-limit-bytes", "2048"]).await;
    let url = |p: &str| format!("{}{p}", producer.url);
    let cases = [
        (
            producer
                .http
                .post(url("/users"))
                .header("content-type", "text/plain")
                .body("{}"),
            415,
        ),
        (
            producer
                .http
                .post(url("/users"))
                .header("content-type", "application/json")
                .body("{\"birth_year\":"),
            400,
        ),
        (
            producer
                .http
                .post(url("/users"))
                .header("content-type", "application/json")
                .body(vec![b' '; 4096]),
            413,
        ),
        (producer.http.post(url("/nothing")).json(&user()), 404),
        (producer.http.get(url("/users")), 405),
    ];
    for (request, expected) in cases {
        let response = request.send().await.expect("reachable");
        assert_eq!(response.status().as_u16(), expected);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(producer.count("users"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer_when_kafka_is_up() {
    let producer = TestProducer::start(shared_broker(), &[]).await;
    for path in ["/", "/health", "/ready"] {
        let response = producer
            .http
            .get(format!("{}{path}", producer.url))
            .send()
            .await
            .expect("reachable");
        assert_eq!(response.status(), 200, "{path}");
    }
}
