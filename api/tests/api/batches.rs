//! A POST of a JSON array stores the batch in one transaction: all of it, answered record by
//! record, or none of it, with the failing record named.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{coupon, event, failing_fields, problem, user, with_id, TestApp};

/// Posts a batch that must be stored whole, and returns the answer.
async fn store(app: &TestApp, path: &str, batch: &Value) -> Value {
    let response = app.post(path, batch).await;
    assert_eq!(response.status(), StatusCode::OK, "POST {path} {batch}");
    response.json().await.expect("JSON")
}

async fn read(app: &TestApp, path: &str) -> Value {
    app.get(path).await.json().await.expect("JSON")
}

/// The `status` of each item of a batch's answer.
fn statuses(answer: &Value) -> Vec<u64> {
    let items = answer.as_array().expect("an array");
    items
        .iter()
        .map(|i| i["status"].as_u64().expect("a status"))
        .collect()
}

#[tokio::test]
async fn a_batch_answers_each_record_as_a_lone_post_would() {
    let app = TestApp::spawn().await;
    app.create("/users", &with_id(user(), 10)).await;
    let batch = json!([with_id(user(), 11), with_id(user(), 10), user()]);
    let answer = store(&app, "/users", &batch).await;
    assert_eq!(statuses(&answer), [201, 200, 201]);
    assert_eq!(answer[0]["record"]["id"], 11);
    assert_eq!(answer[1]["record"]["id"], 10);
    let assigned = answer[2]["record"]["id"].as_i64().expect("an assigned id");
    for id in [11, assigned] {
        assert_eq!(app.get(&format!("/users/{id}")).await.status(), 200);
    }
}

#[tokio::test]
async fn a_batch_of_coupons_reaches_the_recommendations() {
    let app = TestApp::spawn().await;
    let events = json!([with_id(event(), 1), with_id(event(), 2)]);
    store(&app, "/events", &events).await;
    let users = json!([with_id(user(), 5)]);
    store(&app, "/users", &users).await;
    let coupons = json!([coupon(5, &[1]), coupon(5, &[1, 2])]);
    let answer = store(&app, "/coupons", &coupons).await;
    assert_eq!(statuses(&answer), [201, 201]);
    let of_user = read(&app, "/coupons/user/5").await;
    assert_eq!(of_user.as_array().map(Vec::len), Some(2));
    let recommended = read(&app, "/recommendation/5").await;
    assert_eq!(recommended["strategy"], "favourite_sport");
}

#[tokio::test]
async fn a_batch_of_new_coupons_is_stored_exactly_as_sent() {
    let app = TestApp::spawn().await;
    let events = json!([
        with_id(event(), 1),
        with_id(event(), 2),
        with_id(event(), 3)
    ]);
    store(&app, "/events", &events).await;
    store(
        &app,
        "/users",
        &json!([with_id(user(), 5), with_id(user(), 6)]),
    )
    .await;
    let coupons = json!([
        {"id": 20, "user_id": 5, "stake": 0.29, "selections": [{"event_id": 3, "odds": 1.01}, {"event_id": 1, "odds": 10000}], "timestamp": "2024-05-01T18:30:00.123456Z"},
        {"id": 21, "user_id": 6, "stake": 1000000, "selections": [{"event_id": 2, "odds": 2.5}], "timestamp": "2024-05-02T08:00:00Z"},
    ]);
    let answer = store(&app, "/coupons", &coupons).await;
    assert_eq!(statuses(&answer), [201, 201]);
    for (i, id) in [(0, 20), (1, 21)] {
        let stored = read(&app, &format!("/coupons/{id}")).await;
        assert_eq!(stored, coupons[i], "coupon {id}");
        assert_eq!(answer[i]["record"], coupons[i], "coupon {id} as answered");
    }
    // Sent again, the batch is recognised record by record.
    let again = store(&app, "/coupons", &coupons).await;
    assert_eq!(statuses(&again), [200, 200]);
    let recommended = read(&app, "/recommendation/6").await;
    assert_eq!(recommended["strategy"], "favourite_sport");
}

#[tokio::test]
async fn a_refused_record_rolls_the_whole_batch_back_and_is_named() {
    let app = TestApp::spawn().await;
    let user_id = app.create("/users", &user()).await;
    let event_id = app.create("/events", &event()).await;
    let batch = json!([
        with_id(coupon(user_id, &[event_id]), 100),
        with_id(coupon(user_id, &[event_id, 404]), 101),
        with_id(coupon(user_id, &[event_id]), 102),
    ]);
    let response = app.post("/coupons", &batch).await;
    let body = problem(response, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(body["index"], 1);
    assert_eq!(body["missing"], json!({"users": [], "events": [404]}));
    for id in [100, 101, 102] {
        let found = app.get(&format!("/coupons/{id}")).await.status();
        assert_eq!(
            found,
            StatusCode::NOT_FOUND,
            "coupon {id} of a refused batch"
        );
    }
    let of_user = read(&app, &format!("/coupons/user/{user_id}")).await;
    assert_eq!(of_user, json!([]));
}

#[tokio::test]
async fn a_conflict_inside_a_batch_is_named_by_index() {
    let app = TestApp::spawn().await;
    let batch = json!([with_id(user(), 7), {"id": 7, "birth_year": 1950, "country": "GR", "currency": "EUR", "gender": "M"}]);
    let body = problem(
        app.post("/users", &batch).await,
        StatusCode::CONFLICT,
        "id-conflict",
    )
    .await;
    assert_eq!(body["index"], 1);
    assert_eq!(app.get("/users/7").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_invalid_field_of_a_batch_is_named_with_its_record() {
    let app = TestApp::spawn().await;
    let mut bad = user();
    bad["country"] = json!("Greece");
    let batch = json!([user(), bad, {"birth_year": 1990}]);
    let body = problem(
        app.post("/users", &batch).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(
        failing_fields(&body),
        ["[1].country", "[2].country", "[2].currency", "[2].gender"]
    );
    let over = Value::Array(vec![user(); 1001]);
    let body = problem(
        app.post("/users", &over).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert!(body["errors"][0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("at most 1000")));
}
