//! Builds the app and runs it: shared by `main` and the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use axum::Router;
use slipstream_runtime::auth::Auth;
use slipstream_runtime::fatal::Supervisor;
use slipstream_runtime::http::{self, Edge};
use slipstream_runtime::openapi::docs_routes;
use slipstream_runtime::server::{self, Limits};
use slipstream_runtime::shutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::cause_chain;
use crate::metrics::{self, Trigger};
use crate::recommendations::{self, Recommender};
use crate::store::Store;
use crate::writer::Writer;
use crate::{coupons, events, health, openapi, users};

/// What every handler can reach, behind one `Arc`: the router clones the state for every
/// request, and one reference count is cheaper to bump than one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    /// For reads; every write goes through `writer`.
    pub store: Store,
    pub writer: Writer,
    pub recommender: Arc<Recommender>,
    /// Held by the one `POST /recommendation/generate` running.
    pub generating: tokio::sync::Mutex<()>,
}

impl AppState {
    pub fn new(store: Store, writer: Writer, recommender: Arc<Recommender>) -> Self {
        Self(Arc::new(Shared {
            store,
            writer,
            recommender,
            generating: tokio::sync::Mutex::new(()),
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every route, without the edge layers; each resource's router states its scope.
pub fn routes(state: AppState, docs: bool) -> Router {
    let routes = Router::new()
        .merge(health::router())
        .merge(users::router())
        .merge(events::router())
        .merge(coupons::router())
        .merge(recommendations::router());
    let routes = if docs {
        routes.merge(docs_routes(openapi::document()))
    } else {
        routes
    };
    routes.with_state(state)
}

/// The whole app as it is served: routes wrapped in the shared HTTP edge.
pub fn app(state: AppState, config: &Config, auth: Auth) -> Router {
    let edge = Edge {
        body_limit: config.body_limit_bytes,
        timeout: config.request_timeout(),
        auth,
    };
    let app = http::edge(routes(state, config.edge.docs_enabled), edge);
    // After the edge installed the recorder, which keeps only what comes after it.
    metrics::describe();
    app
}

/// The api, bound to its port and connected to its database, ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    writer: Writer,
    recommender: Arc<Recommender>,
    /// The writer's task, until the background supervisor watches it.
    writer_task: Option<JoinHandle<()>>,
    refresh: Option<Duration>,
    limits: Limits,
}

impl Application {
    /// Reads the keys, opens the database, applies migrations and binds the port (0 picks a
    /// free one).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let auth = Auth::from_args(&config.edge.auth)?;
        let store = Store::connect(&config).await?;
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("Failed to bind {address}"))?;
        let recommender = Arc::new(Recommender::default());
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            recommender.clone(),
            config.count_flush_coupons as usize,
            config.feed(),
        );
        let state = AppState::new(store.clone(), writer.clone(), recommender.clone());
        Ok(Self {
            listener,
            router: app(state, &config, auth),
            store,
            writer,
            recommender,
            writer_task: Some(writer_task),
            refresh: config.recommendation_refresh(),
            limits: config.edge.limits,
        })
    }

    /// The background work the api cannot do without: the writer, the recommendations'
    /// startup build (the api serves and stores meanwhile; `/ready` waits for it), then the
    /// periodic pass, and the staleness report. A failure of any of them stops the api.
    fn start_background(&mut self) -> Supervisor {
        let mut background = Supervisor::default();
        if let Some(writer) = self.writer_task.take() {
            background.spawn("the writer", async move {
                writer.await.context("the writer task ended")?;
                bail!("the writer task ended")
            });
        }
        let (writer, refresh) = (self.writer.clone(), self.refresh);
        background.spawn("the recommendations' startup build", async move {
            writer.rebuild(Trigger::Startup).await?;
            if let Some(every) = refresh {
                recommendations::run_periodic_pass(writer, every).await;
            }
            Ok(())
        });
        let recommender = self.recommender.clone();
        background.spawn("the staleness report", async move {
            recommendations::report_staleness(recommender).await;
            Ok(())
        });
        background
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves until `stop` resolves or background work fails, then finishes in-flight
    /// requests and closes the database. A failure of the background work is the answer.
    pub async fn run_until(
        mut self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self
            .listener
            .local_addr()
            .context("Failed to read the bound address")?;
        let mut background = self.start_background();
        tracing::info!(%address, "Serving.");
        let (fail, failed) = oneshot::channel::<()>();
        let stop = async move {
            tokio::select! {
                () = stop => {}
                _ = failed => {}
            }
        };
        let serving = server::serve(self.listener, self.router, self.limits, stop);
        tokio::pin!(serving);
        let (served, failure) = tokio::select! {
            served = &mut serving => (served, None),
            failure = background.failure() => {
                let _ = fail.send(());
                (serving.await, Some(failure))
            }
        };
        drop(background);
        // A restart then has nothing to recount.
        if let Err(error) = self.writer.write_counts().await {
            tracing::error!(error = %cause_chain(&error), "Failed to write the counts.");
        }
        self.store.close().await;
        tracing::info!("Stopped.");
        match failure {
            Some(failure) => Err(failure),
            None => served.context("Failed to serve"),
        }
    }
}
