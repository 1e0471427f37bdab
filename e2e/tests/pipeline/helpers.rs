use std::path::Path;
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
    services: Vec<(Spec, Service)>,
    /// Holds the database and the logs until the pipeline is dropped.
    dir: TempDir,
}

/// How to start one service again: fault tests kill and restart them.
#[derive(Clone)]
struct Spec {
    name: String,
    bin: &'static str,
    port: u16,
    env: Vec<(&'static str, String)>,
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
        let kafka = vec![
            ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
            ("TOPIC_PREFIX", prefix),
        ];
        let mut specs = vec![
            Spec {
                name: "api".into(),
                bin: "api",
                port: api_port,
                env: vec![("DATABASE_URL", database)],
            },
            Spec {
                name: "producer".into(),
                bin: "producer",
                port: producer_port,
                env: kafka.clone(),
            },
        ];
        for topic in ["users", "events", "coupons"] {
            let mut env = kafka.clone();
            env.extend([("TOPIC", topic.to_owned()), ("API_URL", api_url.clone())]);
            specs.push(Spec {
                name: format!("consumer-{topic}"),
                bin: "consumer",
                port: free_port(),
                env,
            });
        }
        let services = specs
            .into_iter()
            .map(|spec| {
                let service = spawn(&spec, dir.path());
                (spec, service)
            })
            .collect();
        Pipeline {
            api_url,
            producer_url,
            http: reqwest::Client::new(),
            services,
            dir,
        }
    }

    /// SIGKILLs the service `name` (no chance to flush or commit) and starts it again.
    pub async fn kill_and_restart(&mut self, name: &str) {
        let dir = self.dir.path().to_owned();
        let (spec, service) = self
            .services
            .iter_mut()
            .find(|(spec, _)| spec.name == name)
            .expect("a service of that name");
        service.kill().expect("SIGKILL");
        let spec = spec.clone();
        *service = tokio::task::spawn_blocking(move || spawn(&spec, &dir))
            .await
            .expect("restart");
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
            for (_, service) in &self.services {
                eprintln!("----- {} -----\n{}", service.name(), service.log_tail(40));
            }
        }
        for (_, service) in self.services.iter_mut().rev() {
            let _ = service.stop(Duration::from_secs(10));
        }
    }
}

/// Starts a service and waits until it is ready to take traffic.
fn spawn(spec: &Spec, logs: &Path) -> Service {
    let mut command = Command::new(workspace_bin(spec.bin));
    command
        .env("PORT", spec.port.to_string())
        .env("HOST", "127.0.0.1")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    let service = Service::spawn(&spec.name, command, Logs::Dir(logs.to_owned())).expect("spawn");
    let ready = format!("http://127.0.0.1:{}/ready", spec.port);
    wait_for_http(&ready, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{} not ready: {e:#}", spec.name));
    service
}
