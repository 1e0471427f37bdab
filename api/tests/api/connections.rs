//! Slow and idle clients cannot hold the api's connections (SPEC §9): headers must arrive
//! within the header timeout, idle keep-alive connections are closed, and past the
//! connection bound a connection is answered 503.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

async fn limited_app() -> TestApp {
    TestApp::spawn_with(|config| {
        config.edge.limits.http_header_timeout_secs = 2;
        config.edge.limits.http_idle_timeout_secs = 3;
        config.edge.limits.http_max_connections = 4;
    })
    .await
}

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.expect("connected")
}

/// Waits for the server to close `stream`; returns how long that took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_sending_its_headers_a_byte_a_second_is_disconnected() {
    let app = limited_app().await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    let request = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut disconnected = false;
    for byte in request {
        if stream.write_all(&[*byte]).await.is_err() {
            disconnected = true;
            break;
        }
        let mut buffer = [0u8; 64];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => {
                disconnected = true;
                break;
            }
            Ok(Ok(_)) => panic!("answered before the headers were complete"),
            Err(_) => {}
        }
    }
    assert!(disconnected, "a slow client kept its connection");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "disconnected only after {took:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = limited_app().await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("sent");
    let took = closed_within(&mut stream, Duration::from_secs(8)).await;
    assert!(
        took >= Duration::from_secs(2),
        "closed after {took:?}, before the idle timeout"
    );
}

#[tokio::test]
async fn past_the_connection_bound_a_connection_gets_503_and_the_bound_holds() {
    let app = limited_app().await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(&app).await;
        // A byte, so each connection is surely accepted and counted before the next.
        stream.write_all(b"G").await.expect("sent");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect(&app).await;
    extra
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    drop(held);
    // Once the held connections are gone, requests are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = app.get("/health").await;
        if response.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still shedding: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
