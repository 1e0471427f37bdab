//! Coupons racing their references (SPEC §5): each topic has its own consumer, so a coupon
//! can reach the api before its user or events. It waits for them, and goes to the
//! dead-letter topic as `missing-reference` only if they never come.

use std::time::Duration;

use serde_json::Value;
use slipstream_devkit::eventually;

use crate::helpers::{Options, Pipeline};
use crate::ledger::{assert_stored_once_or_dead_lettered, Ledger};
use crate::load::{coupon, event, user};

/// How long the coupons' consumer waits for references here: ample for references posted
/// right after their coupons, short enough for the orphans to be dead-lettered quickly.
const WAIT_FOR_REFERENCES_SECS: &str = "10";

async fn produce_all(pipeline: &Pipeline, ledger: &mut Ledger, topic: &str, records: &[Value]) {
    for record in records {
        let (status, answer) = pipeline.produce(&format!("/{topic}"), record).await;
        assert_eq!(status, 202, "{answer}");
        ledger.accept(topic, record);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn coupons_wait_for_late_references_and_are_dead_lettered_if_they_never_come() {
    let options = Options::default()
        .env(
            "consumer-coupons",
            "MISSING_REFERENCE_TIMEOUT_SECS",
            WAIT_FOR_REFERENCES_SECS,
        )
        // The api's request log shows its answers, the 409 awaited below among them.
        .env("api", "RUST_LOG", "info,slipstream_runtime=debug");
    let pipeline = Pipeline::start_with(options).await;
    let mut ledger = Ledger::default();

    // Coupons first: six whose users and events come next, and two orphans, one naming a
    // user and one an event that never come.
    let early: Vec<Value> = (1..=6)
        .map(|i| coupon(100 + i, 1 + i % 3, 1 + i % 3))
        .collect();
    let orphans = [coupon(201, 90, 1), coupon(202, 1, 91)];
    produce_all(&pipeline, &mut ledger, "coupons", &early).await;
    produce_all(&pipeline, &mut ledger, "coupons", &orphans).await;
    eventually(
        "the api refused a coupon for its missing references",
        Duration::from_secs(30),
        || async { pipeline.logged("api", &[r#""status":409"#, r#""path":"/coupons""#]) },
    )
    .await;

    let users: Vec<Value> = (1..=3).map(user).collect();
    let events: Vec<Value> = (1..=3).map(event).collect();
    produce_all(&pipeline, &mut ledger, "users", &users).await;
    produce_all(&pipeline, &mut ledger, "events", &events).await;

    let letters = assert_stored_once_or_dead_lettered(&pipeline, &ledger).await;
    let mut lettered: Vec<_> = letters
        .iter()
        .map(|l| (l.topic, l.id, l.reason.as_deref(), l.status.as_deref()))
        .collect();
    lettered.sort_unstable();
    assert_eq!(
        lettered,
        [
            ("coupons", Some(201), Some("missing-reference"), Some("409")),
            ("coupons", Some(202), Some("missing-reference"), Some("409")),
        ],
        "only the orphans are dead-lettered"
    );
}
