//! Moving to PostgreSQL (README, Scale-out): `api-export` writes an SQLite database as JSON
//! Lines, `api-import` loads them into PostgreSQL, and the api there answers every record and
//! recommendation as the old one did, ids included.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{coupon, event, user, with_id, TestApp};

fn run(bin: &str, database_url: &str, dir: &Path) {
    let output = Command::new(bin)
        .args(["--database-url", database_url])
        .arg(dir)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{bin}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn answer(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    let mut answer: Value = response.json().await.expect("JSON");
    if let Some(generated) = answer.get_mut("generated_at") {
        *generated = Value::Null;
    }
    answer
}

#[tokio::test]
async fn an_sqlite_database_exported_and_imported_into_postgres_answers_the_same() {
    let old = TestApp::spawn_on_sqlite_with(|_| {}).await;
    let mut paths = Vec::new();
    let mut users = Vec::new();
    for n in 0..4 {
        let body = match n {
            // A producer's id, far above the api's own.
            0 => with_id(user(), GENERATED_ID_FLOOR + 7),
            _ => user(),
        };
        users.push(old.create("/users", &body).await);
    }
    let mut events = Vec::new();
    for sport in ["Football", "Tennis", "Football"] {
        let mut body = event();
        body["sport"] = json!(sport);
        events.push(old.create("/events", &body).await);
    }
    let mut coupons = Vec::new();
    for (n, &user) in users.iter().enumerate() {
        coupons.push(
            old.create("/coupons", &coupon(user, &events[n % 2..=n % 2 + 1]))
                .await,
        );
    }
    paths.extend(users.iter().map(|id| format!("/users/{id}")));
    paths.extend(events.iter().map(|id| format!("/events/{id}")));
    paths.extend(coupons.iter().map(|id| format!("/coupons/{id}")));
    paths.extend(users.iter().map(|id| format!("/recommendation/{id}")));

    let dir = tempfile::tempdir().expect("a temporary directory");
    run(
        env!("CARGO_BIN_EXE_api-export"),
        old.database_url(),
        dir.path(),
    );
    let lines = std::fs::read_to_string(dir.path().join("coupons.jsonl")).expect("written");
    assert_eq!(lines.lines().count(), coupons.len(), "{lines}");
    let url = slipstream_devkit::shared_database();
    run(env!("CARGO_BIN_EXE_api-import"), &url, dir.path());
    let new = TestApp::spawn_with(|config| config.database_url = url).await;
    assert!(new.is_on_postgres());

    for path in &paths {
        assert_eq!(answer(&new, path).await, answer(&old, path).await, "{path}");
    }
    let next = new.create("/users", &user()).await;
    let highest = users.iter().filter(|&&id| id < GENERATED_ID_FLOOR).max();
    assert!(Some(&next) > highest, "{next} is not after {highest:?}");
}

#[test]
fn exporting_a_database_file_that_does_not_exist_fails_and_creates_none() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.db");
    let output = Command::new(env!("CARGO_BIN_EXE_api-export"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", missing.display()))
        .arg(dir.path().join("out"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no such database file"), "{stderr}");
    assert!(!missing.exists());
}
