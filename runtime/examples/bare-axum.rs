//! The reference the read benchmarks compare against: one axum handler answering what
//! `/health` answers, served by `axum::serve` with no layer at all, at `/health` and at
//! `/recommendation/{user_id}` (so the load generator's script costs it what it costs ours). What our edge and our
//! handlers cost is the distance from this, measured in the same run on the same machine.
//!
//!   cargo run --release -p slipstream-runtime --example bare-axum -- 127.0.0.1:8099

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    let fixed = || async { Json(json!({"status": "ok"})) };
    let app = Router::new()
        .route("/health", get(fixed))
        .route("/recommendation/{user_id}", get(fixed));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
