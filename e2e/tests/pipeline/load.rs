//! A client that keeps posting coupons while a test breaks the pipeline. It chooses the ids
//! itself, so a batch the producer refused is sent again as the very same records, and
//! whatever reached Kafka before the refusal cannot be stored twice.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use slipstream_devkit::eventually;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use slipstream_runtime::auth::Scope;

use crate::helpers::Pipeline;
use crate::ledger::Ledger;

/// Users and events 1..=REFERENCES exist before the coupons flow; coupons name them.
pub const REFERENCES: i64 = 8;
/// Coupons per request: enough that the load outpaces the consumers, so that a fault
/// finds messages fetched but not yet stored, the ones an early commit would lose.
const BATCH: usize = 20;
/// How long one batch may keep failing before the test gives up on the pipeline.
const GIVE_UP_AFTER: Duration = Duration::from_secs(90);
/// Pause between two batches, and before a refused batch is sent again.
const PAUSE: Duration = Duration::from_millis(50);
const RETRY_PAUSE: Duration = Duration::from_millis(250);

pub fn user(id: i64) -> Value {
    json!({"id": id, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "M",
           "registration_date": "2026-01-01T00:00:00Z"})
}

pub fn event(id: i64) -> Value {
    json!({"id": id, "begin_timestamp": "2031-01-01T18:00:00Z", "end_timestamp": "2031-01-01T20:00:00Z",
           "country": "GR", "league": "L", "sport": "football", "participants": ["A", "B"]})
}

/// A complete coupon: with its timestamp set, a resent copy is identical to the first one,
/// which the api then recognises as a replay rather than an id conflict.
pub fn coupon(id: i64, user_id: i64, event_id: i64) -> Value {
    json!({"id": id, "user_id": user_id, "stake": 2.5, "selections": [{"event_id": event_id, "odds": 1.5}],
           "timestamp": "2026-11-01T12:00:00Z"})
}

/// Posts users and events 1..=REFERENCES and waits until the api holds them.
pub async fn references(pipeline: &Pipeline) -> Ledger {
    let mut ledger = Ledger::default();
    for id in 1..=REFERENCES {
        for (topic, record) in [("users", user(id)), ("events", event(id))] {
            let (status, answer) = pipeline.produce(&format!("/{topic}"), &record).await;
            assert_eq!(status, 202, "{answer}");
            ledger.accept(topic, &record);
        }
    }
    eventually(
        "the references are stored",
        Duration::from_secs(60),
        || async {
            let stored = |topic: &'static str| async move {
                let path = format!("/{topic}/{REFERENCES}");
                pipeline.get(&path).await.is_some()
            };
            stored("users").await && stored("events").await
        },
    )
    .await;
    ledger
}

/// Coupons being posted in the background, until [`Load::finish`]; see the module
/// documentation.
pub struct Load {
    task: JoinHandle<Ledger>,
    progress: Arc<Progress>,
}

#[derive(Default)]
struct Progress {
    accepted_batches: AtomicUsize,
    unavailable: AtomicUsize,
    stop: AtomicBool,
}

impl Load {
    /// Starts posting batches of coupons to the pipeline's producer, with its ingest key, with
    /// ids from `first_id` on, spread over the users and events 1..=REFERENCES.
    pub fn start(pipeline: &Pipeline, first_id: i64) -> Load {
        let progress = Arc::new(Progress::default());
        let task = tokio::spawn(post_batches(
            pipeline.keys.client(Scope::Ingest),
            pipeline.producer_url.clone(),
            first_id,
            progress.clone(),
        ));
        Load { task, progress }
    }

    /// Batches answered 202 so far.
    pub fn accepted_batches(&self) -> usize {
        self.progress.accepted_batches.load(Ordering::Relaxed)
    }

    /// Attempts answered 503 so far.
    pub fn unavailable(&self) -> usize {
        self.progress.unavailable.load(Ordering::Relaxed)
    }

    /// Waits until `more` batches beyond those accepted so far are accepted: the stream
    /// flows (again).
    pub async fn until_accepted(&self, more: usize) {
        let target = self.accepted_batches() + more;
        eventually(
            &format!("{target} batches are accepted"),
            GIVE_UP_AFTER,
            || async { self.accepted_batches() >= target },
        )
        .await;
    }

    /// Stops after the batch in flight is accepted; returns every coupon accepted.
    pub async fn finish(self) -> Ledger {
        self.progress.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the load ran to its end")
    }
}

async fn post_batches(
    http: reqwest::Client,
    producer_url: String,
    first_id: i64,
    progress: Arc<Progress>,
) -> Ledger {
    let url = format!("{producer_url}/coupons");
    let mut ledger = Ledger::default();
    let mut id = first_id;
    while !progress.stop.load(Ordering::Relaxed) {
        let coupons: Vec<Value> = (0..BATCH as i64)
            .map(|i| coupon(id + i, 1 + (id + i) % REFERENCES, 1 + i % REFERENCES))
            .collect();
        id += BATCH as i64;
        let receipts = post_until_accepted(&http, &url, &coupons, &progress).await;
        for (coupon, receipt) in coupons.iter().zip(&receipts) {
            ledger.accept_receipt("coupons", coupon, receipt);
        }
        progress.accepted_batches.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(PAUSE).await;
    }
    ledger
}

/// Posts the batch until the producer answers 202, and returns its receipts. A 503 and a
/// failed connection are worth another try; any other answer is a bug.
async fn post_until_accepted(
    http: &reqwest::Client,
    url: &str,
    coupons: &[Value],
    progress: &Progress,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let outcome = match http.post(url).json(coupons).send().await {
            Ok(response) if response.status() == 202 => {
                return response.json().await.expect("receipts");
            }
            Ok(response) if response.status() == 503 => {
                progress.unavailable.fetch_add(1, Ordering::Relaxed);
                "answered 503".to_owned()
            }
            Ok(response) => {
                let status = response.status();
                panic!(
                    "the producer answered {status}: {:?}",
                    response.text().await
                )
            }
            Err(e) => format!("failed: {e}"),
        };
        assert!(
            started.elapsed() < GIVE_UP_AFTER,
            "the producer still refuses a batch after {GIVE_UP_AFTER:?}: {outcome}"
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
