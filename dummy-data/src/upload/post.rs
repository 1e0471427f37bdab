//! Posting records to the producer. A 503 is retried with only the records Kafka did not take
//! (the problem body lists each `failed` record's index and the id the producer gave it), each
//! resent with that id, so an upload neither duplicates nor loses a record.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use serde::Deserialize;
use slipstream_runtime::retry::{retry, retry_after, Attempt, Backoff};
use tokio_util::sync::CancellationToken;

/// What became of one chunk of records.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub accepted: usize,
    pub failed: usize,
    pub retries: u32,
    /// Why the last failed record failed, for the report.
    pub error: Option<String>,
    /// How long the request the producer answered 202 took, the waits before it left out:
    /// the accept latency SPEC §8 sets a target for. `None` when no request got a 202.
    pub latency: Option<Duration>,
}

/// Posts chunks of JSONL lines to one producer.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    base: String,
    /// Requests per chunk (the first included) and the longest wait between two of them,
    /// whatever `Retry-After` says.
    retry: Backoff,
}

/// The producer's answer to one request, reduced to what decides the next step.
enum Answer {
    Accepted,
    /// Kafka could not take the request; `failed` lists the records not written, when known.
    Unavailable {
        wait: Option<Duration>,
        failed: Option<Vec<Failed>>,
    },
    /// Resending cannot help: the records are invalid.
    Rejected(String),
    /// No answer (connection refused, timeout): resent whole. The records carry their ids, so
    /// a copy that did reach Kafka is stored once by the api (same id, same content).
    Unreachable(String),
}

#[derive(Deserialize)]
struct Unavailable {
    failed: Option<Vec<Failed>>,
}

/// A record the producer did not get written: its index in the request, and its id.
#[derive(Debug, Clone, Copy, Deserialize)]
struct Failed {
    index: usize,
    id: i64,
}

impl Sender {
    pub fn new(http: reqwest::Client, base: &str, retry: Backoff) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            retry,
        }
    }

    /// Posts `records` (JSON texts) to `path` as one request: a single object when `single`,
    /// else an array. Retries what Kafka did not take until it is taken or the attempts run out.
    pub async fn send(&self, path: &str, records: &[String], single: bool) -> Outcome {
        // What the tries share: the records not taken yet, and the count so far. Locked only
        // between awaits.
        let progress = Mutex::new((records.to_vec(), Outcome::default()));
        let never = CancellationToken::new();
        let progress_ref = &progress;
        let done = retry(&self.retry, &never, |attempt| async move {
            let pending = lock(progress_ref).0.clone();
            let posted = Instant::now();
            let answer = self.post(path, &pending, single).await;
            let (pending, outcome) = &mut *lock(progress_ref);
            if attempt > 0 {
                outcome.retries += 1;
            }
            let wait = match answer {
                Answer::Accepted => {
                    outcome.accepted += pending.len();
                    outcome.latency = Some(posted.elapsed());
                    pending.clear();
                    return Attempt::Done(());
                }
                Answer::Rejected(error) => {
                    fail(outcome, pending.len(), error);
                    pending.clear();
                    return Attempt::Done(());
                }
                Answer::Unavailable { wait, failed } => {
                    if let Some(failed) = failed {
                        let left = select(pending, &failed);
                        outcome.accepted += pending.len() - left.len();
                        *pending = left;
                    }
                    outcome.error = Some(format!("POST {path} answered 503"));
                    wait
                }
                Answer::Unreachable(error) => {
                    outcome.error = Some(error);
                    None
                }
            };
            match pending.is_empty() {
                true => Attempt::Done(()),
                false => Attempt::Again(wait),
            }
        });
        let given_up = done.await.is_none();
        let (pending, mut outcome) = progress
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if given_up {
            let error = outcome.error.take().unwrap_or_default();
            fail(&mut outcome, pending.len(), error);
        }
        outcome
    }

    async fn post(&self, path: &str, records: &[String], single: bool) -> Answer {
        let body = match (single, records) {
            (true, [record]) => record.clone(),
            _ => format!("[{}]", records.join(",")),
        };
        let sent = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Answer::Unreachable(format!("POST {path} failed: {e}")),
        };
        let status = response.status();
        if status.is_success() {
            return Answer::Accepted;
        }
        let wait = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => Answer::Unavailable {
                wait,
                failed: serde_json::from_str::<Unavailable>(&text)
                    .ok()
                    .and_then(|body| body.failed),
            },
            _ if status.is_server_error() => {
                Answer::Unreachable(format!("POST {path} answered {status}: {text}"))
            }
            _ => Answer::Rejected(format!("POST {path} answered {status}: {text}")),
        }
    }
}

fn fail(outcome: &mut Outcome, records: usize, error: String) {
    outcome.failed += records;
    outcome.error = Some(error);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `failed` records, each once and with the id the producer gave it; indexes out of
/// range are ignored.
fn select(pending: &[String], failed: &[Failed]) -> Vec<String> {
    let mut failed = failed.to_vec();
    failed.sort_unstable_by_key(|f| f.index);
    failed.dedup_by_key(|f| f.index);
    failed
        .into_iter()
        .filter_map(|f| Some(with_id(pending.get(f.index)?, f.id)))
        .collect()
}

/// `record` (a JSON object's text) with `id` when it had none; as it was otherwise.
fn with_id(record: &str, id: i64) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(record) {
        Ok(mut object) if !object.contains_key("id") => {
            object.insert("id".into(), id.into());
            serde_json::Value::Object(object).to_string()
        }
        _ => record.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::extract::State;
    use axum::http::header::RETRY_AFTER;
    use axum::http::{HeaderMap, HeaderValue};
    use axum::routing::post;
    use axum::Router;
    use serde_json::{json, Value};

    use super::*;

    /// What the fake producer answers, in turn (202 once the script is spent), and what it
    /// was sent.
    #[derive(Default)]
    struct Fake {
        answers: VecDeque<(u16, Option<&'static str>, Value)>,
        bodies: Vec<Value>,
    }

    type Shared = Arc<Mutex<Fake>>;

    async fn answer(State(fake): State<Shared>, body: String) -> (StatusCode, HeaderMap, String) {
        let mut fake = fake.lock().expect("not poisoned");
        fake.bodies
            .push(serde_json::from_str(&body).expect("the uploader posts JSON"));
        let (status, retry_after, body) =
            fake.answers.pop_front().unwrap_or((202, None, json!([])));
        let mut headers = HeaderMap::new();
        if let Some(secs) = retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(secs));
        }
        let status = StatusCode::from_u16(status).expect("valid status");
        (status, headers, body.to_string())
    }

    /// Serves the fake on a free port and returns a sender to it, with the fake to inspect.
    async fn fake_producer(
        answers: Vec<(u16, Option<&'static str>, Value)>,
        retry: Backoff,
    ) -> (Sender, Shared) {
        let fake = Arc::new(Mutex::new(Fake {
            answers: answers.into(),
            bodies: Vec::new(),
        }));
        let app = Router::new()
            .route("/users", post(answer))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Sender::new(reqwest::Client::new(), &url, retry), fake)
    }

    fn quick(attempts: u32) -> Backoff {
        Backoff::up_to(Duration::from_millis(20)).tries(attempts)
    }

    fn records(n: u64) -> Vec<String> {
        (1..=n).map(|id| json!({ "id": id }).to_string()).collect()
    }

    fn bodies(fake: &Shared) -> Vec<Value> {
        fake.lock().expect("not poisoned").bodies.clone()
    }

    #[tokio::test]
    async fn a_partial_503_resends_only_the_failed_records_after_retry_after() {
        let failed = json!([{"index": 1, "id": 2}, {"index": 3, "id": 4}]);
        let partial = json!({"status": 503, "accepted": [{"id": 1}, {"id": 3}], "failed": failed});
        let retry = Backoff::up_to(Duration::from_secs(5)).tries(5);
        let (sender, fake) = fake_producer(vec![(503, Some("1"), partial)], retry).await;
        let started = Instant::now();

        let outcome = sender.send("/users", &records(4), false).await;

        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After: 1 honoured"
        );
        assert!(
            outcome.latency.is_some_and(|l| l < Duration::from_secs(1)),
            "the latency is the 202's own, not the wait before it: {:?}",
            outcome.latency
        );
        assert_eq!(
            (outcome.accepted, outcome.failed, outcome.retries),
            (4, 0, 1)
        );
        let sent = bodies(&fake);
        assert_eq!(
            sent[1],
            json!([{"id": 2}, {"id": 4}]),
            "only the failed, once"
        );
        assert_eq!(sent.len(), 2);
    }

    #[tokio::test]
    async fn a_503_without_failed_indexes_resends_the_whole_batch_and_caps_the_wait() {
        let busy = json!({"status": 503, "title": "unavailable"});
        let (sender, fake) = fake_producer(vec![(503, Some("60"), busy)], quick(5)).await;
        let started = Instant::now();

        let outcome = sender.send("/users", &records(3), false).await;

        assert!(started.elapsed() < Duration::from_secs(5), "backoff capped");
        assert_eq!((outcome.accepted, outcome.failed), (3, 0));
        let sent = bodies(&fake);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1]);
    }

    #[tokio::test]
    async fn records_without_id_are_resent_with_the_id_the_producer_gave_them() {
        let failed = json!([{"index": 1, "id": 4_611_686_018_427_387_905_i64}]);
        let script = vec![(503, Some("0"), json!({ "failed": failed }))];
        let (sender, fake) = fake_producer(script, quick(2)).await;
        let records = [r#"{"name":"a"}"#.to_owned(), r#"{"name":"b"}"#.to_owned()];

        let outcome = sender.send("/users", &records, false).await;

        assert_eq!((outcome.accepted, outcome.failed), (2, 0));
        assert_eq!(
            bodies(&fake)[1],
            json!([{"name": "b", "id": 4_611_686_018_427_387_905_i64}])
        );
    }

    #[tokio::test]
    async fn a_single_record_is_posted_as_an_object() {
        let (sender, fake) = fake_producer(vec![], quick(1)).await;

        let outcome = sender.send("/users", &records(1), true).await;

        assert_eq!((outcome.accepted, outcome.failed), (1, 0));
        assert!(outcome.latency.is_some());
        assert_eq!(bodies(&fake), [json!({"id": 1})]);
    }

    #[tokio::test]
    async fn a_rejected_batch_counts_as_errors_and_is_not_retried() {
        let invalid = json!({"status": 422, "errors": [{"field": "[0].country"}]});
        let (sender, fake) = fake_producer(vec![(422, None, invalid)], quick(5)).await;

        let outcome = sender.send("/users", &records(2), false).await;

        assert_eq!(
            (outcome.accepted, outcome.failed, outcome.retries),
            (0, 2, 0)
        );
        assert_eq!(outcome.latency, None, "no 202, no accept latency");
        assert!(outcome.error.is_some_and(|e| e.contains("422")));
        assert_eq!(bodies(&fake).len(), 1);
    }

    #[tokio::test]
    async fn records_still_failing_after_the_last_attempt_are_errors() {
        let failing = |failed: Value| (503, Some("0"), json!({ "failed": failed }));
        let script = vec![
            failing(json!([{"index": 0, "id": 1}, {"index": 2, "id": 3}])),
            failing(json!([{"index": 1, "id": 3}])),
            failing(json!([{"index": 0, "id": 3}])),
        ];
        let (sender, fake) = fake_producer(script, quick(3)).await;

        let outcome = sender.send("/users", &records(3), false).await;

        assert_eq!(
            (outcome.accepted, outcome.failed, outcome.retries),
            (2, 1, 2)
        );
        assert_eq!(bodies(&fake)[2], json!([{"id": 3}]));
    }
}
