use chrono::{DateTime, SubsecRound, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{failing_fields, problem, user, with_id, TestApp};

#[tokio::test]
async fn users_without_id_get_increasing_ids_below_the_producer_range() {
    let app = TestApp::spawn().await;
    let first = app.create("/users", &user()).await;
    let second = app.create("/users", &user()).await;
    assert!(first > 0 && first < second && second < GENERATED_ID_FLOOR);
}

#[tokio::test]
async fn assigned_ids_pass_over_client_ids_but_never_enter_the_producer_range() {
    let app = TestApp::spawn().await;
    for id in [1, 2, 4] {
        app.create("/users", &with_id(user(), id)).await;
    }
    app.create("/users", &with_id(user(), GENERATED_ID_FLOOR + 5))
        .await;
    let mut assigned = Vec::new();
    for _ in 0..3 {
        assigned.push(app.create("/users", &user()).await);
    }
    assert_eq!(assigned, [3, 5, 6]);
}

#[tokio::test]
async fn a_user_with_id_is_created_and_answered_as_stored() {
    let app = TestApp::spawn().await;
    let body = json!({"id": 7, "birth_year": 1985, "country": "UK", "currency": "GBP", "gender": "X", "registration_date": "2024-01-02 03:04:05"});
    let response = app.post("/users", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let expected = json!({"id": 7, "birth_year": 1985, "country": "GB", "currency": "GBP", "gender": "X", "registration_date": "2024-01-02T03:04:05Z"});
    assert_eq!(response.json::<Value>().await.expect("JSON"), expected);
    let stored: Value = app.get("/users/7").await.json().await.expect("JSON");
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_user_without_registration_date_is_registered_now() {
    let app = TestApp::spawn().await;
    let before = Utc::now();
    let id = app.create("/users", &user()).await;
    let stored: Value = app
        .get(&format!("/users/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    let registered: DateTime<Utc> = stored["registration_date"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("an RFC 3339 registration_date");
    assert!(registered >= before.trunc_subsecs(6) && registered <= Utc::now());
}

#[tokio::test]
async fn an_identical_user_replay_is_200_with_the_stored_record() {
    let app = TestApp::spawn().await;
    let body = with_id(user(), 3);
    let created: Value = app.post("/users", &body).await.json().await.expect("JSON");
    let replay = app.post("/users", &body).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.expect("JSON"), created);
}

#[tokio::test]
async fn a_user_replayed_without_registration_date_is_the_same_user() {
    let app = TestApp::spawn().await;
    let mut first = with_id(user(), 4);
    first["registration_date"] = json!("2024-03-01T10:00:00+02:00");
    app.create("/users", &first).await;
    let replay = app.post("/users", &with_id(user(), 4)).await;
    assert_eq!(replay.status(), StatusCode::OK);
    let stored: Value = replay.json().await.expect("JSON");
    assert_eq!(stored["registration_date"], "2024-03-01T08:00:00Z");
}

#[tokio::test]
async fn a_different_user_under_a_stored_id_is_an_id_conflict() {
    let app = TestApp::spawn().await;
    app.create("/users", &with_id(user(), 5)).await;
    let mut other = with_id(user(), 5);
    other["gender"] = json!("M");
    let body = problem(
        app.post("/users", &other).await,
        StatusCode::CONFLICT,
        "id-conflict",
    )
    .await;
    assert_eq!(
        body["detail"],
        "A user with id 5 exists with different content."
    );
    let stored: Value = app.get("/users/5").await.json().await.expect("JSON");
    assert_eq!(stored["gender"], "F");
}

#[tokio::test]
async fn an_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/users/999").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_user_is_422_naming_every_failing_field() {
    let app = TestApp::spawn().await;
    let body = json!({"id": -1, "birth_year": 2020, "country": "Greece", "currency": "EURO", "gender": "male", "registration_date": "2999-01-01T00:00:00Z", "nickname": "x"});
    let problem = problem(
        app.post("/users", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(
        failing_fields(&problem),
        [
            "birth_year",
            "country",
            "currency",
            "gender",
            "id",
            "nickname",
            "registration_date"
        ]
    );
}
