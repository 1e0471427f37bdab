//! A consumer whose key the api refuses is misconfigured, not holding bad records: it
//! retries, reports not ready and counts it, and never dead-letters or commits because of
//! it; once the key is accepted, everything is stored.

use std::time::Duration;

use slipstream_devkit::DevKeys;
use slipstream_runtime::auth::Scope;

use crate::helpers::{three_users, Setup};

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_holds_messages_back_until_it_is_accepted() {
    let elsewhere = tempfile::tempdir().expect("a directory");
    let unknown = DevKeys::create(&elsewhere.path().join("keys"), 1_000_000).expect("keys");
    let write_key = unknown.key(Scope::Write).to_owned();
    let mut setup = Setup::start("users", &[("API_KEY", &write_key)]).await;
    setup.start_api().await;
    setup.write_json(&three_users());
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
    assert_eq!(
        setup.ready_status().await,
        503,
        "ready while the api refuses its key"
    );
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

    setup.wait_three_users_flow().await;
}
