//! `POST /coupons`, `GET /coupons/{id}`, `GET /coupons/user/{user_id}`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::LINK;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipstream_model::contract::ProblemType;
use slipstream_model::{Coupon, Invalid, Kind};
use slipstream_runtime::auth::{self, Scope};
use slipstream_runtime::{JsonText, Problem};
use utoipa::IntoParams;

use crate::error::{Error, Result};
use crate::openapi;
use crate::startup::AppState;
use crate::store::CouponCursor;
use crate::web::{save_body, IdPath, Stored};

pub fn router() -> Router<AppState> {
    let writes = Router::new().route("/coupons", post(create));
    let reads = Router::new()
        .route("/coupons/{id}", get(read))
        .route("/coupons/user/{user_id}", get(of_user));
    auth::scoped(Scope::Write, writes).merge(auth::scoped(Scope::Read, reads))
}

/// The user and every event must be stored already: otherwise 409 `missing-reference`.
#[utoipa::path(
    post,
    path = "/coupons",
    security(("bearer" = ["write"])),
    tag = "coupons",
    request_body(content = inline(openapi::Coupons), content_type = "application/json", description = "One coupon, or a batch of up to 1,000 stored in one transaction."),
    responses(
        (status = 201, description = "Created; the stored record.", body = Coupon),
        (status = 200, description = "One record: the identical record was already stored; the stored record. A batch: every record is stored; for each, the status a POST of it alone would have had (201 or 200) and the stored record.", body = inline(openapi::CouponsStored)),
        (status = 409, description = "`id-conflict`: a record with this id exists with different content; `missing-reference`: the user or events are not stored (`missing` lists their ids); `ids-exhausted`: no id left to assign. In a batch, `index` names the record, and nothing of the batch is stored.", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database cannot take the write now.", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[tracing::instrument(skip_all)]
async fn create(State(state): State<AppState>, JsonText(body): JsonText) -> Result<Stored<Coupon>> {
    save_body::<Coupon>(&state.writer, &body, true).await
}

#[utoipa::path(
    get,
    path = "/coupons/{id}",
    security(("bearer" = ["read"])),
    tag = "coupons",
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, description = "The stored coupon.", body = Coupon),
        (status = 404, description = "No coupon with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn read(State(state): State<AppState>, IdPath(id): IdPath) -> Result<Json<Coupon>> {
    let coupon = state.store.find(id).await?;
    coupon.map(Json).ok_or(Error::NotFound {
        kind: Kind::Coupons,
        id,
    })
}

/// Coupons a page may hold: 100 unless asked, at most 1,000.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PageParams {
    /// Coupons in the page, 1 to 1,000; 100 when absent.
    #[param(value_type = Option<u16>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Where the page starts: the `cursor` of the `Link: <…>; rel="next"` header of the
    /// page before. Absent for the first page.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/coupons/user/{user_id}",
    security(("bearer" = ["read"])),
    tag = "coupons",
    params(("user_id" = i64, Path, minimum = 1), PageParams),
    responses(
        (status = 200, description = "A page of the user's coupons by timestamp, then id. When more follow, a `Link` header (RFC 8288) gives the next page's URL with `rel=\"next\"`.", body = [Coupon], headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 404, description = "No user with this id.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip(state))]
async fn of_user(
    State(state): State<AppState>,
    IdPath(user_id): IdPath,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Response> {
    let (limit, after) = page_params(params)?;
    let page = state
        .store
        .coupons_of_user(user_id, limit, after)
        .await?
        .ok_or(Error::NotFound {
            kind: Kind::Users,
            id: user_id,
        })?;
    let mut response = Json(page.coupons).into_response();
    if let Some(next) = page.next {
        let link = format!(
            "</coupons/user/{user_id}?limit={limit}&cursor={}>; rel=\"next\"",
            next.encode()
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(LINK, value);
        }
    }
    Ok(response)
}

/// `limit` (1 to 1,000, 100 when absent) and `cursor`, each named when invalid.
fn page_params(
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<(u32, Option<CouponCursor>)> {
    let Query(params) = params.map_err(|rejection| Error::BadRequest {
        kind: ProblemType::InvalidQuery,
        detail: rejection.body_text(),
    })?;
    let mut errors = Vec::new();
    let limit = match params.limit.as_deref().map(str::trim) {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .unwrap_or_else(|| {
                errors.extend(
                    Invalid::at("limit", format!("must be an integer from 1 to {MAX_PAGE}")).errors,
                );
                DEFAULT_PAGE
            }),
    };
    let cursor = params.cursor.as_deref().and_then(|raw| {
        let cursor = CouponCursor::decode(raw);
        if cursor.is_none() {
            errors.extend(Invalid::at("cursor", "is not a cursor this api gave out").errors);
        }
        cursor
    });
    if errors.is_empty() {
        Ok((limit, cursor))
    } else {
        Err(Invalid { errors }.into())
    }
}
