use std::path::PathBuf;
use std::time::Duration;

use api::Config;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
pub use slipstream_devkit::keys::client_with;
use slipstream_devkit::DevKeys;
use slipstream_runtime::auth::{AuthArgs, Scope};
use slipstream_runtime::http::EdgeArgs;
use slipstream_runtime::telemetry::{self, LogFormat};
use slipstream_testkit::{records, InProcess};
use tempfile::TempDir;

/// A running api with its own database, which outlives restarts of the app, and its own key
/// file with a key per scope. `client` sends the admin key.
///
/// The database is an SQLite file, or with `TEST_DATABASE=postgres` a PostgreSQL database of
/// its own on a server the test binary shares: the same tests hold the api to the same
/// contract on both.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub keys: DevKeys,
    config: Config,
    service: InProcess,
    _dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns an app whose settings `configure` changed from the test defaults.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(slipstream_devkit::tests_on_postgres(), configure).await
    }

    /// Spawns an app on SQLite whatever `TEST_DATABASE` says: for what only SQLite has (its
    /// file, its journal, its migrations).
    pub async fn spawn_on_sqlite_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(false, configure).await
    }

    /// Spawns an app on a PostgreSQL database of its own whatever `TEST_DATABASE` says: for
    /// what only a database several replicas share has.
    pub async fn spawn_on_postgres() -> Self {
        Self::spawn_on_postgres_with(|_| {}).await
    }

    /// [`Self::spawn_on_postgres`] with settings `configure` changed from the test defaults.
    pub async fn spawn_on_postgres_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(true, configure).await
    }

    /// Another app (a replica) on this app's database, its connections named `name`.
    pub async fn replica(&self, name: &str) -> Self {
        self.replica_with(name, |_| {}).await
    }

    /// A replica whose settings `configure` changed from the test defaults.
    pub async fn replica_with(&self, name: &str, configure: impl FnOnce(&mut Config)) -> Self {
        let url = self.config.database_url.clone();
        Self::spawn_on(false, |config| {
            config.database_url = url;
            config.database_application_name = name.to_owned();
            configure(config);
        })
        .await
    }

    async fn spawn_on(postgres: bool, configure: impl FnOnce(&mut Config)) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            telemetry::init(Some(LogFormat::Pretty));
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
        let mut config = test_config(dir.path().join("api.db"), &keys);
        if postgres {
            config.database_url = slipstream_devkit::shared_database();
        }
        configure(&mut config);
        let service = InProcess::api(config.clone()).await;
        Self {
            address: service.url.clone(),
            client: keys.client(Scope::Admin),
            keys,
            config,
            service,
            _dir: dir,
        }
    }

    /// Stops the app gracefully and starts a new one on the same database file.
    pub async fn restart(self) -> Self {
        self.service.stop().await.expect("served");
        let service = InProcess::api(self.config.clone()).await;
        Self {
            address: service.url.clone(),
            service,
            ..self
        }
    }

    /// Stops the app gracefully, then runs a new one on the same database until it stops on
    /// its own, and returns the error it stopped with.
    pub async fn restart_until_it_fails(self) -> anyhow::Error {
        self.service.stop().await.expect("served");
        let service = InProcess::api_without_waiting(self.config.clone()).await;
        let ended = service.ended_within(Duration::from_secs(20)).await;
        ended
            .expect("the app stopped on its own")
            .expect_err("the app stopped on an error")
    }

    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }

    pub fn is_on_postgres(&self) -> bool {
        self.config.database_url.starts_with("postgres")
    }

    /// A connection of the test's own to the app's database, of either kind: statements
    /// written for both (`$1` parameters) run on it.
    pub async fn database(&self) -> sqlx::AnyConnection {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(self.database_url())
            .await
            .expect("connects")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts a record that must be created, and returns its id.
    pub async fn create(&self, path: &str, body: &Value) -> i64 {
        let response = self.post(path, body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "POST {path} {body}");
        let stored: Value = response.json().await.expect("JSON");
        stored["id"].as_i64().expect("an id")
    }
}

fn test_config(database: PathBuf, keys: &DevKeys) -> Config {
    Config {
        host: [127, 0, 0, 1].into(),
        port: 0,
        database_url: format!("sqlite://{}", database.display()),
        sqlite_synchronous: api::config::Synchronous::Full,
        database_read_connections: 4,
        database_busy_timeout_ms: 5_000,
        database_application_name: "slipstream-api".to_owned(),
        body_limit_bytes: 1024 * 1024,
        request_timeout_secs: 30,
        recommendation_refresh_secs: 0,
        count_flush_coupons: 20_000,
        feed_poll_ms: 100,
        feed_retention_secs: 600,
        log_format: None,
        edge: EdgeArgs {
            auth: AuthArgs::keys(&keys.file),
            docs_enabled: true,
            ..EdgeArgs::default()
        },
    }
}

/// Asserts the response is a problem of this status and type, and returns its body.
pub async fn problem(response: Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// The fields a 422 names, sorted.
pub fn failing_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field").to_owned())
        .collect();
    fields.sort();
    fields
}

/// The database's write lock, held by a connection of its own as another process would hold
/// it: the api's writer waits (and requests queue behind it) until it is released. SQLite's
/// is the file's; on PostgreSQL, every table locked against writes, not reads.
pub struct OtherWriter(sqlx::AnyConnection);

impl OtherWriter {
    pub async fn lock(app: &TestApp) -> Self {
        let mut other = app.database().await;
        let statements: &[&str] = if app.is_on_postgres() {
            &[
                "BEGIN",
                "LOCK TABLE users, events, coupons, selections, event_popularity, user_bets,
                 uncounted IN EXCLUSIVE MODE",
            ]
        } else {
            &["BEGIN IMMEDIATE"]
        };
        for statement in statements {
            sqlx::query(statement)
                .execute(&mut other)
                .await
                .expect("locks");
        }
        Self(other)
    }

    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("unlocks");
    }
}

pub fn user() -> Value {
    records::user().into()
}

/// An event at a fixed time, so that answers can be compared whole.
pub fn event() -> Value {
    let begin = "2030-06-15T18:00:00Z".parse().expect("a time");
    records::event_at(begin).into()
}

pub fn coupon(user_id: i64, event_ids: &[i64]) -> Value {
    records::coupon(user_id, event_ids).into()
}

/// `body` with `id` set.
pub fn with_id(mut body: Value, id: i64) -> Value {
    body["id"] = json!(id);
    body
}
