//! One Kafka process, a combined broker and KRaft controller: start, readiness, stop, kill
//! and restart on the same ports and data (what fault tests need).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tempfile::TempDir;

use super::config::{new_cluster_id, NodeConfig};
use super::dist::{self, KafkaDist, LOG4J2_CONFIG};
use super::secured::SecuredListener;
use crate::ports::free_ports;
use crate::process::{self, Logs, Service};

/// Upper bound for a graceful stop; Kafka normally needs well under a second.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How often start-up is checked while waiting for the broker to serve metadata.
const READY_POLL: Duration = Duration::from_millis(100);
/// How many times a start on automatically chosen ports is tried: a port that was free when
/// chosen can be taken by another process before the broker binds it.
const START_ATTEMPTS: usize = 3;

/// How to start a [`KafkaBroker`]; [`KafkaBroker::start`] uses the defaults.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    data_dir: Option<PathBuf>,
    port: Option<u16>,
    controller_port: Option<u16>,
    inherit_output: bool,
    fast_start: bool,
    startup_timeout: Duration,
    dump_class_archive: Option<PathBuf>,
    secured: bool,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            port: None,
            controller_port: None,
            inherit_output: false,
            fast_start: true,
            startup_timeout: Duration::from_secs(60),
            dump_class_archive: None,
            secured: false,
        }
    }
}

impl KafkaOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps settings, log and data in `dir` (created if missing) and reuses them on the
    /// next start. Without it, a temporary directory is used and removed on drop.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Listens for clients on this port instead of a free one chosen at start.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Listens for the KRaft controller on this port instead of a free one chosen at start.
    pub fn controller_port(mut self, port: u16) -> Self {
        self.controller_port = Some(port);
        self
    }

    /// Sends the broker's output to this process's terminal instead of `<dir>/kafka.log`.
    pub fn inherit_output(mut self, inherit: bool) -> Self {
        self.inherit_output = inherit;
        self
    }

    /// Trades GC pauses for start-up time (on by default, for tests): the heap uses the
    /// serial collector rather than G1 with Kafka's pause goal. Turn it off for benchmarks
    /// and long local runs.
    pub fn fast_start(mut self, fast: bool) -> Self {
        self.fast_start = fast;
        self
    }

    /// How long to wait for the broker to serve metadata (60 s by default).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Also listens with SASL_SSL on a port of its own: TLS with a certificate from a CA made
    /// for this broker, then SCRAM-SHA-512 or PLAIN for one user ([`KafkaBroker::secured`]).
    pub fn secured(mut self, secured: bool) -> Self {
        self.secured = secured;
        self
    }

    /// Makes the JVM record the classes it loads into `archive` when it exits.
    pub(crate) fn dump_class_archive(mut self, archive: PathBuf) -> Self {
        self.dump_class_archive = Some(archive);
        self
    }

    /// Starts a broker with these options.
    pub fn start(self) -> Result<KafkaBroker> {
        KafkaBroker::start_with(self)
    }
}

/// A running single-node Kafka cluster on 127.0.0.1, stopped when dropped (and its temporary
/// data removed), and killed by the kernel if the owning process dies.
#[derive(Debug)]
pub struct KafkaBroker {
    dist: KafkaDist,
    options: KafkaOptions,
    dir: PathBuf,
    port: u16,
    controller_port: u16,
    secured: Option<SecuredListener>,
    process: Option<Service>,
    /// Removes the temporary directory when dropped, after `Drop::drop` stopped the broker.
    _temp_dir: Option<TempDir>,
}

impl KafkaBroker {
    /// Starts a broker on free ports with temporary data, fetching the jars first if needed,
    /// and returns once it serves metadata.
    pub fn start() -> Result<Self> {
        Self::start_with(KafkaOptions::new())
    }

    /// Starts a broker with `options` (see [`KafkaOptions`]).
    pub fn start_with(options: KafkaOptions) -> Result<Self> {
        let dist = dist::fetch()?;
        Self::start_from(dist, options)
    }

    /// Starts a broker from jars already fetched.
    pub(crate) fn start_from(dist: KafkaDist, options: KafkaOptions) -> Result<Self> {
        let (temp_dir, dir) = match &options.data_dir {
            Some(dir) => (None, absolute(dir)?),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("slipstream-kafka-")
                    .tempdir()
                    .context("Failed to create a temporary directory for Kafka")?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        fs::create_dir_all(&dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        let broker = Self {
            dist,
            options,
            dir,
            port: 0,
            controller_port: 0,
            secured: None,
            process: None,
            _temp_dir: temp_dir,
        };
        broker.start_on_chosen_ports()
    }

    /// `host:port` for the clients' `bootstrap.servers` / `KAFKA_BOOTSTRAP_SERVERS`.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The SASL_SSL listener, when started [`KafkaOptions::secured`].
    pub fn secured(&self) -> Option<&SecuredListener> {
        self.secured.as_ref()
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding `server.properties`, `kafka.log` and the data (`data/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Service::pid)
    }

    /// True while the broker process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(Service::is_running)
    }

    /// The broker's log file, unless its output goes to the terminal.
    pub fn log_path(&self) -> Option<PathBuf> {
        (!self.options.inherit_output).then(|| self.dir.join("kafka.log"))
    }

    /// The last `lines` lines of the broker's log, to show why a test failed.
    pub fn log_tail(&self, lines: usize) -> String {
        match self.log_path() {
            Some(path) => process::log_tail(&path, lines),
            None => "(Kafka writes to the terminal, not to a log file)".to_owned(),
        }
    }

    /// Stops the broker gracefully (SIGTERM, then SIGKILL after 30 s). Data stays.
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut process) = self.process.take() {
            process.stop(STOP_TIMEOUT).context("Failed to stop Kafka")?;
        }
        Ok(())
    }

    /// Kills the broker with SIGKILL, as a crash would. Data written so far stays.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut process) = self.process.take() {
            process.kill().context("Failed to kill Kafka")?;
        }
        Ok(())
    }

    /// Stops the broker if it runs, then starts it again on the same ports with the same
    /// data, and returns once it serves metadata.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch().context("Failed to restart Kafka")
    }

    /// Picks ports (unless fixed), writes the settings, formats new storage and launches.
    fn start_on_chosen_ports(mut self) -> Result<Self> {
        let ports_chosen_here =
            self.options.port.is_none() && self.options.controller_port.is_none();
        let mut attempt = 1;
        loop {
            let [port, controller_port, secured_port] = free_ports()?;
            self.port = self.options.port.unwrap_or(port);
            self.controller_port = self.options.controller_port.unwrap_or(controller_port);
            if self.options.secured {
                self.secured = Some(SecuredListener::prepare(&self.dir, secured_port)?);
            }
            self.write_settings()?;
            self.format_storage_once()?;
            match self.launch() {
                Ok(()) => return Ok(self),
                // Exited at once: most likely a port taken since it was chosen; try others.
                Err(_) if ports_chosen_here && attempt < START_ATTEMPTS && !self.is_running() => {
                    attempt += 1
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    fn write_settings(&self) -> Result<()> {
        let log_dir = self.log_dir();
        let config = NodeConfig {
            port: self.port,
            controller_port: self.controller_port,
            log_dir: &log_dir,
            secured: self.secured.as_ref(),
        };
        let properties = self.properties_path();
        fs::write(&properties, config.server_properties())
            .with_context(|| format!("Failed to write {}", properties.display()))?;
        let log4j2 = self.dir.join("log4j2.properties");
        fs::write(&log4j2, LOG4J2_CONFIG)
            .with_context(|| format!("Failed to write {}", log4j2.display()))
    }

    /// Formats the storage with a new random cluster id, unless it already holds a cluster
    /// (a persistent data dir from an earlier run).
    fn format_storage_once(&self) -> Result<()> {
        if self.log_dir().join("meta.properties").is_file() {
            return Ok(());
        }
        let mut format = self.java(false);
        format
            .args([
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                &new_cluster_id(),
                "--config",
            ])
            .arg(self.properties_path());
        if let Some(secured) = &self.secured {
            format.arg("--add-scram").arg(secured.scram_credential());
        }
        let output = format
            .output()
            .context("Failed to run `java` (is a Java 17+ runtime installed?)")?;
        if !output.status.success() {
            bail!(
                "Formatting Kafka storage in {} failed ({}):\n{}{}",
                self.log_dir().display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Starts the broker process and waits until it serves metadata.
    fn launch(&mut self) -> Result<()> {
        let logs = if self.options.inherit_output {
            Logs::Inherit
        } else {
            Logs::Dir(self.dir.clone())
        };
        let mut java = self.java(true);
        java.arg("kafka.Kafka").arg(self.properties_path());
        self.process = Some(Service::spawn("kafka", java, logs)?);
        self.wait_until_serving()
    }

    /// A `java` command with the broker's class path and JVM settings; `broker` says whether
    /// it runs the broker itself (the run that may record the class archive).
    fn java(&self, broker: bool) -> Command {
        let mut java = Command::new("java");
        // The client-grade JIT only: C2's compiles of the produce path take a core for the
        // broker's first seconds on a machine the services share, and at 10,000 records/s
        // offered the producer's accept p99 over a run at M was 18–23 ms with it, 14–16 ms
        // without (its first 10 s 41–48 ms against 29–37 ms), for 1.5 ms more at p50 once warm.
        java.args([
            "-Xms256m",
            "-Xmx512m",
            "-XX:-UsePerfData",
            "-XX:TieredStopAtLevel=1",
        ]);
        if self.options.fast_start {
            java.arg("-XX:+UseSerialGC");
        } else {
            // What Kafka's own start script runs a broker with. G1's default pause goal is
            // 200 ms: at M its young and remark pauses reached 47 ms, every produce request
            // in flight waiting them out; with a 20 ms goal none passed 10 ms.
            java.args([
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
            ]);
        }
        let archive = self.dist.class_archive();
        match &self.options.dump_class_archive {
            Some(dump) if broker => {
                java.arg(format!("-XX:ArchiveClassesAtExit={}", dump.display()))
            }
            Some(_) => &mut java,
            None if archive.is_file() => {
                java.arg(format!("-XX:SharedArchiveFile={}", archive.display()))
            }
            None => &mut java,
        };
        java.arg(format!(
            "-Dlog4j2.configurationFile={}",
            self.dir.join("log4j2.properties").display()
        ))
        .arg("-cp")
        .arg(self.dist.classpath());
        java
    }

    /// Polls with a Kafka client until the broker lists itself in a metadata response, which
    /// it does only once it has joined the cluster and accepts requests.
    fn wait_until_serving(&mut self) -> Result<()> {
        let timeout = self.options.startup_timeout;
        let deadline = Instant::now() + timeout;
        let client = metadata_client(&self.bootstrap_servers())?;
        loop {
            let process = self.process.as_mut().context("Kafka is not running")?;
            if let Some(status) = process.try_wait()? {
                bail!(
                    "Kafka exited during start-up ({status}); its log ends with:\n{}",
                    self.log_tail(40)
                );
            }
            let reason = match client.fetch_metadata(None, Duration::from_millis(500)) {
                Ok(metadata) if !metadata.brokers().is_empty() => return Ok(()),
                Ok(_) => "no broker registered yet".to_owned(),
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "Kafka did not serve metadata on {} within {timeout:?} ({reason}); \
                     its log ends with:\n{}",
                    self.bootstrap_servers(),
                    self.log_tail(40)
                );
            }
            thread::sleep(READY_POLL);
        }
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        // Best effort: the process is SIGKILLed by Service's own drop if this fails.
        let _ = self.stop();
    }
}

/// A client that retries connections quickly, since the broker is expected any moment.
fn metadata_client(bootstrap_servers: &str) -> Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap_servers)
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "200")
        .create()
        .context("Failed to create a Kafka client to check the broker")
}

/// The directory as an absolute path, so the broker does not depend on its working directory.
fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("Failed to resolve {}", dir.display()))
}
