use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use slipstream_testkit::records;

use crate::helpers::{problem, TestApp};

fn user() -> Value {
    records::user().into()
}

/// An event of `sport` beginning `hours` from now (negative: already over).
fn event(sport: &str, hours: i64) -> Value {
    let begin = Utc::now() + Duration::hours(hours);
    records::event_at(begin).set("sport", sport).into()
}

fn coupon(user_id: i64, events: &[i64]) -> Value {
    records::coupon(user_id, events).into()
}

async fn recommendation(app: &TestApp, user_id: i64, query: &str) -> Value {
    let response = app.get(&format!("/recommendation/{user_id}{query}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON")
}

fn ids(answer: &Value) -> Vec<i64> {
    answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn a_new_event_reaches_its_sports_fans_without_a_regeneration() {
    let app = TestApp::spawn().await;
    let fan = app.create("/users", &user()).await;
    let watched = app.create("/events", &event("Football", 1)).await;
    let tennis = app.create("/events", &event("tennis", 1)).await;
    app.create("/coupons", &coupon(fan, &[watched])).await;

    let new = app.create("/events", &event("football", 30)).await;
    let answer = recommendation(&app, fan, "").await;
    assert_eq!(answer["user_id"], fan);
    assert_eq!(answer["strategy"], "favourite_sport");
    assert_eq!(answer["favourite_sport"], "football");
    assert!(answer["generated_at"].is_string());
    assert_eq!(ids(&answer), [new, tennis], "the bet-on event is left out");
    let first = &answer["events"][0];
    assert_eq!(
        (&first["reason"], &first["popularity"], &first["sport"]),
        (&json!("favourite_sport"), &json!(0), &json!("football"))
    );
    assert_eq!(answer["events"][1]["reason"], "popular");
}

#[tokio::test]
async fn a_coupon_moves_its_events_up_for_everyone_at_once() {
    let app = TestApp::spawn().await;
    let (a, b) = (
        app.create("/users", &user()).await,
        app.create("/users", &user()).await,
    );
    let early = app.create("/events", &event("golf", 1)).await;
    let late = app.create("/events", &event("golf", 5)).await;
    assert_eq!(ids(&recommendation(&app, a, "").await), [early, late]);
    app.create("/coupons", &coupon(b, &[late])).await;
    let answer = recommendation(&app, a, "").await;
    assert_eq!(
        answer["strategy"], "popular",
        "a user without coupons gets the cold start"
    );
    assert_eq!(answer["favourite_sport"], Value::Null);
    assert_eq!(ids(&answer), [late, early]);
    assert_eq!(answer["events"][0]["popularity"], 1);
}

#[tokio::test]
async fn an_event_uploaded_with_gen_recommendations_false_waits_for_generate() {
    let app = TestApp::spawn().await;
    let someone = app.create("/users", &user()).await;
    let held = app
        .post("/events?gen_recommendations=false", &event("tennis", 3))
        .await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let held: i64 = held.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");
    assert!(ids(&recommendation(&app, someone, "").await).is_empty());

    let generated: Value = app
        .post("/recommendation/generate", &json!({}))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        (&generated["users"], &generated["events"]),
        (&json!(1), &json!(1))
    );
    assert!(generated["duration_ms"].is_u64());
    assert_eq!(ids(&recommendation(&app, someone, "").await), [held]);
}

#[tokio::test]
async fn ended_events_are_not_recommended() {
    let app = TestApp::spawn().await;
    let someone = app.create("/users", &user()).await;
    app.create("/events", &event("tennis", -5)).await;
    let running = app.create("/events", &event("tennis", -1)).await;
    assert_eq!(ids(&recommendation(&app, someone, "").await), [running]);
}

#[tokio::test]
async fn the_limit_is_3_by_default_and_at_most_50() {
    let app = TestApp::spawn().await;
    let someone = app.create("/users", &user()).await;
    for hours in 1..=52 {
        app.create("/events", &event("football", hours)).await;
    }
    assert_eq!(ids(&recommendation(&app, someone, "").await).len(), 3);
    assert_eq!(
        ids(&recommendation(&app, someone, "?limit=1").await).len(),
        1
    );
    assert_eq!(
        ids(&recommendation(&app, someone, "?limit=50").await).len(),
        50
    );
    for bad in ["0", "51", "-1", "three", ""] {
        let response = app
            .get(&format!("/recommendation/{someone}?limit={bad}"))
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert_eq!(body["errors"][0]["field"], "limit", "limit={bad}");
    }
}

#[tokio::test]
async fn an_unknown_user_has_no_recommendation() {
    let app = TestApp::spawn().await;
    problem(
        app.get("/recommendation/404").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    problem(
        app.get("/recommendation/abc").await,
        StatusCode::BAD_REQUEST,
        "invalid-path",
    )
    .await;
}

#[tokio::test]
async fn recommendations_are_rebuilt_from_the_database_after_a_restart() {
    let app = TestApp::spawn().await;
    let fan = app.create("/users", &user()).await;
    let events = [
        app.create("/events", &event("Golf", 1)).await,
        app.create("/events", &event("golf", 2)).await,
        app.create("/events", &event("tennis", 1)).await,
    ];
    app.create("/coupons", &coupon(fan, &[events[0]])).await;
    let other = app.create("/users", &user()).await;
    app.create("/coupons", &coupon(other, &[events[2]])).await;
    let before = recommendation(&app, fan, "?limit=5").await;

    let app = app.restart().await;
    let after = recommendation(&app, fan, "?limit=5").await;
    assert_eq!(ids(&after), ids(&before));
    assert_eq!(ids(&after), [events[1], events[2]]);
    assert_eq!(after["events"], before["events"]);
}

#[tokio::test]
async fn the_periodic_pass_lists_held_back_events_without_a_regeneration() {
    let app = TestApp::spawn_with(|config| config.recommendation_refresh_secs = 1).await;
    let someone = app.create("/users", &user()).await;
    let held = app
        .post("/events?gen_recommendations=false", &event("tennis", 3))
        .await;
    let held: i64 = held.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");
    assert!(ids(&recommendation(&app, someone, "").await).is_empty());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while ids(&recommendation(&app, someone, "").await) != [held] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the periodic pass never listed the event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
