//! The README's run command: `slipstream-dev up` brings the whole pipeline up, a record posted
//! to the producer is readable from the api (from every replica, with `--postgres
//! --api-replicas 2`) within a second, and Ctrl-C stops every process it started. Needs the
//! service binaries (`cargo build --bins`), as the command itself does.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use slipstream_devkit::process::{children_of, is_alive};

#[test]
fn up_runs_the_pipeline_and_ctrl_c_stops_everything_it_started() {
    up_runs_and_stops(&[], 1, "kafka, api, producer and three consumers");
}

#[test]
fn up_runs_two_api_replicas_on_postgres_and_ctrl_c_stops_everything_it_started() {
    up_runs_and_stops(
        &["--postgres", "--api-replicas", "2"],
        2,
        "postgres, kafka, two apis, producer and three consumers",
    );
}

/// Runs `slipstream-dev up` with `extra` arguments, expecting `apis` api replicas, and checks
/// what a user of the command sees.
fn up_runs_and_stops(extra: &[&str], apis: u16, processes: &str) {
    // One whole pipeline at a time: the ports below are chosen per process.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("temp dir");
    let [kafka, api, producer, consumers, postgres] = ports_outside_the_ephemeral_range();
    let mut up = Command::new(env!("CARGO_BIN_EXE_slipstream-dev"))
        .args([
            "up",
            "--kafka-port",
            &kafka.to_string(),
            "--api-port",
            &api.to_string(),
        ])
        .args([
            "--producer-port",
            &producer.to_string(),
            "--consumer-port",
            &consumers.to_string(),
        ])
        .args(extra)
        .args(["--postgres-port", &postgres.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipstream-dev up");
    let stdout = BufReader::new(up.stdout.take().expect("stdout"));
    let (lines, running) = mpsc::channel();
    thread::spawn(move || {
        stdout
            .lines()
            .map_while(Result::ok)
            .for_each(|line| drop(lines.send(line)))
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while !running
        .recv_timeout(Duration::from_secs(120))
        .is_ok_and(|line| line.contains("Slipstream is running"))
    {
        assert!(Instant::now() < deadline, "the pipeline did not come up");
    }
    let children = children_of(up.id());
    let expected = 5 + usize::from(apis) + extra.contains(&"--postgres") as usize;
    assert_eq!(children.len(), expected, "{processes}: {children:?}");

    // `up` wrote a key per scope, by the names of SPEC §9, and nothing answers without one.
    let credentials =
        std::fs::read_to_string(dir.path().join("credentials.env")).expect("credentials.env");
    let key = |name: &str| {
        let prefix = format!("SLIPSTREAM_{name}_KEY=");
        let found = credentials.lines().find_map(|l| l.strip_prefix(&prefix));
        found
            .unwrap_or_else(|| panic!("no {name} key in:\n{credentials}"))
            .to_owned()
    };
    for name in ["INGEST", "WRITE", "READ", "RECOMMEND", "ADMIN", "METRICS"] {
        assert!(key(name).starts_with("slp_"), "{name}");
    }
    let (ingest, read) = (key("INGEST"), key("READ"));
    let user =
        r#"{"id": 1, "birth_year": 1990, "country": "GR", "currency": "EUR", "gender": "F"}"#;
    assert_eq!(request(producer, "POST", "/users", user, None), 401);
    assert_eq!(
        request(producer, "POST", "/users", user, Some(&ingest)),
        202
    );
    let accepted = Instant::now();
    for replica in api..api + apis {
        while request(replica, "GET", "/users/1", "", Some(&read)) != 200 {
            assert!(
                accepted.elapsed() < Duration::from_secs(1),
                "not readable from the api on {replica} within a second"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    let interrupted = Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let status = up.wait().expect("up exits");
    assert!(status.success(), "{status}");
    assert!(
        children.iter().all(|&pid| !is_alive(pid)),
        "a process outlived Ctrl-C"
    );
}

/// Kafka's, the api's (and the next two, for replicas) and the producer's ports, the first of
/// three for the consumers, and PostgreSQL's: free, distinct, and below the ephemeral range,
/// so no port the command picks for itself (Kafka's controller) can land on one of them.
fn ports_outside_the_ephemeral_range() -> [u16; 5] {
    let free = |port: u16| TcpListener::bind(("127.0.0.1", port)).is_ok();
    let start = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    let mut candidates = (start..32_000).step_by(4).filter(|&p| (p..p + 3).all(free));
    let mut next = || candidates.next().expect("free ports below 32000");
    [next(), next(), next(), next(), next()]
}

/// A one-shot HTTP/1.0 request on 127.0.0.1 with `key` as its bearer token; returns the
/// status, 0 when nothing answered.
fn request(port: u16, method: &str, path: &str, body: &str, key: Option<&str>) -> u16 {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let authorization = key.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    let head = format!(
        "{method} {path} HTTP/1.0\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .is_err()
    {
        return 0;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
