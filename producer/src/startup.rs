use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use slipstream_model::{IdGenerator, Kind};
use slipstream_runtime::auth::Auth;
use slipstream_runtime::http::{self, Edge};
use slipstream_runtime::openapi::docs_routes;
use slipstream_runtime::server::{self, Limits};
use slipstream_runtime::{shutdown, Problem};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::publisher::Publisher;
use crate::{metrics, openapi, records};

#[derive(Clone)]
pub struct AppState {
    pub publisher: Arc<Publisher>,
    pub ids: Arc<IdGenerator>,
}

/// The producer's routes, on whatever state the caller built.
pub fn app(state: AppState, config: &Config, auth: Auth) -> Router {
    let mut routes = Router::new()
        .merge(http::about_routes(
            "slipstream-producer",
            env!("CARGO_PKG_VERSION"),
        ))
        .route("/ready", get(ready))
        .merge(records::router());
    if config.edge.docs_enabled {
        routes = routes.merge(docs_routes(openapi::document()));
    }
    let edge = Edge {
        body_limit: config.body_limit_bytes,
        timeout: config.request_timeout(),
        auth,
    };
    let app = http::edge(routes.with_state(state), edge);
    // After the edge installed the recorder, which keeps only what comes after it.
    metrics::describe();
    app
}

async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Problem> {
    if state.publisher.is_ready().await {
        Ok(Json(json!({"status": "ready"})))
    } else {
        Err(Problem::unavailable("Kafka is not reachable.", 5))
    }
}

/// A producer bound to its port and connected to Kafka, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    publisher: Arc<Publisher>,
    limits: Limits,
}

impl Application {
    /// Creates the topics (waiting up to the startup timeout for Kafka), connects, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let auth = Auth::from_args(&config.edge.auth)?;
        config
            .kafka
            .ensure_topics(
                &Kind::ALL,
                std::time::Duration::from_secs(config.startup_timeout_secs),
            )
            .await?;
        let publisher = Arc::new(Publisher::new(&config)?);
        let node = config.node_id.unwrap_or_else(rand_node);
        let state = AppState {
            publisher: publisher.clone(),
            ids: Arc::new(IdGenerator::new(node)),
        };
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("Failed to bind {address}"))?;
        tracing::info!(address = %listener.local_addr()?, node, "Producer listening.");
        Ok(Self {
            listener,
            router: app(state, &config, auth),
            publisher,
            limits: config.edge.limits,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// Serves until Ctrl-C or SIGTERM (see [`Self::run_until`]).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` resolves, lets running requests finish (each waits for its
    /// acknowledgements), then flushes what Kafka has not taken yet.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        server::serve(self.listener, self.router, self.limits, stop)
            .await
            .context("The HTTP server failed")?;
        self.publisher.flush();
        tracing::info!("Producer stopped.");
        Ok(())
    }
}

fn rand_node() -> u16 {
    (uuid::Uuid::new_v4().as_u128() % u128::from(IdGenerator::MAX_NODE + 1)) as u16
}
