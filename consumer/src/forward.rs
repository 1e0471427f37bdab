//! The forward stage: one POST of a message (or a batch of them) to the api, and its answer
//! read as the verdict stage needs it: stored, refused, worth a retry, or not the api at all.
//!
//! With several api replicas (`API_URL` a comma-separated list) each forward goes to the
//! next replica in turn, skipping for a while one that could not be reached: a retry of a
//! message goes to another replica, and a dead one costs one failed connection, not one per
//! message. Spread by the consumer rather than by a load balancer in front, so that the
//! local run and compose need no other process, and a replica is left out at the first
//! failure, without waiting for a health check.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde::de::IgnoredAny;
use slipstream_model::contract::{BatchItem, ProblemType};
use slipstream_model::Kind;
use slipstream_runtime::auth::ApiKey;
use slipstream_runtime::retry::retry_after;

use crate::health::{Link, LinkStatus};

/// The api's answer to a forward of one record or a batch, as the verdict stage needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Every record is stored: for each, whether it is new (else it was there already, the
    /// same: a redelivery).
    Stored(Vec<bool>),
    /// The api refused the record (for a batch, one of them, so none was stored) with one of
    /// its verdicts on a record; `kind` is `None` only for a batch answer of the wrong shape.
    Refused {
        status: u16,
        kind: Option<ProblemType>,
        problem: String,
    },
    /// The api or the way to it failed; try again, no sooner than the hint.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Not the api's answer about a record: a refused key, a redirect, a refusal without one
    /// of its verdicts. A misconfiguration, so the message waits for it to be fixed.
    Misconfigured { link: Link, status: u16 },
}

/// How long a replica that could not be reached is left out of the rotation.
const LEFT_OUT_FOR: Duration = Duration::from_secs(2);

/// Forwards messages to the api with one shared HTTP client, which sends this consumer's key
/// on every request.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    replicas: Arc<Replicas>,
    link: LinkStatus,
}

/// The api's replicas, taken in turn.
#[derive(Debug)]
struct Replicas {
    urls: Vec<String>,
    next: AtomicUsize,
    /// Until when each replica is left out, after it could not be reached.
    left_out: Mutex<Vec<Option<Instant>>>,
}

impl Replicas {
    /// `api_urls`: base URLs, comma-separated; `kind`: the path each record goes to.
    fn new(api_urls: &str, kind: Kind) -> anyhow::Result<Self> {
        let urls: Vec<String> = api_urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| format!("{}/{kind}", url.trim_end_matches('/')))
            .collect();
        anyhow::ensure!(!urls.is_empty(), "API_URL names no api");
        Ok(Self {
            left_out: Mutex::new(vec![None; urls.len()]),
            next: AtomicUsize::new(0),
            urls,
        })
    }

    /// The next replica in turn that is not left out; the next in turn when all are.
    fn pick(&self) -> usize {
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let left_out = self.left_out.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        (0..self.urls.len())
            .map(|n| (first + n) % self.urls.len())
            .find(|&i| left_out[i].is_none_or(|until| until <= now))
            .unwrap_or(first % self.urls.len())
    }

    fn leave_out(&self, replica: usize) {
        if self.urls.len() > 1 {
            let mut left_out = self.left_out.lock().unwrap_or_else(PoisonError::into_inner);
            left_out[replica] = Some(Instant::now() + LEFT_OUT_FOR);
        }
    }
}

impl Forwarder {
    pub fn new(
        api_urls: &str,
        kind: Kind,
        timeout: Duration,
        api_key: Option<&ApiKey>,
        extra_ca: Option<&Path>,
        link: LinkStatus,
    ) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .context("API_KEY is not a valid header value")?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let mut client = reqwest::Client::builder();
        if let Some(path) = extra_ca {
            for authority in authorities(path)? {
                client = client.add_root_certificate(authority);
            }
        }
        let client = client
            .default_headers(headers)
            // A redirect is not the api's answer about a record.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .context("Failed to build the HTTP client")?;
        Ok(Self {
            client,
            replicas: Arc::new(Replicas::new(api_urls, kind)?),
            link,
        })
    }

    /// POSTs the record as it came from Kafka, passing the request context on.
    pub async fn forward(&self, payload: &[u8], context: HeaderMap) -> Answer {
        self.post(payload.to_vec(), None, context).await
    }

    /// POSTs `records` records as one JSON array (`body`), which the api stores in one
    /// transaction or not at all.
    pub async fn forward_batch(&self, body: Vec<u8>, records: usize, context: HeaderMap) -> Answer {
        self.post(body, Some(records), context).await
    }

    /// Sends `body` (a batch of `batch` records, or one record) and learns from the answer
    /// whether the way to the api is sound.
    async fn post(&self, body: Vec<u8>, batch: Option<usize>, context: HeaderMap) -> Answer {
        let answer = match self.send(body, context).await {
            Ok(response) => answer(response, batch).await,
            Err(reason) => Answer::Retry {
                reason,
                after: None,
            },
        };
        match &answer {
            Answer::Misconfigured { link, .. } => self.link.set(*link),
            Answer::Retry { .. } => {}
            _ => self.link.set(Link::Sound),
        }
        answer
    }

    /// The api's answer, or why there was none (worth a retry).
    async fn send(&self, body: Vec<u8>, context: HeaderMap) -> Result<reqwest::Response, String> {
        let replica = self.replicas.pick();
        let response = self
            .client
            .post(&self.replicas.urls[replica])
            .headers(context)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    self.replicas.leave_out(replica);
                }
                format!("api unreachable: {e}")
            })?;
        Ok(response)
    }
}

/// Answers worth the same request again later: the api is down, overloaded or timed out.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
        )
}

/// Whether a refusal says the way to the api is wrong rather than the record: a 401 or 403
/// is about the key; a redirect, or a 4xx whose body is not one of the api's verdicts on a
/// record, comes from something else than the api (or from a route it does not serve).
fn misconfiguration(status: StatusCode, body: &str) -> Option<Link> {
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        return Some(Link::KeyRefused);
    }
    let verdict = ProblemType::of_body(body).is_some_and(ProblemType::is_record_verdict);
    (!verdict).then_some(Link::NotTheApi)
}

async fn answer(response: reqwest::Response, batch: Option<usize>) -> Answer {
    let status = response.status();
    if status.is_success() {
        return match batch {
            // 201 created, 200 there already.
            None => Answer::Stored(vec![status != StatusCode::OK]),
            Some(records) => stored_batch(response, records).await,
        };
    }
    if retryable(status) {
        return Answer::Retry {
            reason: format!("api answered {status}"),
            after: retry_after(response.headers()),
        };
    }
    let problem = response.text().await.unwrap_or_default();
    if let Some(link) = misconfiguration(status, &problem) {
        return Answer::Misconfigured {
            link,
            status: status.as_u16(),
        };
    }
    Answer::Refused {
        status: status.as_u16(),
        kind: ProblemType::of_body(&problem),
        problem,
    }
}

/// A batch's answer: each record with its own 201 or 200, in order.
async fn stored_batch(response: reqwest::Response, records: usize) -> Answer {
    let status = response.status().as_u16();
    match response.json::<Vec<BatchItem<IgnoredAny>>>().await {
        Ok(items) if items.len() == records => {
            Answer::Stored(items.iter().map(|item| item.status == 201).collect())
        }
        // Not the answer to this batch: each message goes on its own instead.
        _ => Answer::Refused {
            status,
            kind: None,
            problem: String::new(),
        },
    }
}

/// The certificate authorities of a PEM file, refused at startup when there are none: a
/// wrong path or file would otherwise show only as every forward failing its handshake.
fn authorities(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("Failed to read API_CA_FILE {}", path.display()))?;
    let authorities = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("API_CA_FILE {} is not PEM certificates", path.display()))?;
    anyhow::ensure!(
        !authorities.is_empty(),
        "API_CA_FILE {} holds no certificate",
        path.display()
    );
    Ok(authorities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_taken_in_turn_and_one_unreachable_is_left_out() {
        let replicas = Replicas::new("http://a:1/, http://b:2,http://c:3", Kind::Coupons)
            .expect("three replicas");
        assert_eq!(replicas.urls[1], "http://b:2/coupons");
        let turns: Vec<usize> = (0..4).map(|_| replicas.pick()).collect();
        assert_eq!(turns, [0, 1, 2, 0]);
        replicas.leave_out(2);
        let turns: Vec<usize> = (0..4).map(|_| replicas.pick()).collect();
        assert!(!turns.contains(&2), "{turns:?}");
        assert!(turns.contains(&0) && turns.contains(&1), "{turns:?}");
        assert!(Replicas::new(" , ", Kind::Users).is_err());
    }

    #[test]
    fn a_lone_replica_is_never_left_out() {
        let replicas = Replicas::new("http://a:1", Kind::Events).expect("one replica");
        replicas.leave_out(0);
        assert_eq!(replicas.pick(), 0);
        assert_eq!(replicas.left_out.lock().expect("lock")[0], None);
    }

    #[test]
    fn only_the_apis_verdicts_on_a_record_are_not_misconfigurations() {
        let verdict = r#"{"type":"validation","status":422}"#;
        assert_eq!(
            misconfiguration(StatusCode::UNPROCESSABLE_ENTITY, verdict),
            None
        );
        let conflict = r#"{"type":"id-conflict","status":409}"#;
        assert_eq!(misconfiguration(StatusCode::CONFLICT, conflict), None);
        let unknown_route = r#"{"type":"not-found","status":404}"#;
        for (status, body) in [
            (StatusCode::NOT_FOUND, "<html>Not Found</html>"),
            (StatusCode::NOT_FOUND, unknown_route),
            (StatusCode::TEMPORARY_REDIRECT, ""),
            (StatusCode::UNPROCESSABLE_ENTITY, "{}"),
        ] {
            assert_eq!(
                misconfiguration(status, body),
                Some(Link::NotTheApi),
                "{status}"
            );
        }
        assert_eq!(
            misconfiguration(StatusCode::FORBIDDEN, verdict),
            Some(Link::KeyRefused)
        );
    }
}
