use std::time::Duration;

use clap::Parser;
use producer::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message};
use serde_json::Value;
use slipstream_devkit::kafka::read_topic;
use slipstream_devkit::DevKeys;
use slipstream_runtime::auth::Scope;
use slipstream_testkit::InProcess;
use tempfile::TempDir;

/// A producer running in this process on its own topics, with its own key file holding a
/// key per scope. `http` sends the ingest key.
pub struct TestProducer {
    pub url: String,
    pub bootstrap: String,
    pub prefix: String,
    pub http: reqwest::Client,
    pub keys: DevKeys,
    /// Runs until the producer is dropped.
    _service: InProcess,
    _dir: TempDir,
}

impl TestProducer {
    pub async fn start(bootstrap: &str, extra: &[&str]) -> TestProducer {
        let prefix = format!("test-{}.", uuid::Uuid::new_v4().simple());
        let dir = tempfile::tempdir().expect("a directory");
        let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
        let keys_file = keys.file.display().to_string();
        let mut args = vec![
            "producer",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--bootstrap-servers",
            bootstrap,
            "--topic-prefix",
            &prefix,
            "--auth-keys-file",
            &keys_file,
        ];
        args.extend_from_slice(extra);
        let service = InProcess::producer(Config::parse_from(args)).await;
        TestProducer {
            url: service.url.clone(),
            _service: service,
            bootstrap: bootstrap.to_owned(),
            prefix,
            http: keys.client(Scope::Ingest),
            keys,
            _dir: dir,
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .expect("producer reachable")
    }

    /// Every message of a topic (by its unprefixed name), read from the start.
    pub fn read_topic(&self, topic: &str, expected: usize) -> Vec<OwnedMessage> {
        read_topic(
            &self.bootstrap,
            &format!("{}{topic}", self.prefix),
            expected,
        )
    }

    /// How many messages a topic holds, over all partitions. Asks again while a topic that
    /// was just created has no partition leaders yet.
    pub fn count(&self, topic: &str) -> i64 {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("consumer");
        let name = format!("{}{topic}", self.prefix);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match try_count(&consumer, &name) {
                Ok(count) => return count,
                Err(e) if std::time::Instant::now() > deadline => {
                    panic!("cannot count {name}: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

fn try_count(consumer: &BaseConsumer, topic: &str) -> Result<i64, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions())
        .unwrap_or_default();
    if partitions.is_empty() {
        return Err("no partitions yet".into());
    }
    let mut total = 0;
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        total += high - low;
    }
    Ok(total)
}

pub fn json_of(message: &OwnedMessage) -> Value {
    serde_json::from_slice(message.payload().expect("payload")).expect("JSON payload")
}

pub fn key_of(message: &OwnedMessage) -> String {
    String::from_utf8_lossy(message.key().expect("key")).into_owned()
}
