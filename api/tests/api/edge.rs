use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{problem, user, OtherWriter, TestApp};

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_415() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/users", app.address))
        .header(CONTENT_TYPE, "text/plain")
        .body(user().to_string())
        .send()
        .await
        .expect("sent");
    problem(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/coupons", app.address))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"user_id": 1,"#)
        .send()
        .await
        .expect("sent");
    problem(response, StatusCode::BAD_REQUEST, "malformed-json").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = TestApp::spawn_with(|config| config.body_limit_bytes = 256).await;
    let mut body = user();
    body["padding"] = json!("x".repeat(300));
    let response = app.post("/users", &body).await;
    problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    problem(app.get("/bets/1").await, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .delete(format!("{}/users/1", app.address))
        .send()
        .await
        .expect("sent");
    problem(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
    )
    .await;
}

#[tokio::test]
async fn a_path_id_that_is_not_a_positive_integer_is_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/users/abc",
        "/events/0",
        "/coupons/-3",
        "/coupons/user/1.5",
        "/users/99999999999999999999",
    ] {
        problem(app.get(path).await, StatusCode::BAD_REQUEST, "invalid-path").await;
    }
}

#[tokio::test]
async fn root_names_the_service() {
    let app = TestApp::spawn().await;
    let body: Value = app.get("/").await.json().await.expect("JSON");
    assert_eq!(body["service"], "api");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn health_and_ready_answer_200_when_the_database_is_usable() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("JSON"),
        json!({"status": "ready"})
    );
}

#[tokio::test]
async fn a_write_the_database_cannot_take_now_is_503_with_retry_after() {
    let app = TestApp::spawn_with(|config| config.database_busy_timeout_ms = 200).await;
    let other_process = OtherWriter::lock(&app).await;

    let response = app.post("/users", &user()).await;
    assert_eq!(
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(
        app.get("/ready").await.status(),
        StatusCode::OK,
        "reads go on beside a writer"
    );

    other_process.release().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.create("/users", &user()).await;
}
