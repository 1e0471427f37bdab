//! The writer's group commit: requests queued together share a transaction, each keeps its own
//! verdict, and a rebuild of the recommendations never holds writes back.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_devkit::metrics::sample;
use slipstream_runtime::auth::Scope;

use crate::helpers::{coupon, event, user, with_id, OtherWriter, TestApp};

/// (groups committed, requests committed) so far, over every app of this process.
async fn group_counters(app: &TestApp) -> (f64, f64) {
    let text = app.get("/metrics").await.text().await.expect("text");
    let count = |name| sample(&text, name, &[]).unwrap_or(0.0);
    (
        count("slipstream_api_write_groups_total"),
        count("slipstream_api_write_group_requests_total"),
    )
}

fn coupons(owner: i64, events: &[i64], first_id: i64) -> Value {
    let batch: Vec<Value> = (0..10)
        .map(|n| with_id(coupon(owner, events), first_id + n))
        .collect();
    json!(batch)
}

#[tokio::test]
async fn a_refused_batch_grouped_with_good_ones_is_the_only_one_refused() {
    let app = TestApp::spawn().await;
    let owner = app.create("/users", &user()).await;
    let game = app.create("/events", &event()).await;
    app.create("/coupons", &with_id(coupon(owner, &[game]), 5))
        .await;
    let (groups_before, requests_before) = group_counters(&app).await;

    let lock = OtherWriter::lock(&app).await;
    let mut batches: Vec<Value> = (0..20)
        .map(|b| coupons(owner, &[game], 1_000 + b * 10))
        .collect();
    // A batch naming an event that is not stored, and one reusing a stored id for another coupon.
    batches[7][3]["selections"][0]["event_id"] = json!(999_999);
    let mut other = coupon(owner, &[game]);
    other["stake"] = json!(99.5);
    batches[12][4] = with_id(other, 5);
    let answers = join_all(batches.iter().map(|batch| async {
        let response = app.post("/coupons", batch).await;
        let status = response.status();
        (status, response.json::<Value>().await.expect("JSON"))
    }));
    let release_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lock.release().await;
    };
    let (answers, ()) = tokio::join!(answers, release_later);

    for (b, (status, body)) in answers.iter().enumerate() {
        match b {
            7 => {
                assert_eq!(*status, StatusCode::CONFLICT, "{body}");
                assert_eq!(body["type"], "missing-reference");
                assert_eq!(body["index"], 3);
            }
            12 => {
                assert_eq!(*status, StatusCode::CONFLICT, "{body}");
                assert_eq!(body["type"], "id-conflict");
                assert_eq!(body["index"], 4);
            }
            _ => assert_eq!(*status, StatusCode::OK, "batch {b}: {body}"),
        }
    }
    let stored: Vec<Value> = app
        .get(&format!("/coupons/user/{owner}?limit=1000"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        stored.len(),
        1 + 18 * 10,
        "only the two refused batches are missing"
    );
    let recommendation: Value = app
        .get(&format!("/recommendation/{owner}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(recommendation["strategy"], "favourite_sport");

    // Every app of this process adds to the counters, but only groups of two or more requests
    // raise requests above groups: this test's queue alone accounts for 18 of them.
    let (groups, requests) = group_counters(&app).await;
    let grouped = (requests - requests_before) - (groups - groups_before);
    assert!(grouped >= 18.0, "requests beyond one per group: {grouped}");
}

#[tokio::test]
async fn clients_hanging_up_mid_group_leave_the_database_writable_and_lose_nothing_acknowledged() {
    let app = TestApp::spawn().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let key = app.keys.bearer(Scope::Write);
    let lock = OtherWriter::lock(&app).await;
    let gone = (0..20).map(|n| {
        let body = with_id(user(), 100 + n);
        let request = impatient
            .post(format!("{}/users", app.address))
            .header(AUTHORIZATION, &key)
            .json(&body);
        async move { request.send().await.is_ok() }
    });
    let patient = (0..20).map(|n| {
        let app = &app;
        async move { app.post("/users", &with_id(user(), 200 + n)).await.status() }
    });
    let release_later = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lock.release().await;
    };
    let (gone, patient, ()) = tokio::join!(join_all(gone), join_all(patient), release_later);

    assert!(gone.iter().all(|answered| !answered), "they hung up first");
    assert!(
        patient.iter().all(|s| *s == StatusCode::CREATED),
        "{patient:?}"
    );
    for n in 0..20 {
        assert_eq!(
            app.get(&format!("/users/{}", 200 + n)).await.status(),
            StatusCode::OK
        );
    }
    // Whatever the writer did with the requests whose client left, the database goes on.
    app.create("/users", &user()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_keep_flowing_while_a_regeneration_runs() {
    let app = TestApp::spawn().await;
    let game = app.create("/events", &event()).await;
    // Enough bettors that the regeneration outlasts the scheduling noise of a busy
    // two-core machine (150,000 took 1.2 s on PostgreSQL, and once 0 writes fit in it).
    seed_bettors(&app, game, 300_000).await;
    let app = app.restart().await;

    let generate = async {
        let started = Instant::now();
        let response = app.post("/recommendation/generate", &json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        started.elapsed()
    };
    let writes = async {
        // Posted one after another from the moment the regeneration was asked for.
        let mut answered = Vec::new();
        let started = Instant::now();
        for n in 0..2_000 {
            let status = app
                .post("/users", &with_id(user(), 1_000_000 + n))
                .await
                .status();
            assert_eq!(status, StatusCode::CREATED);
            answered.push(started.elapsed());
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        answered
    };
    let (took, answered) = tokio::join!(generate, writes);
    let during = answered.iter().filter(|at| **at < took).count();
    assert!(
        during >= 10,
        "only {during} writes were answered during a regeneration of {took:?}"
    );
}

/// Users with a tally each, written straight into the database: a rebuild then has real work.
async fn seed_bettors(app: &TestApp, event: i64, users: i64) {
    let mut db = app.database().await;
    let tally = format!(r#"{{"events":[{event}],"sports":[["football",1,0]]}}"#);
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO users (id, birth_year, country, currency, gender, registration_date)
         SELECT 10000000 + i, 1990, 'GR', 'EUR', 'F', 0 FROM n",
    )
    .bind(users)
    .execute(&mut db)
    .await
    .expect("users");
    sqlx::query(
        "INSERT INTO user_bets (user_id, tally) SELECT id, $1 FROM users WHERE id >= 10000000",
    )
    .bind(tally)
    .execute(&mut db)
    .await
    .expect("tallies");
}
