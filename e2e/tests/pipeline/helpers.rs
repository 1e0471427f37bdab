use std::time::Duration;

use serde_json::Value;
use slipstream_devkit::pipeline::{ServiceSpec, Wiring};
use slipstream_devkit::{free_port, shared_broker, DevKeys, KafkaBroker, Service};
use slipstream_model::contract;
use slipstream_runtime::auth::Scope;
use slipstream_testkit::start_process;
use tempfile::TempDir;

/// A running pipeline on its own topics and database (SQLite, or PostgreSQL with
/// `TEST_DATABASE=postgres`); stopped when dropped, its logs printed when the test failed.
pub struct Pipeline {
    pub api_url: String,
    pub producer_url: String,
    /// Sends the admin key, which holds every scope.
    pub http: reqwest::Client,
    /// The key file every service reads, with a key per scope; the consumers send the
    /// write key.
    pub keys: DevKeys,
    /// Bootstrap servers of the broker the services use, for tests that talk Kafka directly.
    pub bootstrap: String,
    prefix: String,
    /// Each service with how to start it again: fault tests kill and restart them.
    services: Vec<(ServiceSpec, Service)>,
    /// Holds the database and the logs until the pipeline is dropped.
    dir: TempDir,
    /// A broker of this pipeline's own, for tests that stop it; dropped after the services.
    broker: Option<KafkaBroker>,
}

/// Settings for [`Pipeline::start_with`]; [`Pipeline::start`] takes the defaults.
#[derive(Default)]
pub struct Options {
    own_broker: bool,
    two_apis_on_postgres: bool,
    env: Vec<(String, &'static str, String)>,
}

impl Options {
    /// Runs the pipeline on a broker of its own instead of the one its test binary shares,
    /// so that the test may stop it without disturbing the others.
    pub fn own_broker(mut self) -> Self {
        self.own_broker = true;
        self
    }

    /// Runs two api replicas, `api` and `api-2`, on a PostgreSQL database of the pipeline's
    /// own (on the server the test binary shares); the consumers forward to both.
    pub fn two_apis_on_postgres(mut self) -> Self {
        self.two_apis_on_postgres = true;
        self
    }

    /// Sets an environment variable of the service `service` (`api`, `producer`,
    /// `consumer-coupons`, ...), over the pipeline's own settings.
    pub fn env(mut self, service: &str, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((service.to_owned(), key, value.into()));
        self
    }
}

impl Pipeline {
    pub async fn start() -> Pipeline {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Pipeline {
        tokio::task::spawn_blocking(move || Self::start_blocking(options))
            .await
            .expect("pipeline start")
    }

    fn start_blocking(options: Options) -> Pipeline {
        let broker = options
            .own_broker
            .then(|| KafkaBroker::start().expect("a broker of the pipeline's own"));
        let bootstrap = match &broker {
            Some(broker) => broker.bootstrap_servers(),
            None => shared_broker().to_owned(),
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("e2e-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let database = match options.two_apis_on_postgres {
            true => slipstream_devkit::shared_database(),
            false => slipstream_devkit::test_database(dir.path()),
        };
        let keys = DevKeys::create(&dir.path().join("keys"), 1_000_000).expect("keys");
        let apis = if options.two_apis_on_postgres { 2 } else { 1 };
        let mut specs = Wiring {
            kafka: bootstrap.clone(),
            topic_prefix: prefix.clone(),
            database_url: database,
            keys: &keys,
            api_ports: (0..apis).map(|_| free_port()).collect(),
            producer_port: free_port(),
            consumer_ports: [(); 3].map(|()| free_port()),
        }
        .services();
        let url_of = |name: &str| specs.iter().find(|s| s.name == name).map(ServiceSpec::url);
        let api_url = url_of(contract::Service::API.name).expect("an api");
        let producer_url = url_of(contract::Service::PRODUCER.name).expect("a producer");
        for (service, key, value) in options.env {
            let spec = specs
                .iter_mut()
                .find(|spec| spec.name == service)
                .unwrap_or_else(|| panic!("no service named {service}"));
            spec.env.push((key, value));
        }
        let services = specs
            .into_iter()
            .map(|spec| {
                let service = start_process(&spec, dir.path());
                (spec, service)
            })
            .collect();
        Pipeline {
            api_url,
            producer_url,
            http: keys.client(Scope::Admin),
            keys,
            bootstrap,
            prefix,
            services,
            dir,
            broker,
        }
    }

    /// The name of `topic` (`users`, `coupons.dlq`, ...) in this pipeline's Kafka.
    pub fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.prefix)
    }

    /// SIGKILLs the service `name` (no chance to flush or commit) and starts it again.
    pub async fn kill_and_restart(&mut self, name: &str) {
        self.kill(name);
        self.restart(name).await;
    }

    /// SIGKILLs the service `name` and leaves it dead, as a crashed machine would.
    pub fn kill(&mut self, name: &str) {
        self.service(name).1.kill().expect("SIGKILL");
    }

    /// Starts the service `name`, killed before, again and waits until it is ready.
    pub async fn restart(&mut self, name: &str) {
        let dir = self.dir.path().to_owned();
        let (spec, service) = self.service(name);
        let spec = spec.clone();
        *service = tokio::task::spawn_blocking(move || start_process(&spec, &dir))
            .await
            .expect("restart");
    }

    /// Freezes the service `name` (SIGSTOP): whoever calls it waits for an answer.
    pub fn suspend(&mut self, name: &str) {
        self.service(name).1.suspend().expect("SIGSTOP");
    }

    /// Lets the service `name` frozen by [`Self::suspend`] run again.
    pub fn resume(&mut self, name: &str) {
        self.service(name).1.resume().expect("SIGCONT");
    }

    /// Starts another replica of the service `name` (a consumer joins the same group) and
    /// returns its name, once it is ready.
    pub async fn add_replica(&mut self, name: &str) -> String {
        let mut spec = self.service(name).0.clone();
        spec.name = format!("{name}-{}", self.services.len());
        spec.port = free_port();
        let dir = self.dir.path().to_owned();
        let replica = spec.clone();
        let service = tokio::task::spawn_blocking(move || start_process(&replica, &dir))
            .await
            .expect("replica start");
        self.services.push((spec.clone(), service));
        spec.name
    }

    /// The pipeline's own broker (see [`Options::own_broker`]).
    pub fn broker(&mut self) -> &mut KafkaBroker {
        self.broker
            .as_mut()
            .expect("the pipeline was started with a broker of its own")
    }

    /// Whether a line of the service's log holds every one of `parts`: how a test learns
    /// that a service went through a state nothing else shows.
    pub fn logged(&self, name: &str, parts: &[&str]) -> bool {
        self.log(name)
            .lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    }

    /// The base URL of every service, by name (`api`, `producer`, `consumer-users`, ...).
    pub fn urls(&self) -> Vec<(String, String)> {
        self.services
            .iter()
            .map(|(spec, _)| (spec.name.clone(), spec.url()))
            .collect()
    }

    /// Everything the service `name` logged so far.
    pub fn log(&self, name: &str) -> String {
        let (_, service) = self
            .services
            .iter()
            .find(|(spec, _)| spec.name == name)
            .unwrap_or_else(|| panic!("no service named {name}"));
        service
            .log_path()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    fn service(&mut self, name: &str) -> &mut (ServiceSpec, Service) {
        self.services
            .iter_mut()
            .find(|(spec, _)| spec.name == name)
            .unwrap_or_else(|| panic!("no service named {name}"))
    }

    /// POSTs user `id` to the producer with this request context, expects a 202, and returns
    /// the request id the producer answered with.
    pub async fn produce_user_with_context(
        &self,
        id: i64,
        request_id: &str,
        traceparent: &str,
    ) -> String {
        let user = serde_json::json!({"id": id, "birth_year": 1985, "country": "GR", "currency": "EUR", "gender": "F"});
        let response = self
            .http
            .post(format!("{}/users", self.producer_url))
            .header("x-request-id", request_id)
            .header("traceparent", traceparent)
            .json(&user)
            .send()
            .await
            .expect("producer reachable");
        assert_eq!(response.status(), 202);
        let answered = response.headers()["x-request-id"].to_str().expect("text");
        answered.to_owned()
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

    /// Every item of a paged list of the api (`/coupons/user/{id}`), following each page's
    /// `Link: <…>; rel="next"` to the end; empty on 404.
    pub async fn get_all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next.take() {
            let Some(response) = self.get_response(&path).await else {
                break;
            };
            next = response
                .headers()
                .get("link")
                .and_then(|link| link.to_str().ok())
                .and_then(|link| link.strip_prefix('<')?.split_once(">; rel=\"next\""))
                .map(|(target, _)| target.to_owned());
            let page: Vec<Value> = response.json().await.expect("a JSON array");
            items.extend(page);
        }
        items
    }

    /// GETs `path` from the api: `None` on 404.
    pub async fn get(&self, path: &str) -> Option<Value> {
        let response = self.get_response(path).await?;
        Some(response.json().await.expect("JSON"))
    }

    /// The api's 200 answer to `GET path`; `None` on 404, a panic on anything else.
    async fn get_response(&self, path: &str) -> Option<reqwest::Response> {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .send()
            .await
            .expect("api reachable");
        match response.status().as_u16() {
            200 => Some(response),
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
            if let Some(broker) = &self.broker {
                eprintln!("----- kafka -----\n{}", broker.log_tail(40));
            }
        }
        for (_, service) in self.services.iter_mut().rev() {
            let _ = service.stop(Duration::from_secs(10));
        }
    }
}
