//! `POST /users`, `/events`, `/coupons`: one record or a batch, validated whole, then written.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use slipstream_model::{parse_client_batch_text, Batch, Coupon, Event, Record, User};
use slipstream_runtime::auth::{self, Scope};
use slipstream_runtime::http::{REQUEST_ID, TRACEPARENT};
use slipstream_runtime::{JsonText, Problem};

use crate::error::Result;
use crate::openapi::{self, Receipts};
use crate::publisher::{Outgoing, Trace};
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/users", post(users))
        .route("/events", post(events))
        .route("/coupons", post(coupons));
    auth::scoped(Scope::Ingest, routes)
}

/// The handlers of the three kinds, one each for the OpenAPI document; they differ only in it.
macro_rules! publish_route {
    ($name:ident, $record:ty, $body:ty, $path:literal) => {
        #[utoipa::path(
            post,
            path = $path,
            security(("bearer" = ["ingest"])),
            tag = "records",
            request_body(content = inline($body), content_type = "application/json"),
            responses(
                (status = 202, description = "Kafka acknowledged every record: a receipt, or one per record of a batch.", body = inline(Receipts)),
                (status = 503, description = "Kafka could not take the records in time, or too many are in flight. `accepted` lists what was written; `failed` lists each record that was not as its `index` in the request and the `id` it was given: resend those with these ids, so a record that did reach Kafka is stored once.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64))),
            )
        )]
        async fn $name(
            state: State<AppState>,
            headers: HeaderMap,
            body: JsonText,
        ) -> Result<impl IntoResponse> {
            publish::<$record>(state, headers, body).await
        }
    };
}

publish_route!(users, User, openapi::Users, "/users");
publish_route!(events, Event, openapi::Events, "/events");
publish_route!(coupons, Coupon, openapi::Coupons, "/coupons");

/// Assigns missing ids before writing, so a redelivery to the api is recognised as the same
/// record. Absent dates stay absent: the api fills them when it first stores the record, so a
/// client posting the same record twice (with its id) is never a conflict.
#[tracing::instrument(skip_all, fields(kind = %R::KIND))]
async fn publish<R: Record>(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonText(body): JsonText,
) -> Result<impl IntoResponse> {
    let now = Utc::now();
    let batch = parse_client_batch_text::<R>(&body, now)?;
    let single = matches!(batch, Batch::One(_));
    let outgoing = batch
        .into_vec()
        .into_iter()
        .map(|mut record| {
            if record.id().is_none() {
                record.set_id(state.ids.next_id());
            }
            outgoing(&record)
        })
        .collect::<Result<Vec<_>>>()?;
    let receipts = state
        .publisher
        .publish(R::KIND, outgoing, &trace(&headers))
        .await?;
    tracing::info!(records = receipts.len(), "Records accepted.");
    let body = match (single, receipts.as_slice()) {
        (true, [receipt]) => serde_json::to_value(receipt),
        _ => serde_json::to_value(&receipts),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(body.map_err(anyhow::Error::from)?),
    ))
}

fn outgoing<R: Record>(record: &R) -> Result<Outgoing> {
    let id = record.id().unwrap_or_default();
    Ok(Outgoing {
        id,
        key: record.partition_key().unwrap_or(id).to_string(),
        payload: serde_json::to_vec(record).map_err(anyhow::Error::from)?,
    })
}

fn trace(headers: &HeaderMap) -> Trace {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Trace {
        request_id: text(REQUEST_ID).unwrap_or_default(),
        traceparent: text(TRACEPARENT),
    }
}
