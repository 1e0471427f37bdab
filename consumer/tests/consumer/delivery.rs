use std::time::{Duration, Instant};

use serde_json::{json, Value};

use slipstream_devkit::eventually;
use slipstream_devkit::kafka::header;

use crate::helpers::{payload, Setup};
use slipstream_testkit::records;

/// Registered at a fixed time, so that a redelivery is the same record.
fn user(id: i64, birth_year: i64) -> Value {
    let user = records::user().id(id).set("birth_year", birth_year);
    user.set("registration_date", "2024-01-01T00:00:00Z").into()
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_are_committed_only_after_the_api_stored_the_records() {
    let mut setup = Setup::start("users", &[]).await;
    setup.write_json(&[
        ("1", user(1, 1980)),
        ("2", user(2, 1981)),
        ("3", user(3, 1982)),
    ]);
    // The api is down: the consumer retries and must not move past the records, however
    // long it waits (auto-commit runs every second).
    setup.wait_for_log("Forward failed, retrying.").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        setup.committed(),
        0,
        "offsets committed before the api stored anything"
    );

    setup.start_api().await;
    for id in 1..=3 {
        setup.wait_stored(&format!("/users/{id}")).await;
    }
    setup.wait_committed(3, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_partition_is_forwarded_in_order_and_a_refused_record_is_dead_lettered() {
    let mut setup = Setup::start("users", &[]).await;
    setup.start_api().await;
    // Same key, same partition: the first version wins, the second is an id conflict.
    setup.write_json(&[
        ("5", user(5, 1970)),
        ("5", user(5, 1990)),
        ("6", user(6, 1960)),
    ]);
    setup.wait_stored("/users/6").await;
    assert_eq!(
        setup.get("/users/5").await.map(|u| u["birth_year"].clone()),
        Some(json!(1970))
    );

    let letters = setup.dead_letters(1);
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(header(letter, "dlq-reason").as_deref(), Some("rejected"));
    assert_eq!(header(letter, "dlq-status").as_deref(), Some("409"));
    assert!(header(letter, "dlq-problem").is_some_and(|p| p.contains("id-conflict")));
    assert_eq!(
        header(letter, "dlq-original-topic"),
        Some(setup.topic_name())
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&payload(letter)).ok(),
        Some(user(5, 1990))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_is_not_json_is_dead_lettered_and_consumption_goes_on() {
    let mut setup = Setup::start("users", &[]).await;
    setup.start_api().await;
    setup.write(&[("7", b"{not json"), ("7", b"")]);
    setup.write_json(&[("7", user(7, 1975))]);
    setup.wait_stored("/users/7").await;
    let letters = setup.dead_letters(2);
    assert_eq!(
        letters
            .iter()
            .map(|l| header(l, "dlq-reason"))
            .collect::<Vec<_>>(),
        [Some("not-json".into()), Some("not-json".into())]
    );
    assert_eq!(payload(&letters[0]), b"{not json");
    setup.wait_committed(3, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_coupon_without_its_user_is_dead_lettered_in_time_and_a_redrive_brings_it_back_once() {
    let mut setup = Setup::start("coupons", &[("MISSING_REFERENCE_TIMEOUT_SECS", "3")]).await;
    setup.start_api().await;
    let coupon = json!({"id": 1, "user_id": 99, "stake": 2, "selections": [{"event_id": 98, "odds": 2}], "timestamp": "2026-01-01T00:00:00Z"});
    setup.write_json(&[("99", coupon)]);
    let letters = setup.dead_letters(1);
    assert_eq!(letters.len(), 1);
    assert_eq!(
        header(&letters[0], "dlq-reason").as_deref(),
        Some("missing-reference")
    );
    let problem: Value =
        serde_json::from_str(&header(&letters[0], "dlq-problem").expect("problem")).expect("JSON");
    assert_eq!(problem["missing"], json!({"users": [99], "events": [98]}));

    // Once the references exist, a redrive sends the coupon round again, and only once.
    let user =
        json!({"id": 99, "birth_year": 1970, "country": "GR", "currency": "EUR", "gender": "F"});
    let event = json!({"id": 98, "begin_timestamp": "2030-01-01T18:00:00Z", "end_timestamp": "2030-01-01T20:00:00Z", "country": "GR", "league": "L", "sport": "football", "participants": ["A", "B"]});
    assert_eq!(
        (
            setup.post("/users", &user).await,
            setup.post("/events", &event).await
        ),
        (201, 201)
    );
    let first = setup.redrive();
    assert!(first.starts_with("moved 1 message(s)"), "{first}");
    eventually(
        "the redriven coupon is stored",
        Duration::from_secs(30),
        || async { setup.get("/coupons/1").await.is_some() },
    )
    .await;
    assert!(
        setup.redrive().starts_with("moved 0 message(s)"),
        "a second redrive moves nothing"
    );
}

/// A letter whose cause is never fixed goes round DLQ → topic → DLQ: each round is counted in
/// its `redrive-count` header and the consumer's metrics, and after three a redrive needs
/// `--force`.
#[tokio::test(flavor = "multi_thread")]
async fn a_letter_redriven_three_times_needs_force_and_each_round_is_counted() {
    let mut setup = Setup::start("coupons", &[("MISSING_REFERENCE_TIMEOUT_SECS", "1")]).await;
    setup.start_api().await;
    let coupon =
        json!({"id": 1, "user_id": 99, "stake": 2, "selections": [{"event_id": 98, "odds": 2}]});
    setup.write_json(&[("99", coupon)]);
    setup.dead_letters(1);
    for round in 1..=3 {
        assert!(setup.redrive().starts_with("moved 1 message(s)"));
        let letters = setup.dead_letters(round + 1);
        assert_eq!(letters.len(), round + 1, "round {round}");
        let count = header(&letters[round], "redrive-count");
        assert_eq!(count, Some(round.to_string()), "round {round}");
    }
    let refused = setup.redrive_with(&[]);
    assert!(!refused.status.success(), "a fourth round without --force");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--force"), "{stderr}");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(stdout.contains("moved 0 message(s)"), "{stdout}");
    let metrics = setup.metrics().await;
    assert!(
        metrics.contains(r#"slipstream_consumer_redriven_messages_total{topic=""#)
            && metrics.contains(r#"redrives="3"} 1"#),
        "{metrics}"
    );

    let forced = setup.redrive_with(&["--force"]);
    assert!(forced.status.success());
    assert!(String::from_utf8_lossy(&forced.stdout).contains("moved 1 message(s)"));
    let letters = setup.dead_letters(5);
    assert_eq!(header(&letters[4], "redrive-count").as_deref(), Some("4"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_consumer_with_exit_0_within_ten_seconds() {
    let mut setup = Setup::start("users", &[]).await;
    // Waiting on an api that is down: the in-flight record is abandoned, not committed.
    setup.write_json(&[("8", user(8, 1980))]);
    setup.wait_for_log("Forward failed, retrying.").await;
    let started = Instant::now();
    setup.consumer.terminate().expect("signal");
    let status = tokio::task::spawn_blocking(move || {
        let status = setup.consumer.wait();
        (status, setup)
    })
    .await
    .expect("join");
    let (status, setup) = status;
    assert!(status.expect("exit status").success());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(setup.committed(), 0);
    assert!(setup.health_port > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_is_ready_once_its_partitions_are_assigned() {
    let setup = Setup::start("events", &[]).await;
    let url = format!("http://127.0.0.1:{}/ready", setup.health_port);
    eventually("the consumer is ready", Duration::from_secs(30), || async {
        setup
            .http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}
