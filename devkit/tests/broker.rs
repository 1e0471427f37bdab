//! The devkit against a real Kafka broker and real processes: no mocks.

use std::env;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message};
use slipstream_devkit::process::{children_of, is_alive, Logs, Service};
use slipstream_devkit::{shared_broker, wait_for_http, KafkaBroker};

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn shared_broker_serves_metadata_for_itself() {
    let consumer: BaseConsumer = client(shared_broker()).create().expect("consumer");
    let metadata = consumer.fetch_metadata(None, TIMEOUT).expect("metadata");
    let port = shared_broker()
        .rsplit(':')
        .next()
        .expect("port")
        .parse::<i32>()
        .expect("numeric port");
    assert_eq!(metadata.brokers().len(), 1);
    assert_eq!(metadata.brokers()[0].port(), port);
}

#[test]
fn message_produced_to_a_new_topic_is_consumed() {
    let bootstrap = shared_broker();
    let topic = random_topic();
    create_topic(bootstrap, &topic);
    produce(bootstrap, &topic, "key-1", "hello");
    assert_eq!(consume_all(bootstrap, &topic, 1), vec!["hello".to_owned()]);
}

#[test]
fn restart_after_stop_or_crash_keeps_the_data() {
    let mut broker = KafkaBroker::start().expect("broker starts");
    let bootstrap = broker.bootstrap_servers();
    let topic = random_topic();
    create_topic(&bootstrap, &topic);
    produce(&bootstrap, &topic, "a", "before graceful restart");

    broker.restart().expect("restart after a graceful stop");
    produce(&bootstrap, &topic, "b", "before crash");
    broker.kill().expect("kill");
    assert!(!broker.is_running());
    broker.restart().expect("restart after a crash");

    assert_eq!(
        broker.bootstrap_servers(),
        bootstrap,
        "same address after restart"
    );
    let mut values = consume_all(&bootstrap, &topic, 2);
    values.sort();
    assert_eq!(
        values,
        vec![
            "before crash".to_owned(),
            "before graceful restart".to_owned()
        ],
        "{}",
        broker.log_tail(30)
    );
}

#[test]
fn dropping_a_broker_stops_it_and_removes_its_data() {
    let mut broker = KafkaBroker::start().expect("broker starts");
    let pid = broker.pid().expect("running");
    let dir = broker.dir().to_path_buf();
    assert!(broker.is_running() && dir.join("data/meta.properties").is_file());
    drop(broker);
    assert!(!is_alive(pid), "broker process {pid} still alive");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn stop_sends_sigterm_and_the_log_keeps_the_output() {
    let logs = tempfile::tempdir().expect("temp dir");
    let script = "echo started; trap 'echo terminated; exit 0' TERM; while :; do sleep 0.05; done";
    let mut service =
        Service::spawn("trapper", shell(script), Logs::Dir(logs.path().into())).expect("spawn");
    wait_until(|| service.log_tail(5).contains("started"));
    let status = service.stop(Duration::from_secs(5)).expect("stop");
    assert_eq!(status.code(), Some(0), "{}", service.log_tail(5));
    let log = service.log_tail(10);
    assert!(
        log.starts_with("started\n") && log.ends_with("terminated"),
        "{log}"
    );
}

#[test]
fn kill_ends_a_process_that_ignores_sigterm() {
    let logs = tempfile::tempdir().expect("temp dir");
    let script = "trap '' TERM; echo ignoring; sleep 30";
    let mut service =
        Service::spawn("stubborn", shell(script), Logs::Dir(logs.path().into())).expect("spawn");
    wait_until(|| service.log_tail(1) == "ignoring");
    service.terminate().expect("terminate");
    thread::sleep(Duration::from_millis(200));
    assert!(
        service.is_running(),
        "SIGTERM was ignored, so it still runs"
    );
    let status = service.kill().expect("kill");
    assert!(!service.is_running());
    assert!(!status.success());
}

#[test]
fn child_outlives_the_thread_that_spawned_it() {
    let mut service =
        thread::spawn(|| Service::spawn("sleeper", sleep_command(), Logs::Inherit).expect("spawn"))
            .join()
            .expect("spawning thread");
    thread::sleep(Duration::from_millis(300));
    assert!(
        service.is_running(),
        "the child died with the test thread that asked for it"
    );
}

/// The owner is `slipstream-dev kafka start`, a real user of the spawner: SIGKILL gives it no
/// chance to clean up, yet its broker must die with it.
#[test]
fn child_dies_when_its_owner_is_sigkilled() {
    let port = slipstream_devkit::free_port();
    let mut owner = Command::new(env!("CARGO_BIN_EXE_slipstream-dev"))
        .args(["kafka", "start", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("slipstream-dev kafka start");
    let stdout = BufReader::new(owner.stdout.take().expect("owner stdout"));
    stdout
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("KAFKA_BOOTSTRAP_SERVERS="))
        .expect("the broker comes up");
    let children = children_of(owner.id());
    assert_eq!(
        children.len(),
        1,
        "the owner runs exactly the broker: {children:?}"
    );
    assert!(is_alive(children[0]));

    owner.kill().expect("SIGKILL the owner");
    owner.wait().expect("reap the owner");
    wait_until(|| !is_alive(children[0]));
}

#[test]
fn kafka_start_command_stops_the_broker_on_sigterm() {
    let port = slipstream_devkit::free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipstream-dev"))
        .args(["kafka", "start", "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("slipstream-dev kafka start");
    let stdout = BufReader::new(command.stdout.take().expect("stdout"));
    let address = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("KAFKA_BOOTSTRAP_SERVERS=")
                .map(str::to_owned)
        })
        .expect("the command prints the broker's address");
    assert_eq!(address, format!("127.0.0.1:{port}"));
    let consumer: BaseConsumer = client(&address).create().expect("consumer");
    consumer
        .fetch_metadata(None, TIMEOUT)
        .expect("the broker serves metadata");

    let stopping = Instant::now();
    let sent = Command::new("kill")
        .args(["-TERM", &command.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = command.wait().expect("wait");
    assert!(status.success(), "{status}");
    // Well under the 30 s after which a broker deaf to SIGTERM would be SIGKILLed.
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopping.elapsed()
    );
}

#[test]
fn wait_for_http_sees_a_200_and_gives_up_on_a_closed_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/health", listener.local_addr().expect("address"));
    thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in listener.incoming().map_while(Result::ok) {
            let _ = stream.read(&mut [0; 1024]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    wait_for_http(&url, Duration::from_secs(5)).expect("200");

    let closed = format!("http://127.0.0.1:{}/health", slipstream_devkit::free_port());
    let started = Instant::now();
    let error = wait_for_http(&closed, Duration::from_millis(300)).expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        error.to_string().contains("did not answer 200"),
        "{error:#}"
    );
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    config
}

fn random_topic() -> String {
    format!("devkit-test-{}", uuid::Uuid::new_v4())
}

fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> =
        client(bootstrap).create().expect("admin client");
    let new_topic = NewTopic::new(topic, 3, TopicReplication::Fixed(1));
    let results =
        block_on(admin.create_topics([&new_topic], &AdminOptions::new())).expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

fn produce(bootstrap: &str, topic: &str, key: &str, value: &str) {
    let producer: BaseProducer = client(bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::to(topic).key(key).payload(value))
        .expect("enqueue");
    producer.flush(TIMEOUT).expect("delivered");
}

/// Reads the topic from the beginning until `count` values arrived.
fn consume_all(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    let consumer: BaseConsumer = client(bootstrap)
        .set("group.id", format!("devkit-test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT;
    let mut values = Vec::new();
    while values.len() < count && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("message");
            values
                .push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
        }
    }
    values
}

fn shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

fn sleep_command() -> Command {
    let mut command = Command::new("sleep");
    command.arg("60");
    command
}

fn wait_until(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met within 10 s");
        thread::sleep(Duration::from_millis(20));
    }
}
