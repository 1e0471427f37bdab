//! `slipstream-dev up`: the whole pipeline on this machine, for a developer at a terminal.
//!
//! Kafka on 127.0.0.1:9092 with data under `.local/kafka` (kept across runs; see [`UpOptions`]), then the api,
//! the producer and one consumer per topic, each taken from the same target directory as
//! `slipstream-dev` itself and started only once the one before it answers `/health`. Their
//! output goes to the terminal. Ctrl-C or SIGTERM stops everything; a service that exits on
//! its own stops everything too, with an error naming it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use slipstream_model::contract;

use crate::bins::find_bin;
use crate::http::Probe;
use crate::kafka::{KafkaBroker, KafkaOptions};
use crate::keys::DevKeys;
use crate::notice;
use crate::pipeline::{api_name, ServiceSpec, Wiring};
use crate::postgres::{Postgres, DEV_DATABASE};
use crate::process::{Logs, Service};
use crate::sys::ShutdownSignals;

const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each service gets to exit after SIGTERM (consumers promise 10 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);
/// Requests a second each key of a local run may make: enough for the benchmarks.
const DEV_KEY_RATE: u32 = 1_000_000;

/// Where `up` puts things. The defaults are the documented ports; tests pick free ones.
#[derive(Debug, Clone, clap::Args)]
pub struct UpOptions {
    /// Kafka's port on 127.0.0.1.
    #[arg(long, default_value_t = 9092)]
    pub kafka_port: u16,
    #[arg(long, default_value_t = contract::Service::API.port)]
    pub api_port: u16,
    /// The producer's port: 8099, or the first after the api replicas' when they need it.
    #[arg(long)]
    pub producer_port: Option<u16>,
    /// Health port of the users consumer; the events and coupons consumers take the next two.
    /// 8101, or two after the producer's when the api replicas need the ports before.
    #[arg(long)]
    pub consumer_port: Option<u16>,
    /// Where the database and Kafka's data are kept across runs.
    #[arg(long, default_value = ".local")]
    pub dir: PathBuf,
    /// Runs the api on a local PostgreSQL (Debian's package), its cluster kept in
    /// `<dir>/postgres`, instead of an SQLite file.
    #[arg(long)]
    pub postgres: bool,
    /// PostgreSQL's port on 127.0.0.1, with `--postgres`.
    #[arg(long, default_value_t = 5433)]
    pub postgres_port: u16,
    /// Api replicas, on `--api-port` and the ports after it; more than one needs
    /// `--postgres`. The consumers spread their forwards over all of them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub api_replicas: u16,
}

impl UpOptions {
    /// Each consumer and its health port.
    fn consumers(&self) -> impl Iterator<Item = (contract::Service, u16)> + '_ {
        contract::Service::CONSUMERS
            .into_iter()
            .zip(self.consumer_port()..)
    }

    /// The ports after `--api-port` that the replicas take.
    fn api_ports(&self) -> std::ops::Range<u16> {
        self.api_port..self.api_port.saturating_add(self.api_replicas)
    }

    fn producer_port(&self) -> u16 {
        let default = contract::Service::PRODUCER.port;
        self.producer_port
            .unwrap_or_else(|| match self.api_ports().contains(&default) {
                true => self.api_ports().end,
                false => default,
            })
    }

    fn consumer_port(&self) -> u16 {
        self.consumer_port.unwrap_or_else(|| {
            let taken =
                |port: u16| self.api_ports().contains(&port) || port == self.producer_port();
            let ports = contract::Service::CONSUMERS.map(|consumer| consumer.port);
            match ports.into_iter().any(taken) {
                true => self.producer_port() + 2,
                false => ports[0],
            }
        })
    }

    /// Each api replica's name and port.
    fn apis(&self) -> impl Iterator<Item = (String, u16)> + '_ {
        self.api_ports()
            .enumerate()
            .map(|(n, port)| (api_name(n), port))
    }
}

/// A service to run and the binary it runs, found before anything starts.
struct Runnable {
    spec: ServiceSpec,
    program: PathBuf,
}

/// Runs the pipeline until Ctrl-C or SIGTERM (`Ok`) or until a part of it fails (`Err`).
/// Call it before starting any thread (see [`ShutdownSignals::block`]).
pub fn run(options: &UpOptions) -> Result<()> {
    let signals = ShutdownSignals::block()?;
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("Failed to create {}", options.dir.display()))?;
    if options.api_replicas > 1 && !options.postgres {
        bail!("Several api replicas share a PostgreSQL database: add --postgres");
    }
    let keys = dev_keys(options)?;
    let postgres = options
        .postgres
        .then(|| start_postgres(options))
        .transpose()?;
    let database_url = match &postgres {
        Some(postgres) => postgres.url(DEV_DATABASE),
        None => format!("sqlite://{}", options.dir.join("slipstream.db").display()),
    };
    let runnables = runnables(options, &keys, &database_url)?;
    let broker = KafkaOptions::new()
        .data_dir(options.dir.join("kafka"))
        .port(options.kafka_port)
        .fast_start(false)
        .start()?;
    let mut pipeline = Pipeline {
        postgres,
        broker,
        services: Vec::new(),
    };
    let outcome = pipeline
        .start_services(&runnables, &signals)
        .and_then(|started| {
            if started {
                print_summary(options, &pipeline.broker, &credentials_path(options));
                pipeline.supervise(&signals)?;
            }
            Ok(())
        });
    pipeline.shutdown();
    outcome
}

/// The cluster in `<dir>/postgres`, with the api's database created on its first run.
fn start_postgres(options: &UpOptions) -> Result<Postgres> {
    let postgres = Postgres::start_in(&options.dir.join("postgres"), options.postgres_port)?;
    postgres.ensure_database(DEV_DATABASE)?;
    Ok(postgres)
}

fn credentials_path(options: &UpOptions) -> PathBuf {
    options.dir.join("credentials.env")
}

/// One key per scope in `<dir>/keys`, written to `<dir>/credentials.env`; the keys of the
/// last run are kept while the key file still accepts them all.
fn dev_keys(options: &UpOptions) -> Result<DevKeys> {
    let (file, credentials) = (options.dir.join("keys"), credentials_path(options));
    if let Some(keys) = DevKeys::reuse(&file, &credentials) {
        return Ok(keys);
    }
    let keys = DevKeys::create(&file, DEV_KEY_RATE)?;
    keys.write_credentials(&credentials)?;
    Ok(keys)
}

/// The api, the producer and the consumers, found next to this executable before anything
/// starts, so a missing build fails at once rather than after Kafka is up.
fn runnables(options: &UpOptions, keys: &DevKeys, database_url: &str) -> Result<Vec<Runnable>> {
    let wiring = Wiring {
        kafka: format!("127.0.0.1:{}", options.kafka_port),
        topic_prefix: String::new(),
        database_url: database_url.to_owned(),
        keys,
        api_ports: options.api_ports().collect(),
        producer_port: options.producer_port(),
        consumer_ports: [0, 1, 2].map(|n| options.consumer_port() + n),
    };
    (wiring.services().into_iter())
        .map(|spec| {
            let program = find_bin(spec.binary)
                .context("`slipstream-dev up` runs the services built next to it")?;
            Ok(Runnable { spec, program })
        })
        .collect()
}

/// Everything `up` started, in start order.
struct Pipeline {
    postgres: Option<Postgres>,
    broker: KafkaBroker,
    services: Vec<Service>,
}

impl Pipeline {
    /// Starts each service and waits for its health check before the next. Returns false
    /// when a shutdown signal came first.
    fn start_services(
        &mut self,
        runnables: &[Runnable],
        signals: &ShutdownSignals,
    ) -> Result<bool> {
        for Runnable { spec, program } in runnables {
            let service = Service::spawn(&spec.name, spec.command(program), Logs::Inherit)?;
            self.services.push(service);
            if !self.wait_healthy(spec, signals)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Polls the service's `/health` while watching that it (and Kafka) still run.
    fn wait_healthy(&mut self, spec: &ServiceSpec, signals: &ShutdownSignals) -> Result<bool> {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let url = spec.ready_url();
        let probe = Probe::new()?;
        loop {
            if matches!(probe.status(&url), Ok(200)) {
                return Ok(true);
            }
            self.check_all_running()?;
            if let Some(signal) = signals.wait(POLL)? {
                notice(&format!("{signal} received during start-up, stopping"));
                return Ok(false);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer 200 on {url} within {HEALTH_TIMEOUT:?}",
                    spec.name
                );
            }
        }
    }

    /// Waits for a shutdown signal; fails as soon as any process exits on its own.
    fn supervise(&mut self, signals: &ShutdownSignals) -> Result<()> {
        loop {
            if let Some(signal) = signals.wait(POLL)? {
                notice(&format!("{signal} received, stopping"));
                return Ok(());
            }
            self.check_all_running()?;
        }
    }

    fn check_all_running(&mut self) -> Result<()> {
        for service in &mut self.services {
            if let Some(status) = service.try_wait()? {
                bail!("{} exited unexpectedly ({status})", service.name());
            }
        }
        if let Some(postgres) = &mut self.postgres {
            if !postgres.is_running() {
                bail!(
                    "PostgreSQL exited unexpectedly; its log ends with:\n{}",
                    postgres.log_tail(20)
                );
            }
        }
        if !self.broker.is_running() {
            bail!(
                "Kafka exited unexpectedly; its log ends with:\n{}",
                self.broker.log_tail(20)
            );
        }
        Ok(())
    }

    /// Stops the services that feed others first: producer and consumers together (they
    /// flush and commit), then the api replicas they talk to, then Kafka and PostgreSQL.
    fn shutdown(&mut self) {
        let (api, feeders): (Vec<_>, Vec<_>) = (self.services.drain(..))
            .partition(|s| s.name() == "api" || s.name().starts_with("api-"));
        stop_together(feeders);
        stop_together(api);
        if let Err(error) = self.broker.stop() {
            notice(&format!("{error:#}"));
        }
        if let Some(postgres) = &mut self.postgres {
            if let Err(error) = postgres.stop(STOP_TIMEOUT) {
                notice(&format!("{error:#}"));
            }
        }
        notice("all stopped");
    }
}

/// Sends SIGTERM to every service at once, then waits for each (SIGKILL after the timeout).
fn stop_together(mut services: Vec<Service>) {
    for service in &mut services {
        if let Err(error) = service.terminate() {
            notice(&format!("{error:#}"));
        }
    }
    for service in &mut services {
        match service.stop(STOP_TIMEOUT) {
            Ok(status) => notice(&format!("{} stopped ({status})", service.name())),
            Err(error) => notice(&format!("{error:#}")),
        }
    }
}

#[allow(clippy::print_stdout)] // The summary is this command's output.
fn print_summary(options: &UpOptions, broker: &KafkaBroker, credentials: &std::path::Path) {
    let log = broker
        .log_path()
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    println!();
    println!("Slipstream is running. Stop it with Ctrl-C.");
    for (name, port) in options.apis() {
        println!("  {name:<9} http://127.0.0.1:{port}");
    }
    println!("  producer  http://127.0.0.1:{}", options.producer_port());
    for (consumer, port) in options.consumers() {
        let topic = consumer.topic.map(|kind| kind.as_str()).unwrap_or_default();
        println!("  consumer  http://127.0.0.1:{port}/health   (topic {topic})");
    }
    println!("  kafka     {}   (log: {log})", broker.bootstrap_servers());
    println!();
    println!(
        "API keys, one per scope: {}   (`source` it, then e.g. \"Authorization: Bearer $SLIPSTREAM_READ_KEY\")",
        credentials.display()
    );
    println!();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        up: UpOptions,
    }

    fn ports(args: &[&str]) -> (Vec<u16>, u16, u16) {
        let up = Cli::parse_from(["up"].iter().chain(args)).up;
        let apis = up.apis().map(|(_, port)| port).collect();
        (apis, up.producer_port(), up.consumer_port())
    }

    #[test]
    fn replicas_take_the_ports_after_the_api_and_the_others_make_room() {
        assert_eq!(ports(&[]), (vec![8098], 8099, 8101));
        assert_eq!(
            ports(&["--api-replicas", "2"]),
            (vec![8098, 8099], 8100, 8101)
        );
        assert_eq!(
            ports(&["--api-replicas", "4"]),
            (vec![8098, 8099, 8100, 8101], 8102, 8104)
        );
        assert_eq!(
            ports(&["--api-replicas", "2", "--api-port", "18098"]),
            (vec![18098, 18099], 8099, 8101)
        );
        assert_eq!(
            ports(&["--api-replicas", "3", "--producer-port", "9000"]),
            (vec![8098, 8099, 8100], 9000, 8101)
        );
    }
}
