//! The services run in a test's own process, as [`InProcess`] starts them.

use std::time::Duration;

use clap::Parser;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use slipstream_devkit::{eventually, free_port, shared_broker, DevKeys};
use slipstream_runtime::auth::Scope;
use slipstream_testkit::{user, InProcess};

#[tokio::test(flavor = "multi_thread")]
async fn a_record_reaches_the_api_through_a_consumer_run_in_process_which_then_stops_cleanly() {
    let bootstrap = tokio::task::spawn_blocking(|| shared_broker().to_owned())
        .await
        .expect("a broker");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
    let key_file = keys.file.display().to_string();
    let database = format!("sqlite://{}", dir.path().join("api.db").display());
    let api = InProcess::api(api::Config::parse_from([
        "api",
        "--host=127.0.0.1",
        "--port=0",
        &format!("--database-url={database}"),
        &format!("--auth-keys-file={key_file}"),
    ]))
    .await;
    let prefix = format!("testkit-{}.", uuid::Uuid::new_v4().simple());
    let consumer = InProcess::consumer(consumer::Config::parse_from([
        "consumer",
        "--topic=users",
        &format!("--bootstrap-servers={bootstrap}"),
        &format!("--topic-prefix={prefix}"),
        &format!("--api-url={}", api.url),
        &format!("--api-key={}", keys.key(Scope::Write)),
        &format!("--auth-keys-file={key_file}"),
        "--host=127.0.0.1",
        &format!("--port={}", free_port()),
    ]))
    .await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("a producer");
    let body = user().id(7).json().to_string();
    let topic = format!("{prefix}users");
    producer
        .send(
            FutureRecord::to(&topic).key("7").payload(&body),
            Duration::from_secs(10),
        )
        .await
        .expect("written to Kafka");

    let reader = keys.client(Scope::Read);
    let stored_user = format!("{}/users/7", api.url);
    eventually("the user is stored", Duration::from_secs(30), || async {
        let answer = reader.get(&stored_user).send().await;
        answer.is_ok_and(|r| r.status() == 200)
    })
    .await;
    consumer.stop().await.expect("the consumer stops cleanly");
    api.stop().await.expect("the api stops cleanly");
}
