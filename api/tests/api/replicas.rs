//! Several api replicas on one PostgreSQL database (SPEC §10): each one's writes reach the
//! others' recommendations within a second, their ids never collide, and a replica whose
//! connections the server drops mid-stream ends where a fresh rebuild would.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{coupon, user, with_id, TestApp};

/// An event of `sport` that begins in a day.
fn event(sport: &str) -> Value {
    slipstream_testkit::event().set("sport", sport).into()
}

/// The user's recommendations as the app answers them, without the time they were made.
async fn recommendation(app: &TestApp, user: i64) -> Value {
    let response = app.get(&format!("/recommendation/{user}?limit=20")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut answer: Value = response.json().await.expect("JSON");
    answer["generated_at"] = Value::Null;
    answer
}

/// Waits until every app answers the same for each user, at most `within`; the answer.
async fn agreed(apps: &[&TestApp], users: &[i64], within: Duration) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let mut answers = Vec::new();
        for app in apps {
            answers.push(join_all(users.iter().map(|&u| recommendation(app, u))).await);
        }
        if answers.windows(2).all(|pair| pair[0] == pair[1]) {
            return answers.swap_remove(0);
        }
        let sports: Vec<Vec<&Value>> = (answers.iter())
            .map(|app| app.iter().map(|a| &a["favourite_sport"]).collect())
            .collect();
        assert!(
            started.elapsed() < within,
            "the replicas still disagree after {within:?}; favourite sports: {sports:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_write_through_one_replica_is_in_the_others_recommendations_within_a_second() {
    let first = TestApp::spawn_on_postgres().await;
    let second = first.replica("second").await;
    let fan = first.create("/users", &user()).await;
    let watched = first.create("/events", &event("Football")).await;
    let other = second.create("/events", &event("Football")).await;
    second.create("/events", &event("Tennis")).await;

    second.create("/coupons", &coupon(fan, &[watched])).await;
    let written = Instant::now();
    let answers = agreed(&[&first, &second], &[fan], Duration::from_secs(1)).await;
    let took = written.elapsed();
    assert_eq!(answers[0]["strategy"], "favourite_sport", "{}", answers[0]);
    assert_eq!(
        answers[0]["events"][0]["id"],
        json!(other),
        "the fan's sport first, the event bet on left out"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn ids_assigned_by_two_replicas_never_collide() {
    let first = TestApp::spawn_on_postgres().await;
    let second = first.replica("second").await;
    let posts = (0..60).map(|n: u32| {
        let app = if n.is_multiple_of(2) { &first } else { &second };
        async move {
            let response = app.post("/users", &user()).await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let stored: Value = response.json().await.expect("JSON");
            stored["id"].as_i64().expect("an id")
        }
    });
    let ids: Vec<i64> = join_all(posts).await;
    let distinct: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), 60, "{ids:?}");
}

/// Coupons posted through both replicas, as consumers would (a 503 is retried), while the
/// server terminates the second replica's connections several times.
#[tokio::test]
async fn a_replica_whose_connections_drop_mid_stream_ends_as_a_fresh_rebuild() {
    let first = TestApp::spawn_on_postgres().await;
    let second = first.replica("second").await;
    let mut users = Vec::new();
    for _ in 0..6 {
        users.push(first.create("/users", &user()).await);
    }
    let mut events = Vec::new();
    for sport in ["Football", "Tennis", "Golf", "Football", "Tennis", "Chess"] {
        events.push(second.create("/events", &event(sport)).await);
    }
    let posts = (0..120).map(|n: usize| {
        let app = if n.is_multiple_of(2) { &first } else { &second };
        let body = coupon(
            users[n % 6],
            &[events[n % 6], events[(n % 6 + 1 + n / 6 % 5) % 6]],
        );
        async move {
            loop {
                let response = app.post("/coupons", &body).await;
                let status = response.status();
                if status == StatusCode::CREATED {
                    return;
                }
                let problem = response.text().await.unwrap_or_default();
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let mut terminated = 0;
    let terminate = async {
        let mut db = first.database().await;
        // Until five connections were ended: the replica opens new ones as it needs them.
        for _ in 0..100 {
            if terminated >= 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'second'",
            )
            .fetch_all(&mut db)
            .await
            .expect("terminates");
            terminated += ended.iter().filter(|ended| **ended).count();
        }
    };
    tokio::join!(join_all(posts), terminate);
    assert!(
        terminated >= 5,
        "only {terminated} connections were terminated"
    );

    let fresh = first.replica("fresh").await;
    let answers = agreed(&[&first, &second, &fresh], &users, Duration::from_secs(1)).await;
    assert!(answers.iter().all(|a| a["strategy"] == "favourite_sport"));
}

/// Both replicas store coupons of the same users, on events of their own, at the same time:
/// each adds its own to the stored counts, so a replica rebuilt from them counts every coupon.
#[tokio::test]
async fn coupons_of_the_same_users_through_two_replicas_are_all_counted() {
    let first = TestApp::spawn_on_postgres().await;
    let second = first.replica("second").await;
    let users = [
        first.create("/users", &user()).await,
        first.create("/users", &user()).await,
    ];
    let mut events = Vec::new();
    for sport in ["Football", "Tennis", "Golf", "Chess"] {
        events.push(first.create("/events", &event(sport)).await);
    }
    let batches = (0..40).map(|b: usize| {
        let app = if b.is_multiple_of(2) { &first } else { &second };
        // Each replica its own events: only the users are shared. Ids of their own, as the
        // producer gives them, so that no lock for taking ids orders the replicas' groups.
        let batch: Vec<Value> = (0..25)
            .map(|n| {
                let id = GENERATED_ID_FLOOR + (b * 25 + n) as i64;
                with_id(coupon(users[n % 2], &[events[b % 2 * 2 + n % 2]]), id)
            })
            .collect();
        async move {
            let response = app.post("/coupons", &json!(batch)).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    });
    join_all(batches).await;

    let fresh = first.replica("fresh").await;
    agreed(&[&first, &second, &fresh], &users, Duration::from_secs(1)).await;
}

/// The first replica prunes every feed row it can at once; the second reads the feed only
/// when it commits. So when it does, the rows it had not read are gone, and it rebuilds.
#[tokio::test]
async fn a_replica_that_missed_pruned_feed_rows_rebuilds_and_answers_as_a_fresh_rebuild() {
    let first = TestApp::spawn_on_postgres_with(|config| config.feed_retention_secs = 0).await;
    let second = first
        .replica_with("second", |config| config.feed_poll_ms = 3_600_000)
        .await;
    let fan = first.create("/users", &user()).await;
    let mut events = Vec::new();
    for sport in ["Football", "Tennis", "Tennis"] {
        events.push(first.create("/events", &event(sport)).await);
    }
    first.create("/coupons", &coupon(fan, &[events[1]])).await;
    let mut db = first.database().await;
    let started = Instant::now();
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM feed")
            .fetch_one(&mut db)
            .await
            .expect("counted");
        if rows == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{rows} feed rows are left; pruning keeps only the newest"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    second.create("/users", &user()).await;
    let fresh = first.replica("fresh").await;
    let answers = agreed(&[&first, &second, &fresh], &[fan], Duration::from_secs(5)).await;
    assert_eq!(answers[0]["strategy"], "favourite_sport", "{}", answers[0]);
}
