use std::process::Command;
use std::time::Duration;

use clap::Parser;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;
use slipstream_devkit::eventually;
use slipstream_devkit::kafka::read_topic;
use slipstream_devkit::{
    free_port, shared_broker, wait_for_http, workspace_bin, DevKeys, Logs, Service,
};
use slipstream_runtime::auth::Scope;
use slipstream_testkit::InProcess;
use tempfile::TempDir;

/// One topic's consumer process, the api it forwards to (started on demand), and a Kafka
/// client to write its topic and read its dead letters.
pub struct Setup {
    pub bootstrap: String,
    pub prefix: String,
    pub topic: &'static str,
    pub api_port: u16,
    pub api_url: String,
    pub consumer: Service,
    pub health_port: u16,
    /// Sends the admin key.
    pub http: reqwest::Client,
    /// The key file the consumer and its api share; the consumer sends the write key.
    pub keys: DevKeys,
    dir: TempDir,
    /// The api, once started; stopped when dropped.
    api: Option<InProcess>,
}

impl Setup {
    /// Starts the consumer of `topic`; the api is not running yet.
    pub async fn start(topic: &'static str, extra_env: &[(&str, &str)]) -> Setup {
        let bootstrap = tokio::task::spawn_blocking(|| shared_broker().to_owned())
            .await
            .expect("broker");
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("test-{}.", uuid::Uuid::new_v4().simple());
        let (api_port, health_port) = (free_port(), free_port());
        let api_url = format!("http://127.0.0.1:{api_port}");
        let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
        let mut command = Command::new(workspace_bin("consumer"));
        command
            .env("AUTH_KEYS_FILE", &keys.file)
            .env("API_KEY", keys.key(Scope::Write))
            .env("TOPIC", topic)
            .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
            .env("TOPIC_PREFIX", &prefix)
            .env("API_URL", &api_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", health_port.to_string())
            .env("LOG_FORMAT", "json")
            .env("MAX_BACKOFF_MS", "500")
            .envs(extra_env.iter().copied());
        let consumer = Service::spawn("consumer", command, Logs::Dir(dir.path().to_owned()))
            .expect("consumer spawns");
        let health = format!("http://127.0.0.1:{health_port}/health");
        tokio::task::spawn_blocking(move || wait_for_http(&health, Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("consumer healthy");
        Setup {
            bootstrap,
            prefix,
            topic,
            api_port,
            api_url,
            consumer,
            health_port,
            http: keys.client(Scope::Admin),
            keys,
            dir,
            api: None,
        }
    }

    /// Starts the api on its reserved port with a database in this setup's folder.
    pub async fn start_api(&mut self) {
        let database = format!("sqlite://{}", self.dir.path().join("api.db").display());
        let port = self.api_port.to_string();
        let keys = self.keys.file.display().to_string();
        let config = api::Config::parse_from([
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--database-url",
            &database,
            "--auth-keys-file",
            &keys,
        ]);
        self.api = Some(InProcess::api(config).await);
    }

    /// Runs `consumer redrive` for this setup's topic and returns its report, the last line
    /// it printed (log lines come before it).
    pub fn redrive(&self) -> String {
        let output = self.redrive_with(&[]);
        assert!(
            output.status.success(),
            "redrive failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        stdout.lines().last().unwrap_or_default().to_owned()
    }

    /// Runs `consumer redrive` with `args`, whatever it ends in.
    pub fn redrive_with(&self, args: &[&str]) -> std::process::Output {
        Command::new(workspace_bin("consumer"))
            .arg("redrive")
            .args(args)
            .env("TOPIC", self.topic)
            .env("KAFKA_BOOTSTRAP_SERVERS", &self.bootstrap)
            .env("TOPIC_PREFIX", &self.prefix)
            .env("LOG_FORMAT", "json")
            .output()
            .expect("consumer redrive runs")
    }

    pub async fn post(&self, path: &str, body: &Value) -> u16 {
        let response = self
            .http
            .post(format!("{}{path}", self.api_url))
            .json(body)
            .send()
            .await
            .expect("api reachable");
        response.status().as_u16()
    }

    pub fn topic_name(&self) -> String {
        format!("{}{}", self.prefix, self.topic)
    }

    /// Writes raw messages straight into the topic, as any Kafka client could.
    pub fn write(&self, messages: &[(&str, &[u8])]) {
        self.write_to(None, messages);
    }

    /// Writes raw messages to one partition, or where their keys lead, in the order given:
    /// idempotence keeps a partition's order through a retry (a topic created a moment ago
    /// can refuse a first request), which the tests of a partition's order rely on.
    fn write_to(&self, partition: Option<i32>, messages: &[(&str, &[u8])]) {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("enable.idempotence", "true")
            .create()
            .expect("producer");
        let topic = self.topic_name();
        for (key, payload) in messages {
            let mut record = BaseRecord::to(&topic).key(*key).payload(*payload);
            record.partition = partition;
            producer.send(record).map_err(|(e, _)| e).expect("queued");
        }
        producer.flush(Duration::from_secs(10)).expect("flushed");
    }

    /// Writes JSON records to one partition, in order.
    pub fn write_json_to(&self, partition: i32, records: &[(&str, Value)]) {
        self.write_json_with(Some(partition), records);
    }

    pub fn write_json(&self, records: &[(&str, Value)]) {
        self.write_json_with(None, records);
    }

    fn write_json_with(&self, partition: Option<i32>, records: &[(&str, Value)]) {
        let bytes: Vec<(&str, Vec<u8>)> = records
            .iter()
            .map(|(k, v)| (*k, serde_json::to_vec(v).expect("JSON")))
            .collect();
        let borrowed: Vec<(&str, &[u8])> = bytes.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        self.write_to(partition, &borrowed);
    }

    /// The consumer group's committed offsets, summed over partitions (unset counts as 0).
    pub fn committed(&self) -> i64 {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set(
                "group.id",
                format!("{}slipstream-{}", self.prefix, self.topic),
            )
            .create()
            .expect("client");
        let topic = self.topic_name();
        let mut partitions = TopicPartitionList::new();
        for p in partitions_of(&client, &topic) {
            partitions.add_partition(&topic, p);
        }
        let committed = client
            .committed_offsets(partitions, Duration::from_secs(5))
            .expect("committed offsets");
        committed
            .elements()
            .iter()
            .map(|e| {
                if let Offset::Offset(o) = e.offset() {
                    o
                } else {
                    0
                }
            })
            .sum()
    }

    /// The members of the consumer's group, as the broker sees them.
    pub fn group_members(&self) -> usize {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("client");
        let group = format!("{}slipstream-{}", self.prefix, self.topic);
        let groups = client
            .fetch_group_list(Some(&group), Duration::from_secs(5))
            .expect("group list");
        groups.groups().iter().map(|g| g.members().len()).sum()
    }

    /// How many messages the dead-letter topic holds.
    pub fn dead_letter_count(&self) -> i64 {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("client");
        let topic = format!("{}.dlq", self.topic_name());
        partitions_of(&client, &topic)
            .into_iter()
            .map(|p| {
                let (low, high) = client
                    .fetch_watermarks(&topic, p, Duration::from_secs(5))
                    .expect("watermarks");
                high - low
            })
            .sum()
    }

    /// Every dead letter so far (waits until `expected` arrived or 30 s passed).
    pub fn dead_letters(&self, expected: usize) -> Vec<OwnedMessage> {
        read_topic(
            &self.bootstrap,
            &format!("{}.dlq", self.topic_name()),
            expected,
        )
    }

    /// The consumer's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.health_port);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .expect("consumer reachable");
        response.text().await.expect("text")
    }

    pub async fn get(&self, path: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .send()
            .await
            .ok()?;
        if response.status() == 200 {
            response.json().await.ok()
        } else {
            None
        }
    }

    /// Waits until the api holds `path` (30 s at most).
    pub async fn wait_stored(&self, path: &str) {
        let what = format!("{path} is stored");
        eventually(&what, Duration::from_secs(30), || async {
            self.get(path).await.is_some()
        })
        .await;
    }

    /// Waits until the group has committed `offsets` in all, within `deadline`.
    pub async fn wait_committed(&self, offsets: i64, deadline: Duration) {
        let what = format!("{offsets} offset(s) are committed");
        eventually(&what, deadline, || async { self.committed() == offsets }).await;
    }

    /// The consumer's `/ready` status.
    pub async fn ready_status(&self) -> u16 {
        let url = format!("http://127.0.0.1:{}/ready", self.health_port);
        let response = reqwest::get(url).await.expect("consumer reachable");
        response.status().as_u16()
    }

    /// Once a misconfiguration is fixed: [`three_users`] are stored and committed, none
    /// dead-lettered, and the consumer is ready again.
    pub async fn wait_three_users_flow(&self) {
        for id in 1..=3 {
            self.wait_stored(&format!("/users/{id}")).await;
        }
        self.wait_committed(3, Duration::from_secs(30)).await;
        assert_eq!(self.dead_letter_count(), 0);
        eventually(
            "the consumer is ready again",
            Duration::from_secs(10),
            || async { self.ready_status().await == 200 },
        )
        .await;
    }

    /// Waits until the consumer's log shows `text`: the way to know it reached a state.
    pub async fn wait_for_log(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.consumer.log_tail(200).contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the consumer never logged `{text}`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- consumer -----\n{}", self.consumer.log_tail(60));
        }
    }
}

/// Users 1, 2 and 3, keyed by id as the producer writes them.
pub fn three_users() -> Vec<(&'static str, Value)> {
    ["1", "2", "3"]
        .into_iter()
        .map(|id| {
            let user = serde_json::json!({"id": id.parse::<i64>().expect("an id"), "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F", "registration_date": "2024-01-01T00:00:00Z"});
            (id, user)
        })
        .collect()
}

pub fn payload(message: &OwnedMessage) -> Vec<u8> {
    message.payload().unwrap_or_default().to_vec()
}

/// The partitions `topic` has (none while it does not exist), as its metadata says: tests
/// follow the services' `TOPIC_PARTITIONS` rather than assume a count.
fn partitions_of(client: &BaseConsumer, topic: &str) -> Vec<i32> {
    let metadata = client
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("topic metadata");
    metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect()
}
