//! The JSON body extractors of every service: our problem+json for every way a body can be bad.

use std::fmt;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use bytes::BytesMut;
use futures::StreamExt;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::http::DEFAULT_BODY_LIMIT;
use slipstream_model::contract::ProblemType;

use crate::problem::Problem;

/// A JSON request body (under the size limit, with a JSON content type) as its text, its
/// syntax checked but nothing built from it: a batch is then parsed a record at a time, so
/// a request never holds a tree of its whole body (several times the body's size).
#[derive(Debug)]
pub struct JsonText(pub String);

impl<S: Send + Sync> FromRequest<S> for JsonText {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req).await?;
        let text = String::from_utf8(Vec::from(bytes)).map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemType::MalformedJson,
                "The body is not valid JSON: it is not UTF-8.",
            )
        })?;
        serde_json::from_str::<Syntax>(&text).map_err(malformed)?;
        Ok(Self(text))
    }
}

/// Reads any JSON value and keeps nothing of it, refusing exactly what a
/// [`Value`](serde_json::Value) refuses: numbers are read (so `1e400` is out of range) and
/// strings decoded (so a lone surrogate is an error), which serde's `IgnoredAny` would skip.
struct Syntax;

impl<'de> Deserialize<'de> for Syntax {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Syntax)
    }
}

impl<'de> Visitor<'de> for Syntax {
    type Value = Syntax;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_str<E>(self, _: &str) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_unit<E>(self) -> Result<Syntax, E> {
        Ok(Syntax)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Syntax, A::Error> {
        while items.next_element::<Syntax>()?.is_some() {}
        Ok(Syntax)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Syntax, A::Error> {
        while entries.next_entry::<Syntax, Syntax>()?.is_some() {}
        Ok(Syntax)
    }
}

/// The body of a request declared JSON, under the size limit.
async fn json_bytes(req: Request) -> Result<BytesMut, Problem> {
    if !has_json_content_type(&req) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::UnsupportedMediaType,
            "Expected a body with `Content-Type: application/json`.",
        ));
    }
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |limit| limit.0);
    read_limited(req.into_body(), limit).await
}

fn malformed(error: serde_json::Error) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        ProblemType::MalformedJson,
        format!("The body is not valid JSON: {error}."),
    )
}

/// The largest request body a service accepts, set by the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Most of an oversized body still read (and dropped) before answering 413: a client that
/// sends its whole body before reading the answer sees the 413 instead of a reset
/// connection. Past this the connection is closed on it.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

async fn read_limited(body: Body, limit: usize) -> Result<BytesMut, Problem> {
    let mut stream = body.into_data_stream();
    let mut bytes = BytesMut::new();
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                ProblemType::MalformedBody,
                "The body could not be read.",
            )
        })?;
        read += chunk.len();
        if read > DRAIN_LIMIT {
            break;
        }
        if read <= limit {
            bytes.extend_from_slice(&chunk);
        }
    }
    if read > limit {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::PayloadTooLarge,
            "The body is over the size limit.",
        ));
    }
    Ok(bytes)
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syntax_check_refuses_exactly_what_a_value_refuses() {
        let bodies = [
            r#"{"a": [1, 2.5, -3, true, null, "x\u00e9"], "b": {"c": {}}}"#,
            r#"[{"stake": 1e400}]"#,
            r#"{"name": "\ud800"}"#,
            r#"{"name": "\ud83d\ude00"}"#,
            r#"{"a": 1,}"#,
            r#"[1, 2"#,
            "18446744073709551616",
            "-1e-400",
            r#"{"a": 1} x"#,
            "",
        ];
        for body in bodies {
            assert_eq!(
                serde_json::from_str::<Syntax>(body).is_ok(),
                serde_json::from_str::<serde_json::Value>(body).is_ok(),
                "{body}"
            );
        }
    }
}
