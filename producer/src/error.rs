use axum::response::{IntoResponse, Response};
use slipstream_model::Invalid;
use slipstream_runtime::Problem;

use crate::publisher::{Failed, Receipt};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a producer request can end in other than 202.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// Too many records already wait for Kafka: nothing of this request was written.
    #[error("too many records in flight")]
    Busy,
    /// Kafka did not acknowledge some records in time. Those in `accepted` are durable.
    #[error("Kafka did not acknowledge {} record(s): {reason}", failed.len())]
    NotAcknowledged {
        accepted: Vec<Receipt>,
        failed: Vec<Failed>,
        reason: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::Invalid(invalid) => Problem::validation(invalid),
            Self::Busy => {
                tracing::warn!("Refused a request: too many records in flight.");
                Problem::unavailable("Too many records are waiting for Kafka; retry shortly.", 1)
            }
            Self::NotAcknowledged {
                accepted,
                failed,
                reason,
            } => {
                tracing::warn!(failed = failed.len(), accepted = accepted.len(), %reason, "Kafka did not acknowledge records.");
                Problem::unavailable(
                    "Kafka did not acknowledge the records in time; retry later.",
                    5,
                )
                .with(
                    "accepted",
                    serde_json::to_value(accepted).unwrap_or_default(),
                )
                .with("failed", serde_json::to_value(failed).unwrap_or_default())
            }
            Self::Internal(e) => {
                tracing::error!(error = ?e, "Request failed.");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}
