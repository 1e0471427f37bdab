//! What the resource routes share: the id in a path, and the answer to a POST of one record
//! or a batch.

use anyhow::anyhow;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use slipstream_model::contract::{BatchItem, ProblemType};
use slipstream_model::{parse_batch_text, Batch, Id};

use crate::error::{Error, Result};
use crate::store::Saved;
use crate::writer::{Write, Writer};

/// The one id in a route's path, a positive integer; anything else is a 400 problem.
#[derive(Debug, Clone, Copy)]
pub struct IdPath(pub Id);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| invalid_path(rejection.body_text()))?;
        parse_id(&raw)
            .map(Self)
            .ok_or_else(|| invalid_path(format!("`{raw}` is not an id: ids are positive integers")))
    }
}

fn parse_id(raw: &str) -> Option<Id> {
    let digits = raw.bytes().all(|b| b.is_ascii_digit());
    raw.parse().ok().filter(|&id| digits && id > 0)
}

fn invalid_path(detail: String) -> Error {
    Error::BadRequest {
        kind: ProblemType::InvalidPath,
        detail,
    }
}

/// What a POST stored: one record, or each record of a batch.
#[derive(Debug)]
pub enum Stored<R> {
    One(Saved<R>),
    Many(Vec<Saved<R>>),
}

/// Validates a body of one record or a batch (every failing field named, by index in a
/// batch) and has the writer store it; `listed` is an event upload's `gen_recommendations`.
pub async fn save_body<R: Write>(writer: &Writer, body: &str, listed: bool) -> Result<Stored<R>> {
    match parse_batch_text::<R>(body, Utc::now())? {
        Batch::One(record) => {
            let saved = writer.save(vec![record], listed).await;
            let one = saved.map_err(Error::outside_batch)?.into_iter().next();
            one.map(Stored::One)
                .ok_or_else(|| anyhow!("A write of one record saved none").into())
        }
        Batch::Many(records) => writer.save(records, listed).await.map(Stored::Many),
    }
}

impl<R: Serialize> IntoResponse for Stored<R> {
    /// A batch is answered 200 as a whole, each record with its own 201 or 200.
    fn into_response(self) -> Response {
        match self {
            Self::One(saved) => saved.into_response(),
            Self::Many(all) => {
                let items: Vec<BatchItem<R>> = all
                    .into_iter()
                    .map(|saved| match saved {
                        Saved::Created(record) => BatchItem {
                            status: StatusCode::CREATED.as_u16(),
                            record,
                        },
                        Saved::Replayed(record) => BatchItem {
                            status: StatusCode::OK.as_u16(),
                            record,
                        },
                    })
                    .collect();
                (StatusCode::OK, Json(items)).into_response()
            }
        }
    }
}

impl<R: Serialize> IntoResponse for Saved<R> {
    /// 201 with the record on creation, 200 with the stored record on a replay.
    fn into_response(self) -> Response {
        match self {
            Self::Created(record) => (StatusCode::CREATED, Json(record)).into_response(),
            Self::Replayed(record) => (StatusCode::OK, Json(record)).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_paths_are_positive_decimal_integers() {
        assert_eq!(parse_id("42"), Some(42));
        assert_eq!(parse_id("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "0",
            "-1",
            "+1",
            "abc",
            "",
            "1.5",
            "9223372036854775808",
            " 1",
        ] {
            assert_eq!(parse_id(bad), None, "{bad} accepted");
        }
    }
}
