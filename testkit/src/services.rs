//! One way to start each service in a test: in this process where the test only talks to
//! it, as a child process where the test needs a process (to kill it, to read its log, to
//! see it exit).

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use slipstream_devkit::pipeline::ServiceSpec;
use slipstream_devkit::process::listens_on;
use slipstream_devkit::{wait_for_http, workspace_bin, Logs, Service};
use slipstream_model::contract::settings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const READY_WITHIN: Duration = Duration::from_secs(60);

/// A service running in this process until [`InProcess::stop`], or until dropped.
#[derive(Debug)]
pub struct InProcess {
    /// Its base URL.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Builds the api from `config` (port 0 picks a free one) and waits until it is ready.
    pub async fn api(config: api::Config) -> Self {
        let started = Self::api_without_waiting(config).await;
        started.wait_until_ready().await;
        started
    }

    /// Builds the api and runs it, ready or not: for a test of how it starts.
    pub async fn api_without_waiting(config: api::Config) -> Self {
        let api = api::Application::build(config)
            .await
            .expect("the api builds");
        let url = format!("http://127.0.0.1:{}", api.port());
        Self::run(url, |stop| api.run_until(stop))
    }

    /// Builds the producer from `config` (port 0 picks a free one) and waits until it is
    /// ready.
    pub async fn producer(config: producer::Config) -> Self {
        let producer = producer::Application::build(config)
            .await
            .expect("the producer builds");
        let url = format!("http://127.0.0.1:{}", producer.port());
        let started = Self::run(url, |stop| producer.run_until(stop));
        started.wait_until_ready().await;
        started
    }

    /// Starts the consumer from `config` (its `port` must be a real one: the test reaches
    /// it there) and waits until it serves `/health` (`/ready` also needs its partitions).
    pub async fn consumer(config: consumer::Config) -> Self {
        let url = format!("http://{}:{}", config.host, config.port);
        let started = Self::run(url, |stop| consumer::run_until(config, stop));
        wait_until_200(format!("{}/health", started.url)).await;
        started
    }

    /// Runs `run_until`, which serves until the future it is given resolves: when
    /// [`Self::stop`] is called or this is dropped.
    fn run<F>(url: String, run_until: impl FnOnce(BoxFuture<'static, ()>) -> F) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run_until(stopped));
        Self {
            url,
            stop: Some(stop),
            task,
        }
    }

    /// Polls `/ready` until it answers 200.
    pub async fn wait_until_ready(&self) {
        wait_until_200(format!("{}/ready", self.url)).await;
    }

    /// Asks the service to stop, as SIGTERM would, and returns how it ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.expect("the service's task")
    }

    /// How the service ended, if it stopped on its own within `timeout`.
    pub async fn ended_within(mut self, timeout: Duration) -> Option<anyhow::Result<()>> {
        let ended = tokio::time::timeout(timeout, &mut self.task).await.ok()?;
        Some(ended.expect("the service's task"))
    }
}

/// Polls `GET url` until it answers 200, off the test's runtime threads.
async fn wait_until_200(url: String) {
    tokio::task::spawn_blocking(move || wait_for_http(&url, READY_WITHIN))
        .await
        .expect("joined")
        .unwrap_or_else(|error| panic!("{error:#}"));
}

/// Starts `spec`'s binary as a child process, its output (JSON lines) in `logs/<name>.log`,
/// without waiting for it.
pub fn spawn_process(spec: &ServiceSpec, logs: &Path) -> Service {
    let mut command = spec.command(&workspace_bin(spec.binary));
    let defaults = [
        (settings::HOST, "127.0.0.1"),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
    ];
    for (key, value) in defaults {
        if !spec.env.iter().any(|(set, _)| *set == key) {
            command.env(key, value);
        }
    }
    Service::spawn(&spec.name, command, Logs::Dir(logs.to_owned())).expect("spawn")
}

/// Starts `spec`'s binary as a child process (see [`spawn_process`]) and waits until it is
/// ready to take traffic on its own port. Blocking.
pub fn start_process(spec: &ServiceSpec, logs: &Path) -> Service {
    let mut service = spawn_process(spec, logs);
    wait_for_http(&spec.ready_url(), READY_WITHIN)
        .unwrap_or_else(|e| panic!("{} not ready: {e:#}\n{}", spec.name, service.log_tail(20)));
    // The answer may have come from another test's service that took the port first.
    let deadline = Instant::now() + READY_WITHIN;
    while !listens_on(service.pid(), spec.port) {
        let exited = !service.is_running();
        if exited || Instant::now() > deadline {
            panic!(
                "{} does not listen on port {} (taken by another process?):\n{}",
                spec.name,
                spec.port,
                service.log_tail(20)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    service
}
