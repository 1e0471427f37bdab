//! A producer stopped with SIGTERM under load (SPEC §3, §7): it lets the requests in flight
//! finish, so every 202 it gave is in Kafka and nothing it refused is; then it exits 0
//! within 10 s. Only a real process can receive the signal, so the producer binary runs
//! here as a child.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};
use slipstream_devkit::kafka::read_to_end;
use slipstream_devkit::{
    eventually, free_port, shared_broker, wait_for_http, workspace_bin, Logs, Service,
};

/// Clients posting at once, so that requests are in flight whenever the signal comes.
const CLIENTS: usize = 8;
/// Users per request: a bigger batch stays in flight longer.
const BATCH: i64 = 20;
/// SPEC §5 bounds a consumer's graceful stop by 10 s; a producer is held to the same.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// What became of one request, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 202: Kafka holds the records.
    Accepted,
    /// An HTTP answer other than 202: nothing of it may be in Kafka.
    Refused(u16),
    /// No answer (the connection was closed or reset): the records may or may not be there.
    Unknown,
}

/// Every id sent, with the answer its request got.
type Answers = Arc<Mutex<BTreeMap<i64, Answer>>>;

/// Whether SIGTERM was sent, and how many requests sent before it were answered 202 after
/// it: those the producer drained rather than cut.
#[derive(Default)]
struct Signal {
    sent: AtomicBool,
    drained: AtomicUsize,
}

fn spawn_producer(bootstrap: &str, prefix: &str, port: u16, logs: &std::path::Path) -> Service {
    let mut command = Command::new(workspace_bin("producer"));
    command
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("TOPIC_PREFIX", prefix)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        // What is tested is draining on SIGTERM; keys are tested elsewhere.
        .env("AUTH_DISABLED", "true");
    let producer =
        Service::spawn("producer", command, Logs::Dir(logs.to_owned())).expect("producer spawns");
    wait_for_http(
        &format!("http://127.0.0.1:{port}/ready"),
        Duration::from_secs(60),
    )
    .expect("producer ready");
    producer
}

/// Posts batches of users with fresh ids until the producer stops answering.
async fn post_until_gone(
    url: String,
    next_id: Arc<AtomicI64>,
    answers: Answers,
    signal: Arc<Signal>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    loop {
        let first = next_id.fetch_add(BATCH, Ordering::Relaxed);
        let users: Vec<Value> = (first..first + BATCH)
            .map(|id| json!({"id": id, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F"}))
            .collect();
        let sent_before_signal = !signal.sent.load(Ordering::SeqCst);
        let answer = match http.post(&url).json(&users).send().await {
            Ok(response) if response.status() == 202 => Answer::Accepted,
            Ok(response) => Answer::Refused(response.status().as_u16()),
            Err(_) => Answer::Unknown,
        };
        if answer == Answer::Accepted && sent_before_signal && signal.sent.load(Ordering::SeqCst) {
            signal.drained.fetch_add(1, Ordering::SeqCst);
        }
        let mut all = answers.lock().expect("answers");
        all.extend((first..first + BATCH).map(|id| (id, answer)));
        if answer == Answer::Unknown {
            return;
        }
    }
}

fn ids_in(answers: &BTreeMap<i64, Answer>, wanted: impl Fn(Answer) -> bool) -> Vec<i64> {
    let matching = answers.iter().filter(|(_, &answer)| wanted(answer));
    matching.map(|(&id, _)| id).collect()
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::print_stderr)] // How much of the load the signal caught, for whoever runs it.
async fn sigterm_under_load_keeps_every_202_and_exits_0_within_ten_seconds() {
    let bootstrap = tokio::task::spawn_blocking(|| shared_broker().to_owned())
        .await
        .expect("broker");
    let prefix = format!("test-{}.", uuid::Uuid::new_v4().simple());
    let logs = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut producer = tokio::task::spawn_blocking({
        let (bootstrap, prefix, logs) = (bootstrap.clone(), prefix.clone(), logs.path().to_owned());
        move || spawn_producer(&bootstrap, &prefix, port, &logs)
    })
    .await
    .expect("join");

    let answers = Answers::default();
    let next_id = Arc::new(AtomicI64::new(1));
    let signal = Arc::new(Signal::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let url = format!("http://127.0.0.1:{port}/users");
            tokio::spawn(post_until_gone(
                url,
                next_id.clone(),
                answers.clone(),
                signal.clone(),
            ))
        })
        .collect();
    eventually(
        "the producer accepted a first share of the load",
        Duration::from_secs(30),
        || async {
            let all = answers.lock().expect("answers");
            all.values().filter(|&&a| a == Answer::Accepted).count() >= 500
        },
    )
    .await;

    signal.sent.store(true, Ordering::SeqCst);
    producer.terminate().expect("SIGTERM sent");
    let signalled = Instant::now();
    let (producer, status) = tokio::task::spawn_blocking(move || {
        let status = producer.wait();
        (producer, status)
    })
    .await
    .expect("join");
    let stopped_after = signalled.elapsed();
    for client in clients {
        client.await.expect("client ends once the producer is gone");
    }

    let answers = answers.lock().expect("answers").clone();
    let topic = format!("{prefix}users");
    let written = tokio::task::spawn_blocking(move || read_to_end(&bootstrap, &topic))
        .await
        .expect("join");
    let mut in_kafka: Vec<i64> = written
        .iter()
        .map(|m| serde_json::from_slice::<Value>(m.payload().unwrap_or_default()).expect("JSON"))
        .map(|record| record["id"].as_i64().expect("id"))
        .collect();
    in_kafka.sort_unstable();
    let accepted = ids_in(&answers, |a| a == Answer::Accepted);
    let refused = ids_in(&answers, |a| matches!(a, Answer::Refused(_)));
    let unknown = ids_in(&answers, |a| a == Answer::Unknown);
    eprintln!(
        "shutdown: {} accepted ({} requests drained after the signal), {} refused, {} unknown, \
         {} in Kafka, exit after {stopped_after:?}",
        accepted.len(),
        signal.drained.load(Ordering::SeqCst),
        refused.len(),
        unknown.len(),
        in_kafka.len()
    );

    let status = status.expect("exit status");
    assert!(
        status.success(),
        "the producer exited with {status}:\n{}",
        producer.log_tail(30)
    );
    assert!(
        stopped_after < STOP_WITHIN,
        "the producer took {stopped_after:?} to stop"
    );
    assert!(
        in_kafka.windows(2).all(|pair| pair[0] != pair[1]),
        "a record is in Kafka twice"
    );
    let missing: Vec<_> = accepted
        .iter()
        .filter(|id| in_kafka.binary_search(id).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "answered 202 but not in Kafka: {missing:?}"
    );
    let leaked: Vec<_> = refused
        .iter()
        .filter(|id| in_kafka.binary_search(id).is_ok())
        .collect();
    assert!(leaked.is_empty(), "refused but written: {leaked:?}");
    let unsent: Vec<_> = in_kafka
        .iter()
        .filter(|id| !answers.contains_key(id))
        .collect();
    assert!(unsent.is_empty(), "in Kafka but never sent: {unsent:?}");
}
