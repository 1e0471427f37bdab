//! One forward of a message to the api, and what its answer means for the message.

use std::time::Duration;

use anyhow::Context;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use slipstream_model::Kind;

/// What to do with a message after the api answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored: the offset may be committed.
    Stored,
    /// Already there with the same content (a redelivery): the offset may be committed.
    Replayed,
    /// The api or the way to it failed; try again, no sooner than the hint.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// A coupon names a user or event the api does not have yet.
    MissingReference { problem: String },
    /// The api refused the record for good: it belongs in the dead-letter topic.
    Rejected { status: u16, problem: String },
}

/// Forwards messages to the api with one shared HTTP client.
#[derive(Debug, Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    url: String,
}

impl Forwarder {
    pub fn new(api_url: &str, kind: Kind, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .context("Failed to build the HTTP client")?;
        Ok(Self {
            client,
            url: format!("{}/{}", api_url.trim_end_matches('/'), kind),
        })
    }

    /// POSTs the record as it came from Kafka, passing the request context on.
    pub async fn forward(&self, payload: &[u8], context: HeaderMap) -> Outcome {
        let response = self
            .client
            .post(&self.url)
            .headers(context)
            .header(CONTENT_TYPE, "application/json")
            .body(payload.to_vec())
            .send()
            .await;
        match response {
            Ok(response) => classify(response).await,
            Err(e) => Outcome::Retry {
                reason: format!("api unreachable: {e}"),
                after: None,
            },
        }
    }
}

async fn classify(response: reqwest::Response) -> Outcome {
    let status = response.status();
    let after = retry_after(response.headers());
    if status == StatusCode::OK {
        return Outcome::Replayed;
    }
    if status.is_success() {
        return Outcome::Stored;
    }
    let problem = response.text().await.unwrap_or_default();
    match status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => Outcome::Retry {
            reason: format!("api answered {status}"),
            after,
        },
        s if s.is_server_error() => Outcome::Retry {
            reason: format!("api answered {status}"),
            after,
        },
        StatusCode::CONFLICT if problem_type(&problem) == Some("missing-reference".into()) => {
            Outcome::MissingReference { problem }
        }
        _ => Outcome::Rejected {
            status: status.as_u16(),
            problem,
        },
    }
}

fn problem_type(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_types_are_read_from_problem_bodies() {
        assert_eq!(
            problem_type(r#"{"type":"missing-reference","status":409}"#).as_deref(),
            Some("missing-reference")
        );
        assert_eq!(problem_type("not json"), None);
    }

    #[test]
    fn retry_after_takes_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().expect("valid header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "soon".parse().expect("valid header"));
        assert_eq!(retry_after(&headers), None);
    }
}
