use std::collections::{HashMap, HashSet};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{coupon, event, user, with_id, TestApp};

#[tokio::test]
async fn three_hundred_concurrent_posts_all_succeed_and_each_record_is_stored_once() {
    let app = TestApp::spawn().await;
    let owner = app.create("/users", &user()).await;
    let base_event = app.create("/events", &event()).await;
    let event_ids: Vec<i64> = (1..=50).map(|n| GENERATED_ID_FLOOR + n).collect();

    let users = (0..100).map(|_| ("/users", user()));
    // Every event twice, as a consumer redelivering a message would send it.
    let events = event_ids
        .iter()
        .chain(&event_ids)
        .map(|&id| ("/events", with_id(event(), id)));
    let coupons = (0..100).map(|_| ("/coupons", coupon(owner, &[base_event])));
    let requests: Vec<(&str, Value)> = users.chain(events).chain(coupons).collect();
    let responses = join_all(requests.iter().map(|(path, body)| async {
        let response = app.post(path, body).await;
        let status = response.status();
        let stored: Value = response.json().await.expect("JSON");
        (*path, status, stored["id"].as_i64().expect("an id"))
    }))
    .await;

    let mut statuses: HashMap<(&str, StatusCode), HashSet<i64>> = HashMap::new();
    for (path, status, id) in responses {
        assert!(status.is_success(), "{path}: {status}");
        assert!(
            statuses.entry((path, status)).or_default().insert(id),
            "{path} {id} twice"
        );
    }
    assert_eq!(statuses[&("/users", StatusCode::CREATED)].len(), 100);
    assert_eq!(statuses[&("/events", StatusCode::CREATED)].len(), 50);
    assert_eq!(statuses[&("/events", StatusCode::OK)].len(), 50);
    assert_eq!(statuses[&("/coupons", StatusCode::CREATED)].len(), 100);
    let owned: Vec<Value> = app
        .get(&format!("/coupons/user/{owner}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(owned.len(), 100);
}

#[tokio::test]
async fn an_acknowledged_record_survives_a_restart() {
    let app = TestApp::spawn().await;
    let id = app.create("/users", &user()).await;
    let stored: Value = app
        .get(&format!("/users/{id}"))
        .await
        .json()
        .await
        .expect("JSON");

    let app = app.restart().await;
    let after = app.get(&format!("/users/{id}")).await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(after.json::<Value>().await.expect("JSON"), stored);
    assert_eq!(app.create("/users", &user()).await, id + 1);
}

#[tokio::test]
async fn the_database_is_kept_in_wal_mode_so_reads_run_beside_the_writer() {
    use sqlx::{Connection, SqliteConnection};

    let app = TestApp::spawn().await;
    let mut conn = SqliteConnection::connect(app.database_url())
        .await
        .expect("connects");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("a journal mode");
    assert_eq!(mode, "wal");
}

/// A client that hangs up mid-request (a consumer killed while it forwards) must not leave
/// the write connection inside a transaction that no one will finish.
#[tokio::test]
async fn clients_hanging_up_mid_write_leave_the_database_writable() {
    let app = TestApp::spawn().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_micros(1500))
        .build()
        .expect("client");
    for round in 0..300u64 {
        let mut user = user();
        user["id"] = json!(10_000 + round);
        let _ = impatient
            .post(format!("{}/users", app.address))
            .json(&user)
            .send()
            .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.create("/users", &user()).await;
}
