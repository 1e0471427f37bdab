//! SPEC §7: an acknowledged write survives a crash of the api process. The api binary is
//! SIGKILLed while writes are in flight and started again on the same database file.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use slipstream_devkit::{free_port, wait_for_http, workspace_bin, Logs, Service};
use tokio::sync::Notify;

const WRITES: i64 = 400;
/// The kill comes after this many acknowledgements, with the rest still in flight.
const KILL_AFTER: usize = 150;

fn start_api(dir: &Path, port: u16) -> Service {
    let mut command = Command::new(workspace_bin("api"));
    command
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("api.db").display()),
        )
        .env("LOG_FORMAT", "json")
        // What is tested is durability across SIGKILL; keys are tested elsewhere.
        .env("AUTH_DISABLED", "true");
    let api = Service::spawn("api", command, Logs::Dir(dir.to_owned())).expect("api spawns");
    wait_for_http(
        &format!("http://127.0.0.1:{port}/ready"),
        Duration::from_secs(30),
    )
    .expect("api ready");
    api
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
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut api = start_api(dir.path(), port);

    let acknowledged = Arc::new(Notify::new());
    let load = tokio::spawn(post_users(url.clone(), Arc::clone(&acknowledged)));
    acknowledged.notified().await;
    api.kill().expect("api killed");
    let stored = load.await.expect("load driver");
    assert!(stored.len() >= KILL_AFTER && stored.len() < WRITES as usize);

    let _api = start_api(dir.path(), port);
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
