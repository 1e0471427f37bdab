//! SPEC §7: an acknowledged write survives a crash of the api process. The api binary is
//! SIGKILLed while writes are in flight and started again on the same database: an SQLite
//! file, or with `TEST_DATABASE=postgres` a PostgreSQL database, where the api commits with
//! `synchronous_commit` on. And the other way an api ends: on a fatal error of its own.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use slipstream_devkit::pipeline::ServiceSpec;
use slipstream_devkit::{free_port, Service};
use slipstream_model::contract::{self, settings};
use slipstream_testkit::{spawn_process, start_process};
use tokio::sync::Notify;

const WRITES: i64 = 400;
/// The kill comes after this many acknowledgements, with the rest still in flight.
const KILL_AFTER: usize = 150;

/// The api on `database` and `port`.
fn api(database: &str, port: u16) -> ServiceSpec {
    ServiceSpec {
        name: contract::Service::API.name.to_owned(),
        binary: contract::Service::API.binary,
        port,
        env: vec![
            (settings::DATABASE_URL, database.to_owned()),
            // What is tested is durability across SIGKILL; keys are tested elsewhere.
            ("AUTH_DISABLED", "true".to_owned()),
        ],
    }
}

/// An api on `database`, its logs going to `dir`, not waited for.
fn spawn_api(dir: &Path, database: &str, port: u16) -> Service {
    spawn_process(&api(database, port), dir)
}

/// An api on `database`, ready; its logs go to `dir`.
fn start_api(dir: &Path, database: &str, port: u16) -> Service {
    start_process(&api(database, port), dir)
}

/// An api on a new database (SQLite, or PostgreSQL with `TEST_DATABASE=postgres`), its
/// logs in a directory of its own.
struct FreshApi {
    dir: tempfile::TempDir,
    database: String,
    port: u16,
    url: String,
    process: Service,
}

impl FreshApi {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = slipstream_devkit::test_database(dir.path());
        let port = free_port();
        let process = start_api(dir.path(), &database, port);
        let url = format!("http://127.0.0.1:{port}");
        Self {
            dir,
            database,
            port,
            url,
            process,
        }
    }

    /// Starts the api again, killed before, on the same database and port.
    fn restart(&mut self) {
        self.process = start_api(self.dir.path(), &self.database, self.port);
    }
}

/// Runs the load `start` makes, SIGKILLs the api once the load signals, and returns what the
/// load saw acknowledged by the time it ended.
async fn kill_during<T, F>(api: &mut Service, start: impl FnOnce(Arc<Notify>) -> F) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let acknowledged = Arc::new(Notify::new());
    let load = tokio::spawn(start(Arc::clone(&acknowledged)));
    acknowledged.notified().await;
    api.kill().expect("api killed");
    load.await.expect("load driver")
}

fn user(id: i64) -> Value {
    json!({"id": id, "birth_year": 1900 + id % 100, "country": "GR", "currency": "EUR", "gender": "F"})
}

/// Posts the users 16 at a time and returns those answered 201 with what the api stored;
/// signals `acknowledged` once `KILL_AFTER` answers came back.
async fn post_users(url: String, acknowledged: Arc<Notify>) -> BTreeMap<i64, Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut stored = BTreeMap::new();
    let mut answers = stream::iter(1..=WRITES)
        .map(|id| {
            let request = http.post(format!("{url}/users")).json(&user(id)).send();
            async move { (id, request.await) }
        })
        .buffer_unordered(16);
    while let Some((id, answer)) = answers.next().await {
        // A broken connection leaves the write unknown: only a 201 is a promise.
        let Ok(response) = answer else { continue };
        if response.status() == 201 {
            stored.insert(id, response.json().await.expect("the stored user"));
        }
        if stored.len() == KILL_AFTER {
            acknowledged.notify_one();
        }
    }
    stored
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_survives_a_sigkill_of_the_api() {
    let mut api = FreshApi::start();
    let url = api.url.clone();
    let stored = kill_during(&mut api.process, |acked| post_users(url.clone(), acked)).await;
    assert!(stored.len() >= KILL_AFTER && stored.len() < WRITES as usize);

    api.restart();
    let http = reqwest::Client::new();
    for (id, before) in &stored {
        let response = http
            .get(format!("{url}/users/{id}"))
            .send()
            .await
            .expect("api reachable");
        assert_eq!(
            response.status(),
            200,
            "user {id} was acknowledged, then lost"
        );
        let after: Value = response.json().await.expect("JSON");
        assert_eq!(&after, before, "user {id} changed across the crash");
    }
}

const BETTORS: i64 = 5;
const EVENTS: i64 = 8;
const BATCHES: i64 = 200;
const COUPONS_PER_BATCH: i64 = 20;
/// The kill comes after this many batches were acknowledged, with others in flight.
const KILL_AFTER_BATCHES: usize = 60;

/// Coupon `id` of a bettor on one to three of the events, the same whenever it is made.
fn coupon(id: i64, events: &[i64]) -> Value {
    let picks: Vec<Value> = (0..1 + id % 3)
        .map(|n| json!({"event_id": events[((id + n * 3) % EVENTS) as usize], "odds": 2.5}))
        .collect();
    json!({"id": id, "user_id": 1 + id % BETTORS, "stake": 5, "selections": picks})
}

/// Posts the batches 8 at a time, so the writer groups them; returns the ids of every coupon
/// of a batch answered 200, and signals `acknowledged` once `KILL_AFTER_BATCHES` were.
async fn post_coupons(url: String, events: Vec<i64>, acknowledged: Arc<Notify>) -> Vec<i64> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut answers = stream::iter(0..BATCHES)
        .map(|batch| {
            let ids: Vec<i64> = (0..COUPONS_PER_BATCH)
                .map(|n| 1_000 + batch * COUPONS_PER_BATCH + n)
                .collect();
            let body: Vec<Value> = ids.iter().map(|&id| coupon(id, &events)).collect();
            let request = http.post(format!("{url}/coupons")).json(&body).send();
            async move { (ids, request.await) }
        })
        .buffer_unordered(8);
    let (mut stored, mut batches) = (Vec::new(), 0);
    while let Some((ids, answer)) = answers.next().await {
        if answer.is_ok_and(|response| response.status() == 200) {
            stored.extend(ids);
            batches += 1;
        }
        if batches == KILL_AFTER_BATCHES {
            acknowledged.notify_one();
        }
    }
    stored
}

/// The JSON a GET of `url` answers.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(url).send().await.expect("api reachable");
    response.json().await.expect("JSON")
}

/// Each event's popularity as a user without coupons is told it (every event is listed).
async fn popularity(http: &reqwest::Client, url: &str, observer: i64) -> BTreeMap<i64, u64> {
    let answer = get_json(http, format!("{url}/recommendation/{observer}?limit=50")).await;
    let events = answer["events"].as_array().expect("events");
    events
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().expect("id"),
                e["popularity"].as_u64().expect("n"),
            )
        })
        .collect()
}

/// What the stored coupons say each event's popularity is.
async fn recount(http: &reqwest::Client, url: &str, events: &[i64]) -> BTreeMap<i64, u64> {
    let mut counts: BTreeMap<i64, u64> = events.iter().map(|&e| (e, 0)).collect();
    for user in 1..=BETTORS {
        let page = get_json(http, format!("{url}/coupons/user/{user}?limit=1000")).await;
        let coupons = page.as_array().expect("a page of coupons");
        assert!(coupons.len() < 1000, "one page holds them all");
        for selection in coupons
            .iter()
            .flat_map(|c| c["selections"].as_array().expect("s"))
        {
            *counts
                .entry(selection["event_id"].as_i64().expect("id"))
                .or_default() += 1;
        }
    }
    counts
}

/// The writer commits several consumers' batches in one transaction, and counts each event's
/// popularity in the same one: a SIGKILL mid-group loses no acknowledged batch, and the
/// counts the recommendations are rebuilt from still match the coupons stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_sigkill_during_group_commits_loses_no_acknowledged_batch_nor_a_count() {
    let mut api = FreshApi::start();
    let url = api.url.clone();
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: Value| {
        let request = http.post(format!("{url}{path}")).json(&body).send();
        async move {
            let stored: Value = request.await.expect("posted").json().await.expect("JSON");
            stored["id"].as_i64().expect("an id")
        }
    };
    for id in 1..=BETTORS + 1 {
        post("/users", user(id)).await;
    }
    let observer = BETTORS + 1;
    let mut events = Vec::new();
    for n in 0..EVENTS {
        let event = json!({"begin_timestamp": "2040-01-01T12:00:00Z", "end_timestamp": "2040-01-01T14:00:00Z",
            "country": "GB", "league": "League", "sport": "Football", "participants": [format!("H{n}"), format!("A{n}")]});
        events.push(post("/events", event).await);
    }

    let stored = kill_during(&mut api.process, |acked| {
        post_coupons(url.clone(), events.clone(), acked)
    })
    .await;
    assert!(stored.len() >= KILL_AFTER_BATCHES * COUPONS_PER_BATCH as usize);

    api.restart();
    for id in &stored {
        let response = http
            .get(format!("{url}/coupons/{id}"))
            .send()
            .await
            .expect("up");
        assert_eq!(
            response.status(),
            200,
            "coupon {id} was acknowledged, then lost"
        );
    }
    assert_eq!(
        popularity(&http, &url, observer).await,
        recount(&http, &url, &events).await,
        "the popularity the recommendations were rebuilt from"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_whose_startup_build_fails_exits_non_zero_having_logged_the_cause_once() {
    use sqlx::{Connection, Executor};
    let mut api = FreshApi::start();
    api.process.stop(Duration::from_secs(10)).expect("stopped");
    // The counts the startup build reads: gone, as after a botched manual migration.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&api.database)
        .await
        .expect("connects");
    db.execute("DROP TABLE user_bets").await.expect("dropped");

    let log = api.dir.path().join("api.log");
    let before = std::fs::read_to_string(&log).expect("the log").len();
    let mut failing = spawn_api(api.dir.path(), &api.database, api.port);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = failing.try_wait().expect("status") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the api still runs: {}",
            failing.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(1), "{}", failing.log_tail(20));
    let lines = std::fs::read_to_string(&log).expect("the log")[before..].to_owned();
    let errors: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON log line"))
        .filter(|line: &Value| line["level"] == "ERROR")
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {lines}");
    assert_eq!(errors[0]["message"], "Stopped on a fatal error.");
    let error = errors[0]["error"].as_str().expect("the cause");
    assert!(
        error.starts_with("the recommendations' startup build failed: ")
            && error.contains("user_bets"),
        "the whole chain: {error}"
    );
}
