//! Waiting for a service to answer HTTP, with nothing but the standard library.
//!
//! A probe needs one GET and a status line; an HTTP client crate (and an async runtime)
//! would be far more than that.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const RETRY_EVERY: Duration = Duration::from_millis(50);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// More than any health answer; a bigger body is not read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Polls `GET url` until it answers 200, or fails once `timeout` has passed, naming the last
/// reason it was not ready. Only plain `http://host:port/path` URLs are supported.
pub fn wait_for_http(url: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let reason = match get_status(url) {
            Ok(200) => return Ok(()),
            Ok(status) => format!("answered {status}"),
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{url} did not answer 200 within {timeout:?}: {reason}");
        }
        thread::sleep(RETRY_EVERY);
    }
}

/// Sends one HTTP/1.0 GET and returns the response's status code.
pub fn get_status(url: &str) -> Result<u16> {
    let (authority, path) = split_url(url)?;
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("Failed to resolve {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .with_context(|| format!("Failed to connect to {authority}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .context("Failed to set socket timeouts")?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("Failed to send a request to {authority}"))?;
    // Read the whole (small, bounded) answer: closing with unread data would reset the
    // connection, which servers log as an error.
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .with_context(|| format!("Failed to read the answer of {authority}"))?;
    parse_status(&answer).with_context(|| format!("{url} did not answer with an HTTP status line"))
}

/// Splits `http://host:port/path` into (`host:port`, `/path`).
fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url} is not an http:// URL"))?;
    Ok(match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    })
}

/// Reads the code from a status line such as `HTTP/1.1 200 OK`.
fn parse_status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&byte| byte == b'\n').next()?;
    let mut parts = std::str::from_utf8(line).ok()?.split_whitespace();
    parts
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8098/health").ok(),
            Some(("127.0.0.1:8098", "/health"))
        );
        assert_eq!(
            split_url("http://localhost:80").ok(),
            Some(("localhost:80", "/"))
        );
        assert!(split_url("https://example.com/").is_err());
    }

    #[test]
    fn status_is_read_from_the_status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
    }
}
