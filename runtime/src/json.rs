//! The JSON body extractor of every service: our problem+json for every way a body can be bad.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use bytes::BytesMut;
use futures::StreamExt;
use serde_json::Value;

use crate::http::DEFAULT_BODY_LIMIT;
use crate::problem::Problem;

/// A request body that is JSON, under the size limit, with a JSON content type.
///
/// It stops at syntax; the record types parse the shape, so that every failing field can be
/// named at once instead of serde's first.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Expected a body with `Content-Type: application/json`.",
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |limit| limit.0);
        let bytes = read_limited(req.into_body(), limit).await?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                format!("The body is not valid JSON: {e}."),
            )
        })
    }
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
                "malformed-body",
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
            "payload-too-large",
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
