//! The check every fault test ends with (SPEC §7): each record Kafka accepted is, in the end,
//! stored in the api exactly once, or in a dead-letter topic with its reason; nothing else
//! is stored.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rdkafka::message::OwnedMessage;
use rdkafka::Message;
use serde_json::Value;
use slipstream_devkit::kafka::{header, read_to_end};
use tokio::time::Instant;

use crate::helpers::Pipeline;

/// How long the pipeline gets, once the faults are over, to store or dead-letter everything.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);
/// The topics of the pipeline, also the api's paths.
const TOPICS: [&str; 3] = ["users", "events", "coupons"];

/// The records Kafka accepted: answered 202 by the producer, or written straight into a topic.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    users: BTreeSet<i64>,
    events: BTreeSet<i64>,
    /// Coupon id → its user: a coupon is found through its user's listing.
    coupons: BTreeMap<i64, i64>,
    /// The partitions the producer reported per topic, where it did.
    partitions: BTreeMap<String, BTreeSet<i32>>,
}

impl Ledger {
    /// Notes that `record` of `topic` was accepted.
    pub fn accept(&mut self, topic: &str, record: &Value) {
        let id = record["id"].as_i64().expect("records carry their id");
        match topic {
            "users" => self.users.insert(id),
            "events" => self.events.insert(id),
            "coupons" => {
                let user = record["user_id"].as_i64().expect("a coupon's user");
                self.coupons.insert(id, user).is_none()
            }
            other => panic!("no topic {other}"),
        };
    }

    /// [`Self::accept`] with the producer's receipt, which tells the partition.
    pub fn accept_receipt(&mut self, topic: &str, record: &Value, receipt: &Value) {
        self.accept(topic, record);
        let partition = receipt["partition"]
            .as_i64()
            .expect("a receipt's partition");
        self.partitions
            .entry(topic.to_owned())
            .or_default()
            .insert(i32::try_from(partition).expect("a partition number"));
    }

    /// The users accepted.
    pub fn users(&self) -> Vec<i64> {
        self.users.iter().copied().collect()
    }

    pub fn merge(&mut self, other: Ledger) {
        self.users.extend(other.users);
        self.events.extend(other.events);
        self.coupons.extend(other.coupons);
        for (topic, partitions) in other.partitions {
            self.partitions.entry(topic).or_default().extend(partitions);
        }
    }

    /// The partitions of `topic` that accepted records went to, as the producer reported.
    pub fn partitions(&self, topic: &str) -> BTreeSet<i32> {
        self.partitions.get(topic).cloned().unwrap_or_default()
    }

    /// What the api must hold: everything accepted but what was dead-lettered.
    fn expected(&self, letters: &[DeadLetter]) -> Records {
        let lettered = |topic: &str| -> BTreeSet<i64> {
            letters
                .iter()
                .filter(|l| l.topic == topic)
                .filter_map(|l| l.id)
                .collect()
        };
        let (users, events, coupons) = (lettered("users"), lettered("events"), lettered("coupons"));
        Records {
            users: self.users.difference(&users).copied().collect(),
            events: self.events.difference(&events).copied().collect(),
            coupons: sorted(
                self.coupons
                    .iter()
                    .filter(|(id, _)| !coupons.contains(id))
                    .map(|(&id, &user)| (user, id)),
            ),
        }
    }
}

/// Ids of stored records per kind; coupons as (user, id), listed per user, so a coupon
/// stored twice or under another user shows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Records {
    users: Vec<i64>,
    events: Vec<i64>,
    coupons: Vec<(i64, i64)>,
}

impl Records {
    /// What `self` (stored) lacks and has too much of, against `expected`, kind by kind.
    fn differences(&self, expected: &Records) -> String {
        let mut report = String::new();
        let mut kind = |name: &str, lacking: Vec<String>, extra: Vec<String>| {
            let first = |items: &[String]| items.iter().take(20).cloned().collect::<Vec<_>>();
            report += &format!(
                "{name}: {} missing {:?}, {} unexpected or duplicated {:?}\n",
                lacking.len(),
                first(&lacking),
                extra.len(),
                first(&extra)
            );
        };
        let ids = |items: Vec<i64>| items.iter().map(i64::to_string).collect();
        let pairs = |items: Vec<(i64, i64)>| {
            let pairs = items.iter().map(|(user, id)| format!("{id} (user {user})"));
            pairs.collect()
        };
        kind(
            "users",
            ids(minus(&expected.users, &self.users)),
            ids(minus(&self.users, &expected.users)),
        );
        kind(
            "events",
            ids(minus(&expected.events, &self.events)),
            ids(minus(&self.events, &expected.events)),
        );
        kind(
            "coupons",
            pairs(minus(&expected.coupons, &self.coupons)),
            pairs(minus(&self.coupons, &expected.coupons)),
        );
        report
    }

    fn contains(&self, other: &Records) -> bool {
        let has_all = |mine: &[i64], theirs: &[i64]| theirs.iter().all(|id| mine.contains(id));
        has_all(&self.users, &other.users)
            && has_all(&self.events, &other.events)
            && other.coupons.iter().all(|c| self.coupons.contains(c))
    }
}

/// One message of a dead-letter topic, as far as the checks need it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The topic it came from, without the pipeline's prefix (`users`, ...).
    pub topic: &'static str,
    pub reason: Option<String>,
    pub status: Option<String>,
    /// The record's id, when the value is a JSON object with one.
    pub id: Option<i64>,
    pub payload: Vec<u8>,
    /// The coupon's user, when the value is a coupon.
    user: Option<i64>,
}

impl DeadLetter {
    fn read(topic: &'static str, message: &OwnedMessage) -> DeadLetter {
        let payload = message.payload().unwrap_or_default().to_vec();
        let value: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        DeadLetter {
            topic,
            reason: header(message, "dlq-reason"),
            status: header(message, "dlq-status"),
            id: value.get("id").and_then(Value::as_i64),
            user: value.get("user_id").and_then(Value::as_i64),
            payload,
        }
    }
}

/// Waits until every record of `ledger` is stored or dead-lettered, then checks that the
/// api holds exactly those accepted and not dead-lettered, each once, and that every dead
/// letter carries its reason. Returns the dead letters, for the test's own checks.
pub async fn assert_stored_once_or_dead_lettered(
    pipeline: &Pipeline,
    ledger: &Ledger,
) -> Vec<DeadLetter> {
    let deadline = Instant::now() + SETTLE_WITHIN;
    loop {
        let letters = dead_letters(pipeline).await;
        let stored = stored(pipeline, ledger, &letters).await;
        let expected = ledger.expected(&letters);
        if stored.contains(&expected) || Instant::now() >= deadline {
            for letter in &letters {
                assert!(
                    letter.reason.as_ref().is_some_and(|r| !r.is_empty()),
                    "a dead letter without its reason: {letter:?}"
                );
            }
            assert!(
                stored == expected,
                "the api must hold each accepted record once, except those dead-lettered; \
                 after up to {SETTLE_WITHIN:?} it does not:\n{}",
                stored.differences(&expected)
            );
            return letters;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every dead letter of the pipeline so far.
pub async fn dead_letters(pipeline: &Pipeline) -> Vec<DeadLetter> {
    let bootstrap = pipeline.bootstrap.clone();
    let dlqs = TOPICS.map(|topic| (topic, pipeline.topic(&format!("{topic}.dlq"))));
    tokio::task::spawn_blocking(move || {
        dlqs.iter()
            .flat_map(|(topic, dlq)| {
                read_to_end(&bootstrap, dlq)
                    .iter()
                    .map(|message| DeadLetter::read(topic, message))
                    .collect::<Vec<_>>()
            })
            .collect()
    })
    .await
    .expect("dead letters read")
}

/// What the api holds of the records the ledger and the dead letters name.
async fn stored(pipeline: &Pipeline, ledger: &Ledger, letters: &[DeadLetter]) -> Records {
    let named = |topic: &str, accepted: &BTreeSet<i64>| -> BTreeSet<i64> {
        let lettered = letters.iter().filter(|l| l.topic == topic);
        let lettered = lettered.filter_map(|l| l.id);
        accepted.iter().copied().chain(lettered).collect()
    };
    let users = named("users", &ledger.users);
    let events = named("events", &ledger.events);
    let coupon_users = ledger
        .coupons
        .values()
        .copied()
        .chain(letters.iter().filter_map(|l| l.user));
    Records {
        users: present(pipeline, "users", &users).await,
        events: present(pipeline, "events", &events).await,
        coupons: coupons_of(pipeline, coupon_users.collect()).await,
    }
}

/// The ids among `ids` the api finds.
async fn present(pipeline: &Pipeline, path: &str, ids: &BTreeSet<i64>) -> Vec<i64> {
    let mut found = Vec::new();
    for &id in ids {
        if pipeline.get(&format!("/{path}/{id}")).await.is_some() {
            found.push(id);
        }
    }
    found
}

/// Every coupon the api lists for these users, as (user, id).
async fn coupons_of(pipeline: &Pipeline, users: BTreeSet<i64>) -> Vec<(i64, i64)> {
    let mut found = Vec::new();
    for user in users {
        let listed = pipeline
            .get_all_pages(&format!("/coupons/user/{user}?limit=1000"))
            .await;
        found.extend(
            listed
                .iter()
                .filter_map(|c| c["id"].as_i64())
                .map(|id| (user, id)),
        );
    }
    sorted(found)
}

/// The items of sorted `all` left once each item of sorted `taken` took one equal to it.
fn minus<T: Ord + Clone>(all: &[T], taken: &[T]) -> Vec<T> {
    let mut left = Vec::new();
    let mut taken = taken.iter().peekable();
    for item in all {
        while taken.next_if(|t| *t < item).is_some() {}
        if taken.next_if(|t| *t == item).is_none() {
            left.push(item.clone());
        }
    }
    left
}

fn sorted<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort_unstable();
    items
}
