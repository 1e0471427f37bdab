//! The services against a secured Kafka: a broker listening with SASL_SSL (TLS to a
//! certificate from its own CA, then SCRAM-SHA-512 or PLAIN), the producer, a consumer and
//! `consumer redrive` connecting through it with `KAFKA_OPTIONS`. Records flow; a wrong
//! password ends the producer's start at once, saying why.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use slipstream_devkit::{
    free_port, wait_for_http, workspace_bin, DevKeys, KafkaBroker, KafkaOptions, Logs, Service,
};
use slipstream_runtime::auth::Scope;

/// A service child process with the Kafka settings of `broker`'s SASL_SSL listener.
fn service(name: &str, dir: &Path, broker: &KafkaBroker, options: &str, keys: &DevKeys) -> Command {
    let secured = broker.secured().expect("a secured listener");
    let mut command = Command::new(workspace_bin(name));
    command
        .env("KAFKA_BOOTSTRAP_SERVERS", secured.bootstrap_servers())
        .env("KAFKA_OPTIONS", options)
        .env("AUTH_KEYS_FILE", &keys.file)
        .env("HOST", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .current_dir(dir);
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn the_services_work_through_sasl_ssl_and_a_wrong_password_stops_the_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = tokio::task::spawn_blocking(|| {
        KafkaOptions::new()
            .secured(true)
            .start()
            .expect("a secured broker")
    })
    .await
    .expect("joined");
    let secured = broker.secured().expect("a secured listener").clone();
    let scram = secured.kafka_options("SCRAM-SHA-512", &secured.password);
    let plain = secured.kafka_options("PLAIN", &secured.password);
    let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
    let logs = Logs::Dir(dir.path().to_owned());

    // A wrong password: the producer stops at once and says why.
    let wrong_password = secured.kafka_options("SCRAM-SHA-512", "wrong");
    let mut wrong = service("producer", dir.path(), &broker, &wrong_password, &keys);
    wrong.env("PORT", free_port().to_string());
    let started = Instant::now();
    let mut refused = Service::spawn("producer-wrong-password", wrong, logs.clone())
        .expect("the producer spawns");
    let (status, refused) = tokio::task::spawn_blocking(move || (refused.wait(), refused))
        .await
        .expect("joined");
    let log = std::fs::read_to_string(refused.log_path().expect("a log file")).expect("its log");
    assert!(!status.expect("exit status").success(), "started anyway");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?} to give up:\n{log}",
        started.elapsed()
    );
    assert!(
        log.contains("refused this service's connection") && log.contains("invalid credentials"),
        "{log}"
    );

    // The right credentials: SCRAM for the producer, PLAIN for the consumer.
    let api_port = free_port();
    let mut api = Command::new(workspace_bin("api"));
    api.env("PORT", api_port.to_string())
        .env("HOST", "127.0.0.1")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("api.db").display()),
        )
        .env("AUTH_KEYS_FILE", &keys.file)
        .env("LOG_FORMAT", "json");
    let _api = Service::spawn("api", api, logs.clone()).expect("the api spawns");
    let producer_port = free_port();
    let mut producer = service("producer", dir.path(), &broker, &scram, &keys);
    producer.env("PORT", producer_port.to_string());
    let producer = Service::spawn("producer", producer, logs.clone()).expect("spawns");
    let mut consumer = service("consumer", dir.path(), &broker, &plain, &keys);
    consumer
        .env("TOPIC", "users")
        .env("PORT", free_port().to_string())
        .env("API_URL", format!("http://127.0.0.1:{api_port}"))
        .env("API_KEY", keys.key(Scope::Write));
    let consumer = Service::spawn("consumer", consumer, logs.clone()).expect("spawns");
    let ready = format!("http://127.0.0.1:{producer_port}/ready");
    let waited =
        tokio::task::spawn_blocking(move || wait_for_http(&ready, Duration::from_secs(60)))
            .await
            .expect("joined");
    if let Err(e) = waited {
        panic!("{e:#}\n{}", producer.log_tail(30));
    }

    let user =
        json!({"id": 7, "birth_year": 1980, "country": "GR", "currency": "EUR", "gender": "F"});
    let accepted = keys
        .client(Scope::Ingest)
        .post(format!("http://127.0.0.1:{producer_port}/users"))
        .json(&user)
        .send()
        .await
        .expect("producer reachable");
    assert_eq!(accepted.status(), 202);
    let reader = keys.client(Scope::Read);
    let url = format!("http://127.0.0.1:{api_port}/users/7");
    let stored = || async { matches!(reader.get(&url).send().await, Ok(r) if r.status() == 200) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stored().await {
        assert!(
            Instant::now() < deadline,
            "not stored:\n{}",
            consumer.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let redrive = service("consumer", dir.path(), &broker, &scram, &keys)
        .arg("redrive")
        .env("TOPIC", "users")
        .output()
        .expect("redrive runs");
    let stdout = String::from_utf8_lossy(&redrive.stdout);
    assert!(
        redrive.status.success() && stdout.contains("moved 0 message(s)"),
        "{stdout}{}",
        String::from_utf8_lossy(&redrive.stderr)
    );
}
