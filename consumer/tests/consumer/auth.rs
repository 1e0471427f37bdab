//! A consumer whose key the api refuses is misconfigured, not holding bad records: it
//! retries, reports not ready and counts it, and never dead-letters or commits because of
//! it; once the key is accepted, everything is stored.

use std::time::Duration;

use serde_json::json;
use slipstream_devkit::{eventually, DevKeys};
use slipstream_runtime::auth::Scope;

use crate::helpers::Setup;

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_holds_messages_back_until_it_is_accepted() {
    let elsewhere = tempfile::tempdir().expect("a directory");
    let unknown = DevKeys::create(&elsewhere.path().join("keys"), 1_000_000).expect("keys");
    let write_key = unknown.key(Scope::Write).to_owned();
    let mut setup = Setup::start("users", &[("API_KEY", &write_key)]).await;
    setup.start_api().await;
    let users: Vec<(&str, serde_json::Value)> = ["1", "2", "3"]
        .into_iter()
        .map(|id| {
            let user = json!({"id": id.parse::<i64>().expect("an id"), "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F", "registration_date": "2024-01-01T00:00:00Z"});
            (id, user)
        })
        .collect();
    setup.write_json(&users);
    setup
        .wait_for_log("The api refused this consumer's key")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(setup.committed(), 0, "committed while the key was refused");
    assert_eq!(
        setup.dead_letter_count(),
        0,
        "dead-lettered for a refused key"
    );
    let ready = reqwest::get(format!("http://127.0.0.1:{}/ready", setup.health_port))
        .await
        .expect("reachable");
    assert_eq!(ready.status(), 503, "ready while the api refuses its key");
    let metrics = setup.metrics().await;
    assert!(
        metrics.contains("slipstream_consumer_api_key_refused_total"),
        "{metrics}"
    );

    // The operator adds the consumer's key to the file the api reads.
    let theirs = std::fs::read_to_string(&unknown.file).expect("their keys");
    let ours = std::fs::read_to_string(&setup.keys.file).expect("our keys");
    let merged = setup.keys.file.with_extension("new");
    std::fs::write(&merged, format!("{ours}{theirs}")).expect("written");
    std::fs::rename(&merged, &setup.keys.file).expect("replaced");

    for id in 1..=3 {
        setup.wait_stored(&format!("/users/{id}")).await;
    }
    setup.wait_committed(3, Duration::from_secs(30)).await;
    assert_eq!(setup.dead_letter_count(), 0);
    eventually(
        "the consumer is ready again",
        Duration::from_secs(10),
        || async {
            let url = format!("http://127.0.0.1:{}/ready", setup.health_port);
            reqwest::get(url).await.is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
}
