//! RFC 9457 problem details: the one shape every error of every service takes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use slipstream_model::contract::ProblemType;
use slipstream_model::{FieldError, Invalid};
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error as the client sees it. `kind` is the problem type, a short slug such as
/// `id-conflict` that clients (our consumer among them) branch on.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(
    description = "RFC 9457 problem details. `type` is a short slug clients branch on (`validation`, `id-conflict`, `missing-reference`, …); `errors` names every failing field of a 422; a `missing-reference` lists the `missing` ids.",
    examples(json!({"type": "validation", "title": "Unprocessable Entity", "status": 422, "detail": "1 field(s) failed validation", "errors": [{"field": "selections[1].odds", "message": "must be between 1.01 and 10000"}]})))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: ProblemType,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members, e.g. the ids a `missing-reference` is missing.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: Map<String, Value>,
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            extensions: Map::new(),
            retry_after_secs: None,
        }
    }

    /// 422 listing every failing field.
    pub fn validation(invalid: Invalid) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::Validation,
            format!("{} field(s) failed validation", invalid.errors.len()),
        );
        problem.errors = invalid.errors;
        problem
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ProblemType::NotFound, detail)
    }

    /// 503 telling the client when to come back.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Unavailable,
            detail,
        );
        problem.retry_after_secs = Some(retry_after_secs);
        problem
    }

    /// 500 that says nothing internal: the cause belongs in the log, not in the answer.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::Internal,
            "An unexpected error occurred; it has been logged.",
        )
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<Invalid> for Problem {
    fn from(invalid: Invalid) -> Self {
        Self::validation(invalid)
    }
}

/// For unknown routes.
pub async fn route_not_found() -> Problem {
    Problem::not_found("No such route.")
}

/// For a known route asked with a method it does not serve.
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ProblemType::MethodNotAllowed,
        "This route does not serve that method.",
    )
}
