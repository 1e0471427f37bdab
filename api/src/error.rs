//! The api's one error type, and how each error is answered.

use std::error::Error as StdError;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slipstream_model::contract::ProblemType;
use slipstream_model::{Id, Invalid, Kind};
use slipstream_runtime::Problem;
use sqlx::postgres::PgDatabaseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seconds a client is told to wait before retrying a write the database could not take.
const RETRY_AFTER_SECS: u64 = 1;

// SQLite primary result codes; an extended code carries one in its low byte.
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request body is invalid")]
    Invalid(#[from] Invalid),

    /// A malformed part of the request other than the body: `invalid-path`, `invalid-query`.
    #[error("{detail}")]
    BadRequest { kind: ProblemType, detail: String },

    #[error("no {} with id {id}", singular(*kind))]
    NotFound { kind: Kind, id: Id },

    #[error("a {} with id {id} exists with different content", singular(*kind))]
    IdConflict { kind: Kind, id: Id },

    /// Clients took the top of the api's id range, so it cannot assign one: they can still
    /// send their own.
    #[error("the api has no {} id left to assign; send the record with an id", singular(*kind))]
    IdsExhausted { kind: Kind },

    #[error("the coupon names records the api does not have")]
    MissingReference(Missing),

    /// A record of a batch was refused, so none of the batch was stored.
    #[error("record [{index}] of the batch: {error}")]
    InBatch { index: usize, error: Box<Error> },

    /// Shared, as one failed commit is the answer of every request of its group.
    #[error("the database cannot take the request now")]
    Unavailable(#[source] Arc<sqlx::Error>),

    /// The recommendations are still being built from the database after a start.
    #[error("the recommendations are still being built")]
    Warming,

    /// `POST /recommendation/generate` runs one at a time.
    #[error("a regeneration is already running; try again when it is done")]
    GenerateRunning,

    #[error("a database operation failed")]
    Database(#[source] Arc<sqlx::Error>),

    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The ids a coupon names that are not stored, each list sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub users: Vec<Id>,
    pub events: Vec<Id>,
}

impl Missing {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.events.is_empty()
    }
}

impl From<sqlx::Error> for Error {
    /// A busy database or an exhausted pool is worth retrying; anything else is our fault.
    fn from(error: sqlx::Error) -> Self {
        if is_busy(&error) {
            Self::Unavailable(Arc::new(error))
        } else {
            Self::Database(Arc::new(error))
        }
    }
}

fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        // A connection lost on the way (PostgreSQL restarting, a dropped link) is retried
        // with a new one.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(e) => match e.try_downcast_ref::<PgDatabaseError>() {
            Some(e) => is_transient_postgres(e.code()),
            None => e
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        },
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs that a retry may get past: a lost connection (class 08), a
/// transaction rolled back for a conflict or deadlock (40), the server out of connections
/// or memory (53) or shutting down (57), a lock not granted within `lock_timeout`, and a
/// key another replica stored while this one looked (the retry finds the record).
fn is_transient_postgres(code: &str) -> bool {
    ["08", "40", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
        || ["55P03", "23505"].contains(&code)
}

impl Error {
    /// Names the record of a batch this error is about; errors that are not about one record
    /// (a busy database) stay as they are.
    pub fn in_batch(self, index: usize) -> Self {
        match self {
            Self::IdConflict { .. } | Self::IdsExhausted { .. } | Self::MissingReference(_) => {
                Self::InBatch {
                    index,
                    error: Box::new(self),
                }
            }
            other => other,
        }
    }

    /// The same failure again, for the next request of a group a failed commit answers.
    pub fn again(&self) -> Self {
        match self {
            Self::Unavailable(e) => Self::Unavailable(e.clone()),
            Self::Database(e) => Self::Database(e.clone()),
            other => Self::Internal(anyhow::anyhow!("{}", cause_chain(other))),
        }
    }

    /// The error of a lone record, which needs no index.
    pub fn outside_batch(self) -> Self {
        match self {
            Self::InBatch { error, .. } => *error,
            other => other,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InBatch { error, .. } => error.status(),
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::IdConflict { .. }
            | Self::IdsExhausted { .. }
            | Self::MissingReference(_)
            | Self::GenerateRunning => StatusCode::CONFLICT,
            Self::Unavailable(_) | Self::Warming => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn into_problem(self) -> Problem {
        let status = self.status();
        let detail = sentence(&self);
        match self {
            Self::InBatch { index, error } => {
                let mut problem = error.into_problem();
                problem.detail = format!(
                    "Record [{index}] of the batch: {} Nothing of the batch was stored.",
                    problem.detail
                );
                problem.with("index", serde_json::json!(index))
            }
            Self::Invalid(invalid) => Problem::validation(invalid),
            Self::BadRequest { kind, .. } => Problem::new(status, kind, detail),
            Self::NotFound { .. } => Problem::not_found(detail),
            Self::IdConflict { .. } => Problem::new(status, ProblemType::IdConflict, detail),
            Self::IdsExhausted { .. } => Problem::new(status, ProblemType::IdsExhausted, detail),
            Self::GenerateRunning => Problem::new(status, ProblemType::GenerateRunning, detail),
            Self::MissingReference(missing) => {
                Problem::new(status, ProblemType::MissingReference, detail)
                    .with("missing", json(&missing))
            }
            Self::Unavailable(_) | Self::Warming => Problem::unavailable(detail, RETRY_AFTER_SECS),
            Self::Database(_) | Self::Internal(_) => Problem::internal(),
        }
    }
}

impl IntoResponse for Error {
    /// Server-side failures are logged here, once, with their whole cause chain; the client
    /// learns only that something failed.
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable(_) => {
                tracing::warn!(error = %cause_chain(&self), "The database could not take a request.");
            }
            Self::Database(_) | Self::Internal(_) => {
                tracing::error!(error = %cause_chain(&self), "A request failed.");
            }
            _ => {}
        }
        self.into_problem().into_response()
    }
}

/// `error: cause: root cause`, as one line for the log.
pub fn cause_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The error's message as a sentence for a problem's `detail`.
fn sentence(error: &Error) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => text,
    }
}

fn singular(kind: Kind) -> &'static str {
    match kind {
        Kind::Users => "user",
        Kind::Events => "event",
        Kind::Coupons => "coupon",
    }
}

fn json(missing: &Missing) -> serde_json::Value {
    serde_json::json!({"users": missing.users, "events": missing.events})
}

#[cfg(test)]
mod tests {
    use axum::http::header::RETRY_AFTER;

    use super::*;

    #[test]
    fn postgres_errors_a_retry_may_get_past_are_told_from_the_others() {
        for transient in [
            "08006", "40001", "40P01", "53300", "57P01", "55P03", "23505",
        ] {
            assert!(is_transient_postgres(transient), "{transient}");
        }
        for lasting in ["23503", "42501", "42P01", "22003"] {
            assert!(!is_transient_postgres(lasting), "{lasting}");
        }
    }

    #[test]
    fn an_exhausted_pool_is_503_with_retry_after() {
        let response = Error::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }

    #[test]
    fn other_database_failures_are_500_and_say_nothing_internal() {
        let error = Error::from(sqlx::Error::Protocol("secret detail".into()));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let problem = error.into_problem();
        assert_eq!(problem.kind, ProblemType::Internal);
        assert!(!problem.detail.contains("secret"));
    }

    #[test]
    fn details_are_sentences_naming_the_record() {
        let problem = Error::IdConflict {
            kind: Kind::Users,
            id: 7,
        }
        .into_problem();
        assert_eq!(
            problem.detail,
            "A user with id 7 exists with different content."
        );
        assert_eq!(problem.kind, ProblemType::IdConflict);
    }

    #[test]
    fn a_missing_reference_lists_the_missing_ids() {
        let missing = Missing {
            users: vec![3],
            events: vec![1, 2],
        };
        let problem = Error::MissingReference(missing).into_problem();
        assert_eq!(
            problem.extensions["missing"],
            serde_json::json!({"users": [3], "events": [1, 2]})
        );
    }

    #[test]
    fn a_refused_record_of_a_batch_is_named_by_index() {
        let error = Error::IdConflict {
            kind: Kind::Users,
            id: 7,
        }
        .in_batch(2);
        assert_eq!(error.status(), StatusCode::CONFLICT);
        let problem = error.into_problem();
        assert_eq!(problem.kind, ProblemType::IdConflict);
        assert_eq!(problem.extensions["index"], serde_json::json!(2));
        assert!(problem
            .detail
            .starts_with("Record [2] of the batch: A user with id 7"));
        let busy = Error::from(sqlx::Error::PoolTimedOut).in_batch(2);
        assert!(matches!(busy.outside_batch(), Error::Unavailable(_)));
    }

    #[test]
    fn the_cause_chain_names_every_cause() {
        let error = Error::Internal(anyhow::anyhow!("root").context("outer"));
        assert_eq!(cause_chain(&error), "outer: root");
    }
}
