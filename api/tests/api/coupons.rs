use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{coupon, event, failing_fields, problem, user, with_id, TestApp};

/// An app holding one user and two events, for coupons to reference.
async fn app_with_user_and_events() -> (TestApp, i64, [i64; 2]) {
    let app = TestApp::spawn().await;
    let user = app.create("/users", &user()).await;
    let events = [
        app.create("/events", &event()).await,
        app.create("/events", &event()).await,
    ];
    (app, user, events)
}

#[tokio::test]
async fn a_coupon_is_stored_exactly_as_sent() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let body = json!({
        "user_id": user,
        "stake": 0.29,
        "selections": [{"event_id": b, "odds": 1.01}, {"event_id": a, "odds": 10000}],
        "timestamp": "2024-05-01 18:30:00.123456",
    });
    let id = app.create("/coupons", &body).await;
    let stored: Value = app
        .get(&format!("/coupons/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    let expected = json!({
        "id": id,
        "user_id": user,
        "stake": 0.29,
        "selections": [{"event_id": b, "odds": 1.01}, {"event_id": a, "odds": 10000}],
        "timestamp": "2024-05-01T18:30:00.123456Z",
    });
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_coupon_with_an_unknown_event_is_a_missing_reference() {
    let (app, user, [a, _]) = app_with_user_and_events().await;
    let response = app.post("/coupons", &coupon(user, &[a, 404])).await;
    let body = problem(response, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(body["missing"], json!({"users": [], "events": [404]}));
}

#[tokio::test]
async fn a_missing_reference_lists_every_missing_id_sorted() {
    let (app, _, [a, _]) = app_with_user_and_events().await;
    let response = app.post("/coupons", &coupon(77, &[900, a, 500, 700])).await;
    let body = problem(response, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(
        body["missing"],
        json!({"users": [77], "events": [500, 700, 900]})
    );
    problem(
        app.get("/coupons/user/77").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn a_coupon_refused_for_a_missing_reference_is_accepted_once_it_exists() {
    let (app, user, [a, _]) = app_with_user_and_events().await;
    let body = with_id(coupon(user, &[a, 31]), 12);
    let refused = app.post("/coupons", &body).await;
    problem(refused, StatusCode::CONFLICT, "missing-reference").await;
    app.create("/events", &with_id(event(), 31)).await;
    assert_eq!(app.create("/coupons", &body).await, 12);
}

#[tokio::test]
async fn an_identical_coupon_replay_without_timestamp_is_200_with_the_stored_record() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let body = with_id(coupon(user, &[a, b]), 20);
    let created: Value = app
        .post("/coupons", &body)
        .await
        .json()
        .await
        .expect("JSON");
    let replay = app.post("/coupons", &body).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.expect("JSON"), created);
}

#[tokio::test]
async fn a_coupon_with_reordered_selections_under_a_stored_id_is_an_id_conflict() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    app.create("/coupons", &with_id(coupon(user, &[a, b]), 20))
        .await;
    let response = app
        .post("/coupons", &with_id(coupon(user, &[b, a]), 20))
        .await;
    problem(response, StatusCode::CONFLICT, "id-conflict").await;
}

#[tokio::test]
async fn a_users_coupons_are_ordered_by_timestamp_then_id() {
    let (app, user, [a, b]) = app_with_user_and_events().await;
    let at = |id: i64, timestamp: &str| {
        let mut body = with_id(coupon(user, &[a]), id);
        body["timestamp"] = json!(timestamp);
        body
    };
    app.create("/coupons", &at(3, "2024-05-02T00:00:00Z")).await;
    app.create("/coupons", &at(2, "2024-05-01T00:00:00Z")).await;
    app.create("/coupons", &at(1, "2024-05-02T00:00:00Z")).await;
    let other_user = app.create("/users", &crate::helpers::user()).await;
    app.create("/coupons", &coupon(other_user, &[b])).await;
    let coupons: Vec<Value> = app
        .get(&format!("/coupons/user/{user}"))
        .await
        .json()
        .await
        .expect("JSON");
    let ids: Vec<i64> = coupons.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(ids, [2, 1, 3]);
    assert_eq!(
        coupons[0]["selections"],
        json!([{"event_id": a, "odds": 1.85}])
    );
}

#[tokio::test]
async fn a_user_without_coupons_has_an_empty_list() {
    let (app, user, _) = app_with_user_and_events().await;
    let response = app.get(&format!("/coupons/user/{user}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!([]));
}

#[tokio::test]
async fn coupons_of_an_unknown_user_are_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/coupons/user/5").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_coupon_is_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/coupons/5").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_coupon_is_422_naming_every_failing_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "user_id": 0,
        "stake": 10.001,
        "selections": [{"event_id": 1, "odds": 1.0}, {"event_id": 1, "odds": 2}],
        "timestamp": "yesterday",
    });
    let problem = problem(
        app.post("/coupons", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(
        failing_fields(&problem),
        ["selections[0].odds", "stake", "timestamp", "user_id"]
    );
}
