use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{event, failing_fields, problem, with_id, TestApp};

#[tokio::test]
async fn an_event_is_stored_with_rfc3339_utc_timestamps() {
    let app = TestApp::spawn().await;
    let mut body = event();
    body["begin_timestamp"] = json!("2030-06-15 18:00:00.25");
    body["end_timestamp"] = json!("2030-06-15T22:00:00+02:00");
    body["sport"] = json!("  Football ");
    body["country"] = json!("JPN");
    let id = app.create("/events", &body).await;
    let stored: Value = app
        .get(&format!("/events/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    let expected = json!({
        "id": id,
        "begin_timestamp": "2030-06-15T18:00:00.250Z",
        "end_timestamp": "2030-06-15T20:00:00Z",
        "country": "JP",
        "league": "Premier League",
        "sport": "Football",
        "participants": ["Arsenal", "Chelsea"],
    });
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn an_event_with_a_producer_id_is_created_under_that_id() {
    let app = TestApp::spawn().await;
    let id = GENERATED_ID_FLOOR + 42;
    assert_eq!(app.create("/events", &with_id(event(), id)).await, id);
    assert_eq!(
        app.get(&format!("/events/{id}")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn gen_recommendations_is_accepted_as_the_original_system_spelt_it() {
    let app = TestApp::spawn().await;
    for flag in ["true", "false", "False", "0", "1"] {
        let response = app
            .post(&format!("/events?gen_recommendations={flag}"), &event())
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{flag}");
    }
}

#[tokio::test]
async fn gen_recommendations_that_is_not_a_boolean_is_422() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/events?gen_recommendations=maybe", &event())
        .await;
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(failing_fields(&problem), ["gen_recommendations"]);
}

#[tokio::test]
async fn an_identical_event_replay_is_200_with_the_stored_record() {
    let app = TestApp::spawn().await;
    let body = with_id(event(), 8);
    let created: Value = app.post("/events", &body).await.json().await.expect("JSON");
    let replay = app.post("/events?gen_recommendations=false", &body).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.expect("JSON"), created);
}

#[tokio::test]
async fn a_different_event_under_a_stored_id_is_an_id_conflict() {
    let app = TestApp::spawn().await;
    app.create("/events", &with_id(event(), 8)).await;
    let mut other = with_id(event(), 8);
    other["sport"] = json!("football");
    problem(
        app.post("/events", &other).await,
        StatusCode::CONFLICT,
        "id-conflict",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_event_is_404() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/events/1").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

#[tokio::test]
async fn an_invalid_event_is_422_naming_every_failing_field() {
    let app = TestApp::spawn().await;
    let body = json!({
        "begin_timestamp": "2030-06-15T20:00:00Z",
        "end_timestamp": "2030-06-15T18:00:00Z",
        "country": "gb",
        "league": "",
        "sport": "x".repeat(65),
        "participants": ["Arsenal", "arsenal"],
        "venue": "Emirates",
    });
    let problem = problem(
        app.post("/events", &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    )
    .await;
    assert_eq!(
        failing_fields(&problem),
        [
            "country",
            "end_timestamp",
            "league",
            "participants[1]",
            "sport",
            "venue"
        ]
    );
}
