use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use slipstream_model::GENERATED_ID_FLOOR;

use crate::helpers::{coupon, event, problem, user, with_id, TestApp};

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
async fn a_failed_startup_build_stops_the_api_with_its_cause() {
    use sqlx::Executor;
    let app = TestApp::spawn().await;
    app.create("/users", &user()).await;
    // The counts the startup build reads: gone, as after a botched manual migration.
    let mut db = app.database().await;
    db.execute("DROP TABLE user_bets").await.expect("dropped");

    let error = format!("{:#}", app.restart_until_it_fails().await);
    assert!(
        error.starts_with("the recommendations' startup build failed: "),
        "{error}"
    );
    assert!(
        error.contains("user_bets"),
        "the database's own words: {error}"
    );
}

#[tokio::test]
async fn the_database_is_kept_in_wal_mode_so_reads_run_beside_the_writer() {
    let app = TestApp::spawn_on_sqlite_with(|_| {}).await;
    let mut conn = app.database().await;
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

/// The recommendations are rebuilt from what the writer counted (each event's popularity,
/// each user's tally) and the coupons it listed as not counted yet. On SQLite the writer
/// writes its counts every few coupons here, so after concurrent batches, replays and
/// refusals some are written and some are not (on PostgreSQL each group counts its own): an api started on a crash image of that database answers as the
/// running one, and after a clean stop the counts are what a recount from the stored coupons
/// gives, with nothing left to count.
#[tokio::test]
async fn the_counts_a_rebuild_reads_equal_a_recount_of_the_stored_coupons() {
    let app = TestApp::spawn_with(|config| config.count_flush_coupons = 7).await;
    let (mut users, mut events) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        users.push(app.create("/users", &user()).await);
    }
    let mut tennis = event();
    tennis["sport"] = json!("Tennis");
    for n in 0..6 {
        let body = if n % 2 == 0 { event() } else { tennis.clone() };
        events.push(app.create("/events", &body).await);
    }
    let batches: Vec<Value> = (0..12)
        .map(|b| {
            let batch: Vec<Value> = (0..8)
                .map(|n| {
                    let picks = [events[(b + n) % 6], events[(b * n + 1) % 6]];
                    let picks = if picks[0] == picks[1] {
                        &picks[..1]
                    } else {
                        &picks[..]
                    };
                    with_id(coupon(users[n % 5], picks), 500 + (b * 8 + n) as i64)
                })
                .collect();
            json!(batch)
        })
        .collect();
    // Each batch twice (the second time all replays), and one batch refused.
    let mut refused = batches[0].clone();
    refused[0]["id"] = json!(9_999);
    refused[1]["selections"][0]["event_id"] = json!(424_242);
    let posts = batches.iter().chain(&batches).chain([&refused]);
    join_all(posts.map(|batch| app.post("/coupons", batch))).await;
    // Which group writes the counts depends on how the posts were grouped, and a group of
    // replays alone can write them all; three new coupons after that leave some uncounted.
    let tail: Vec<Value> = (0..3)
        .map(|n| with_id(coupon(users[n], &events[n..=n]), 600 + n as i64))
        .collect();
    let response = app.post("/coupons", &json!(tail)).await;
    assert_eq!(response.status(), StatusCode::OK, "the three new coupons");

    let uncounted = uncounted_coupons(&app).await;
    if app.is_on_postgres() {
        // Replicas sharing the database count each group in it as it commits.
        assert_eq!(uncounted, 0, "every coupon is counted at its commit");
    } else {
        assert!(
            (3..10).contains(&uncounted),
            "some of the 99 coupons are counted in the database and some not yet: {uncounted}"
        );
    }
    let image = crash_image(&app).await;
    let crashed = TestApp::spawn_with(|config| config.database_url = image).await;
    for &user in &users {
        let path = format!("/recommendation/{user}?limit=6");
        let (mut running, mut recounted): (Value, Value) = (
            app.get(&path).await.json().await.expect("JSON"),
            crashed.get(&path).await.json().await.expect("JSON"),
        );
        for answer in [&mut running, &mut recounted] {
            answer["generated_at"] = Value::Null;
        }
        assert_eq!(running, recounted, "recommendations of user {user}");
    }

    let app = app.restart().await;
    assert_eq!(
        uncounted_coupons(&app).await,
        0,
        "a clean stop writes every count"
    );
    let mut db = app.database().await;
    let popularity: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT e.id, coalesce(p.selections, 0),
                (SELECT count(*) FROM selections s WHERE s.event_id = e.id)
         FROM events e LEFT JOIN event_popularity p ON p.event_id = e.id",
    )
    .fetch_all(&mut db)
    .await
    .expect("popularity");
    for (event, counted, recounted) in popularity {
        assert_eq!(counted, recounted, "popularity of event {event}");
    }
    let tallies: Vec<(i64, String)> = sqlx::query_as("SELECT user_id, tally FROM user_bets")
        .fetch_all(&mut db)
        .await
        .expect("tallies");
    let recounted = recount_tallies(&mut db).await;
    assert_eq!(tallies.len(), 5, "every user with coupons has a tally");
    assert_eq!(recounted.len(), 5, "five users bet");
    for (user, counted) in tallies {
        let counted: Value = serde_json::from_str(&counted).expect("JSON");
        assert_eq!(counted, recounted[&user], "tally of user {user}");
    }
}

/// Each user's tally as the stored coupons make it, in `user_bets.tally`'s format: the
/// events bet on, ascending, and per sport key the selections and the latest coupon's time.
async fn recount_tallies(db: &mut sqlx::AnyConnection) -> HashMap<i64, Value> {
    let selections: Vec<(i64, i64, String, i64)> = sqlx::query_as(
        "SELECT c.user_id, s.event_id, e.sport_key, c.timestamp
         FROM selections s JOIN coupons c ON c.id = s.coupon_id JOIN events e ON e.id = s.event_id",
    )
    .fetch_all(db)
    .await
    .expect("selections");
    type Bets = (BTreeSet<i64>, BTreeMap<String, (i64, i64)>);
    let mut bets: HashMap<i64, Bets> = HashMap::new();
    for (user, event, sport, placed_at) in selections {
        let (events, sports) = bets.entry(user).or_default();
        events.insert(event);
        let (count, latest) = sports.entry(sport).or_insert((0, i64::MIN));
        *count += 1;
        *latest = (*latest).max(placed_at);
    }
    bets.into_iter()
        .map(|(user, (events, sports))| {
            let sports: Vec<Value> = sports
                .into_iter()
                .map(|(sport, (count, latest))| json!([sport, count, latest]))
                .collect();
            (user, json!({"events": events, "sports": sports}))
        })
        .collect()
}

/// Coupons the app's database lists as not counted into the tallies yet.
async fn uncounted_coupons(app: &TestApp) -> i64 {
    let mut db = app.database().await;
    sqlx::query_scalar("SELECT count(*) FROM uncounted")
        .fetch_one(&mut db)
        .await
        .expect("uncounted")
}

/// A copy of the app's database as a crash now would leave it (what is committed), written
/// beside it; its URL. On PostgreSQL, where what is committed is what the server holds, the
/// database itself: another api reading it sees what a restart after a crash would.
async fn crash_image(app: &TestApp) -> String {
    if app.is_on_postgres() {
        return app.database_url().to_owned();
    }
    let image = app.database_url().replace("api.db", "crashed.db");
    let mut db = app.database().await;
    sqlx::query("VACUUM INTO ?")
        .bind(image.trim_start_matches("sqlite://"))
        .execute(&mut db)
        .await
        .expect("a crash image");
    image
}

/// Migration 0006 rebuilds `selections` and `uncounted` without the references to `coupons`
/// that their own transaction always satisfies: a database written before it keeps every
/// selection in order and every coupon not counted yet, and the references a client names
/// are still checked.
#[tokio::test]
async fn a_database_from_before_the_selections_rebuild_keeps_its_coupons() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    write_before_migration_6(dir.path(), &url).await;

    let app = TestApp::spawn_on_sqlite_with(|config| config.database_url = url).await;
    let stored: Value = app.get("/coupons/7").await.json().await.expect("JSON");
    assert_eq!(stored["user_id"], json!(1));
    let events: Vec<&Value> = stored["selections"]
        .as_array()
        .expect("selections")
        .iter()
        .map(|s| &s["event_id"])
        .collect();
    assert_eq!(events, [&json!(20), &json!(10)], "in the coupon's order");

    let refused = app.post("/coupons", &coupon(2, &[10, 404])).await;
    let body = problem(refused, StatusCode::CONFLICT, "missing-reference").await;
    assert_eq!(body["missing"], json!({"users": [2], "events": [404]}));

    let app = app.restart().await;
    assert_eq!(
        uncounted_coupons(&app).await,
        0,
        "the listed coupon is counted"
    );
    let mut db = app.database().await;
    let popularity: Vec<(i64, i64)> =
        sqlx::query_as("SELECT event_id, selections FROM event_popularity ORDER BY event_id")
            .fetch_all(&mut db)
            .await
            .expect("popularity");
    assert_eq!(popularity, [(10, 1), (20, 1)]);
    let parents: Vec<String> =
        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list('selections')")
            .fetch_all(&mut db)
            .await
            .expect("foreign keys");
    assert_eq!(parents, ["events"]);
}

/// Migrates a new database with migrations 0001 to 0005 only, then stores a user, two events
/// and a coupon on them that is listed as not counted yet, as the writer of that schema did.
async fn write_before_migration_6(dir: &std::path::Path, url: &str) {
    use sqlx::{ConnectOptions, Executor};
    let old = dir.join("migrations");
    std::fs::create_dir(&old).expect("a migrations directory");
    let current = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(current).expect("the migrations") {
        let path = entry.expect("a migration").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < "0006" {
            std::fs::copy(&path, old.join(name)).expect("copied");
        }
    }
    let mut db = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .expect("a URL")
        .create_if_missing(true)
        .foreign_keys(true)
        .connect()
        .await
        .expect("connects");
    let migrator = sqlx::migrate::Migrator::new(old).await.expect("a migrator");
    migrator.run(&mut db).await.expect("migrated to 0005");
    db.execute(
        "INSERT INTO users VALUES (1, 1990, 'DE', 'EUR', 'F', 0);
         INSERT INTO events VALUES
             (10, 0, 1, 'DE', 'Bundesliga', 'Football', 'football', 'A', 'B'),
             (20, 0, 1, 'GB', 'Wimbledon', 'Tennis', 'tennis', 'C', 'D');
         INSERT INTO coupons VALUES (7, 1, 1000, 0);
         INSERT INTO selections VALUES (7, 0, 20, 1500), (7, 1, 10, 2250);
         INSERT INTO uncounted VALUES (7);",
    )
    .await
    .expect("stored as before migration 6");
}
