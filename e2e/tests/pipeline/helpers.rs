use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use slipstream_devkit::{free_port, shared_broker, wait_for_http, workspace_bin, Logs, Service};
use tempfile::TempDir;

/// A running pipeline on its own topics and database; stopped when dropped, its logs
/// printed when the test failed.
pub struct Pipeline {
    pub api_url: String,
    pub producer_url: String,
    pub http: reqwest::Client,
    services: Vec<Service>,
    /// Holds the database and the logs until the pipeline is dropped.
    _dir: TempDir,
}

impl Pipeline {
    pub async fn start() -> Pipeline {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .expect("pipeline start")
    }

    fn start_blocking() -> Pipeline {
        let bootstrap = shared_broker().to_owned();
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("e2e-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let (api_port, producer_port) = (free_port(), free_port());
        let api_url = format!("http://127.0.0.1:{api_port}");
        let producer_url = format!("http://127.0.0.1:{producer_port}");
        let database = format!("sqlite://{}", dir.path().join("api.db").display());
        let kafka = [
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
            ("TOPIC_PREFIX", prefix.as_str()),
        ];

        let mut services = Vec::new();
        let mut start = |name: &str, bin: &str, port: u16, env: &[(&str, &str)]| {
            let mut command = Command::new(workspace_bin(bin));
            command
                .env("PORT", port.to_string())
                .env("HOST", "127.0.0.1")
                .env("LOG_FORMAT", "json");
            command.env("RUST_LOG", "info");
            command.envs(env.iter().copied());
            let service =
                Service::spawn(name, command, Logs::Dir(dir.path().to_owned())).expect("spawn");
            services.push(service);
            let health = format!("http://127.0.0.1:{port}/health");
            wait_for_http(&health, Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("{name} not healthy: {e:#}"));
        };
        start("api", "api", api_port, &[("DATABASE_URL", &database)]);
        start("producer", "producer", producer_port, &kafka);
        for topic in ["users", "events", "coupons"] {
            let mut env = kafka.to_vec();
            env.extend([("TOPIC", topic), ("API_URL", api_url.as_str())]);
            start(&format!("consumer-{topic}"), "consumer", free_port(), &env);
        }
        Pipeline {
            api_url,
            producer_url,
            http: reqwest::Client::new(),
            services,
            _dir: dir,
        }
    }

    /// POSTs `body` to the producer and returns the status and the JSON answer.
    pub async fn produce(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.producer_url))
            .json(body)
            .send()
            .await
            .expect("producer reachable");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs `path` from the api: `None` on 404.
    pub async fn get(&self, path: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .send()
            .await
            .expect("api reachable");
        match response.status().as_u16() {
            200 => Some(response.json().await.expect("JSON")),
            404 => None,
            other => panic!("GET {path} answered {other}"),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for service in &self.services {
                eprintln!("----- {} -----\n{}", service.name(), service.log_tail(40));
            }
        }
        for service in self.services.iter_mut().rev() {
            let _ = service.stop(Duration::from_secs(10));
        }
    }
}
