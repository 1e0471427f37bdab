//! Poison messages (SPEC §5): values another Kafka client wrote straight into the topics,
//! past the producer's validation. Each goes to its topic's dead-letter topic with the reason
//! and the api's status, and the consumer goes on with the message after it.
//!
//! The other client is `kcat` (Debian package `kcat`): an independent implementation of the
//! protocol, so nothing of ours shapes what the consumers receive. The test fails without it.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::helpers::Pipeline;
use crate::ledger::{assert_stored_once_or_dead_lettered, Ledger};
use crate::load::{coupon, event, user};

/// What a message written into a topic must become.
enum Fate {
    /// Stored in the api.
    Stored,
    /// In the dead-letter topic with this reason and status (`None`: the api never saw it).
    DeadLettered(&'static str, Option<&'static str>),
}

const NOT_JSON: Fate = Fate::DeadLettered("not-json", None);
const REJECTED: Fate = Fate::DeadLettered("rejected", Some("422"));

/// Per topic, the messages kcat writes, in order, each with its fate. The valid record comes
/// last: it is stored only if consumption went on past the poison.
fn messages() -> Vec<(&'static str, Vec<(String, Fate)>)> {
    let with = |mut record: Value, field: &str, value: Value| {
        record[field] = value;
        record.to_string()
    };
    vec![
        (
            "users",
            vec![
                ("{not json".into(), NOT_JSON),
                ("[1, 2, 3]".into(), REJECTED),
                (r#""a string""#.into(), REJECTED),
                (with(user(50), "country", json!("Greece")), REJECTED),
                (user(51).to_string(), Fate::Stored),
            ],
        ),
        (
            "events",
            vec![
                ("not json at all".into(), NOT_JSON),
                ("42".into(), REJECTED),
                (
                    with(event(60), "end_timestamp", json!("2030-01-01T00:00:00Z")),
                    REJECTED,
                ),
                (event(61).to_string(), Fate::Stored),
            ],
        ),
        (
            "coupons",
            vec![
                ("}{".into(), NOT_JSON),
                (r#"[{"event_id": 61, "odds": 2}]"#.into(), REJECTED),
                (with(coupon(70, 51, 61), "stake", json!(0)), REJECTED),
                (coupon(71, 51, 61).to_string(), Fate::Stored),
            ],
        ),
    ]
}

/// Writes `values` into `topic` with kcat, all under one key so that one partition holds
/// them in this order.
fn kcat_produce(bootstrap: &str, topic: &str, values: &[&str]) {
    let mut kcat = Command::new("kcat")
        .args(["-P", "-b", bootstrap, "-t", topic, "-K", "\t"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat runs (install the Debian package `kcat`)");
    let mut input = kcat.stdin.take().expect("kcat's stdin");
    for value in values {
        writeln!(input, "poison\t{value}").expect("written to kcat");
    }
    drop(input);
    let status = kcat.wait().expect("kcat finishes");
    assert!(status.success(), "kcat failed: {status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_dead_lettered_with_their_reason_and_consumption_goes_on() {
    let pipeline = Pipeline::start().await;
    let messages = messages();
    let mut ledger = Ledger::default();
    for (topic, written) in &messages {
        let values: Vec<&str> = written.iter().map(|(value, _)| value.as_str()).collect();
        kcat_produce(&pipeline.bootstrap, &pipeline.topic(topic), &values);
        // Records with an id are accepted by Kafka as any other: each must end up stored or
        // dead-lettered.
        for value in &values {
            match serde_json::from_str::<Value>(value) {
                Ok(record) if record["id"].is_i64() => ledger.accept(topic, &record),
                _ => {}
            }
        }
    }

    let letters = assert_stored_once_or_dead_lettered(&pipeline, &ledger).await;
    for (topic, written) in &messages {
        let expected: Vec<_> = written
            .iter()
            .filter_map(|(value, fate)| match fate {
                Fate::DeadLettered(reason, status) => Some((value.as_str(), *reason, *status)),
                Fate::Stored => None,
            })
            .collect();
        let lettered: Vec<_> = letters
            .iter()
            .filter(|letter| letter.topic == *topic)
            .map(|letter| {
                (
                    std::str::from_utf8(&letter.payload).expect("text"),
                    letter.reason.as_deref().unwrap_or_default(),
                    letter.status.as_deref().filter(|s| !s.is_empty()),
                )
            })
            .collect();
        assert_eq!(lettered, expected, "the dead letters of {topic}");
    }
}
