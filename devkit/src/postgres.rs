//! A real PostgreSQL server without Docker: Debian's `postgresql` package, a throwaway
//! cluster in a temporary directory, listening on 127.0.0.1 on a free port.
//!
//! The server is a child [`Service`] like the broker, so it dies with its owner. PostgreSQL
//! refuses to run as root; run as root (a CI machine), the cluster belongs to the `postgres`
//! account the package creates. The superuser `slipstream` has a random password, so even
//! a throwaway server on loopback is not open to every local process.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use crate::ports::free_port;
use crate::process::{Logs, Service};
use crate::sys::{self, ShutdownSignals};
use crate::{notice, write_private};

/// The superuser of a cluster started here.
const USER: &str = "slipstream";
/// The api's database on a cluster kept across runs (`slipstream-dev up --postgres`,
/// `slipstream-dev postgres`).
pub const DEV_DATABASE: &str = "slipstream";
/// How long a new cluster may take to accept connections.
const STARTUP: Duration = Duration::from_secs(60);
/// Debian installs the server's programs here, one directory per major version.
const DEBIAN_BINS: &str = "/usr/lib/postgresql";

/// A running throwaway PostgreSQL server, stopped and removed when dropped.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    port: u16,
    password: String,
    process: Service,
    /// A temporary cluster's directory, removed when dropped, after the server was killed
    /// (fields drop in order).
    _dir: Option<TempDir>,
}

impl Postgres {
    /// Creates a cluster in a temporary directory and starts it on a free port; returns once
    /// it accepts connections.
    pub fn start() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("slipstream-postgres-")
            .tempdir()
            .context("Failed to create a temporary directory for PostgreSQL")?;
        let root = dir.path().to_path_buf();
        Self::start_at(&root, free_port(), Some(dir))
    }

    /// Starts the cluster kept in `dir` on `port`, creating it first if `dir` holds none:
    /// how `slipstream-dev up --postgres` keeps its data across runs. The password is kept
    /// beside the data, readable by its owner only.
    pub fn start_in(dir: &Path, port: u16) -> Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
        let dir = std::path::absolute(dir)?;
        if cluster_owner()?.is_some() {
            let_others_reach(&dir)?;
        }
        Self::start_at(&dir, port, None)
    }

    fn start_at(root: &Path, port: u16, temp: Option<TempDir>) -> Result<Self> {
        let bin = server_bin_dir()?;
        let owner = cluster_owner()?;
        let data = root.join("data");
        let password_file = root.join("password");
        if !data.join("PG_VERSION").is_file() {
            create_cluster(&bin, owner, root)?;
        }
        let password = fs::read_to_string(&password_file)
            .with_context(|| format!("Failed to read {}", password_file.display()))?;
        let mut server = command(&bin.join("postgres"), owner);
        server.arg("-D").arg(&data).args(settings(port));
        let process = Service::spawn("postgres", server, Logs::Dir(root.join("logs")))?;
        let mut postgres = Self {
            bin,
            port,
            password: password.trim().to_owned(),
            process,
            _dir: temp,
        };
        postgres.wait_until_ready()?;
        Ok(postgres)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` on this server, as the api's `DATABASE_URL` takes it.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    /// Creates an empty database and returns its URL: how tests sharing a server keep their
    /// data apart.
    pub fn create_database(&self, name: &str) -> Result<String> {
        plain_name(name)?;
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }

    /// Creates the database `name` unless the server has it already; its URL.
    pub fn ensure_database(&self, name: &str) -> Result<String> {
        plain_name(name)?;
        let sql = format!("SELECT 1 FROM pg_database WHERE datname = '{name}'");
        match self.psql("postgres", &sql)?.is_empty() {
            true => self.create_database(name),
            false => Ok(self.url(name)),
        }
    }

    /// Runs one SQL statement as the superuser, in `database`; returns what it printed.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", database, "-c", sql])
            // In the environment, not the arguments, where `ps` would show it.
            .env("PGPASSWORD", &self.password)
            .stdin(Stdio::null())
            .output()
            .context("Failed to run psql")?;
        if !output.status.success() {
            bail!(
                "psql failed on {sql:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The end of the server's log, for a failing test's message.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Stops the server (SIGTERM: once its clients are gone, it writes a checkpoint and
    /// exits), then SIGKILL if it is still running after `timeout`.
    pub fn stop(&mut self, timeout: Duration) -> Result<()> {
        self.process.stop(timeout).map(drop)
    }

    /// Kills the server at once; its data is thrown away with it.
    pub fn kill(&mut self) -> Result<()> {
        self.process.kill().map(drop)
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + STARTUP;
        loop {
            if !self.process.is_running() {
                bail!(
                    "PostgreSQL exited while starting:\n{}",
                    self.process.log_tail(20)
                );
            }
            if self.psql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL did not accept connections within {STARTUP:?}:\n{}",
                    self.process.log_tail(20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Only letters, digits and `_`: a name written into SQL as it is.
fn plain_name(name: &str) -> Result<()> {
    match name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        true => Ok(()),
        false => bail!("{name:?} is not a plain database name"),
    }
}

/// `slipstream-dev postgres`: runs the cluster kept in `dir` on `port` until Ctrl-C or SIGTERM,
/// with the database [`DEV_DATABASE`]; its URL, password included, goes to
/// `<dir>/database.env` (readable by its owner only, removed at the stop), not to the
/// terminal.
pub fn run_in_foreground(dir: &Path, port: u16) -> Result<()> {
    let signals = ShutdownSignals::block()?;
    let mut postgres = Postgres::start_in(dir, port)?;
    let env = dir.join("database.env");
    let url = postgres.ensure_database(DEV_DATABASE)?;
    write_private(&env, &format!("DATABASE_URL={url}\n"))?;
    print_ready(port, &env);
    loop {
        if let Some(signal) = signals.wait(Duration::from_millis(200))? {
            notice(&format!("{signal} received, stopping PostgreSQL"));
            // It names a server that is gone: a script waiting for the next one must not
            // mistake it for that one's.
            let _ = fs::remove_file(&env);
            return postgres.stop(Duration::from_secs(30));
        }
        if !postgres.is_running() {
            bail!(
                "PostgreSQL exited unexpectedly:\n{}",
                postgres.process.log_tail(20)
            );
        }
    }
}

#[allow(clippy::print_stdout)] // Where the URL is, is this command's output.
fn print_ready(port: u16, env: &Path) {
    println!("PostgreSQL is running on 127.0.0.1:{port}; stop it with Ctrl-C.");
    println!("DATABASE_URL is in {} (`source` it)", env.display());
}

/// The server [`shared_database`] started, kept here so that it is removed at exit.
static SHARED: Mutex<Option<Postgres>> = Mutex::new(None);

/// URL of a database of its own on the server shared by this process: each call creates
/// one. The server starts on first use; at exit it is killed and its directory removed.
///
/// # Panics
/// When the server cannot be started or the database created: nothing can be tested then.
pub fn shared_database() -> String {
    static STARTED: OnceLock<Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        let server = Postgres::start().map_err(|error| format!("{error:#}"))?;
        *SHARED.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
        // Statics are never dropped: without this every test binary would leave its
        // cluster's directory behind (the server itself dies with its owner anyway).
        sys::at_exit(remove_shared);
        Ok(())
    });
    if let Err(error) = started {
        panic!("Failed to start PostgreSQL: {error}");
    }
    let shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(server) = shared.as_ref() else {
        panic!("The shared PostgreSQL is gone: the process is exiting");
    };
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    match server.create_database(&name) {
        Ok(url) => url,
        Err(error) => panic!("{error:#}"),
    }
}

/// Whether the tests run the api on PostgreSQL: `TEST_DATABASE=postgres`, as the second pass
/// of `scripts/test.sh` sets it.
pub fn tests_on_postgres() -> bool {
    std::env::var("TEST_DATABASE").is_ok_and(|database| database == "postgres")
}

/// The `DATABASE_URL` of a test's api: an SQLite file in `dir`, or with
/// `TEST_DATABASE=postgres` a database of its own on the server this process shares. Either
/// way it outlives restarts of the api, so tests hold both backends to one contract.
pub fn test_database(dir: &Path) -> String {
    match tests_on_postgres() {
        true => shared_database(),
        false => format!("sqlite://{}", dir.join("api.db").display()),
    }
}

extern "C" fn remove_shared() {
    // Unwinding into libc would abort; a failed clean-up at exit is not worth that.
    let _ = std::panic::catch_unwind(|| {
        let server = SHARED.lock().ok().and_then(|mut shared| shared.take());
        // Kills the server, then removes its directory.
        drop(server);
    });
}

/// A new cluster in `root/data`, its superuser's new password in `root/password`.
fn create_cluster(bin: &Path, owner: Option<(u32, u32)>, root: &Path) -> Result<()> {
    let data = root.join("data");
    let password_file = root.join("password");
    let password = uuid::Uuid::new_v4().simple().to_string();
    write_private(&password_file, &password)?;
    fs::create_dir_all(&data).context("Failed to create the data directory")?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = owner {
        for path in [root, &data, &password_file] {
            chown(path, Some(uid), Some(gid))
                .with_context(|| format!("Failed to give {} to postgres", path.display()))?;
        }
    }
    initdb(bin, owner, &data, &password_file)
}

/// What the throwaway server runs with: TCP on loopback only, no Unix socket (its default
/// directory belongs to the system's own cluster), and durable commits as in production.
fn settings(port: u16) -> Vec<String> {
    [
        "listen_addresses=127.0.0.1".to_owned(),
        format!("port={port}"),
        "unix_socket_directories=".to_owned(),
        "max_connections=300".to_owned(),
        "fsync=on".to_owned(),
        "synchronous_commit=on".to_owned(),
    ]
    .into_iter()
    .flat_map(|setting| ["-c".to_owned(), setting])
    .collect()
}

fn initdb(bin: &Path, owner: Option<(u32, u32)>, data: &Path, password: &Path) -> Result<()> {
    let output = command(&bin.join("initdb"), owner)
        .arg("-D")
        .arg(data)
        .args([
            "-U",
            USER,
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        ])
        .arg(format!("--pwfile={}", password.display()))
        .stdin(Stdio::null())
        .output()
        .context("Failed to run initdb")?;
    if !output.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Adds search permission for others to each directory above `dir` that lacks it (never
/// read permission): the cluster's owner is another account than root's, and a directory it
/// cannot pass through (a checkout in a private temporary directory) keeps it from its data.
fn let_others_reach(dir: &Path) -> Result<()> {
    for ancestor in dir.ancestors().skip(1) {
        let mode = fs::metadata(ancestor)?.permissions().mode();
        if mode & 0o001 == 0 {
            crate::notice(&format!(
                "letting PostgreSQL's account pass through {} (search permission for others)",
                ancestor.display()
            ));
            fs::set_permissions(ancestor, fs::Permissions::from_mode(mode | 0o001))?;
        }
    }
    Ok(())
}

/// A command that runs as the cluster's owner, from the root directory, which it can read
/// whatever the caller's working directory.
fn command(program: &Path, owner: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    command.current_dir("/");
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

/// The account the cluster runs as: `None` for the current one, the `postgres` account
/// when the current one is root.
fn cluster_owner() -> Result<Option<(u32, u32)>> {
    // `/proc/self` belongs to the process's effective user.
    let me = fs::metadata("/proc/self").context("Failed to read /proc/self")?;
    if me.uid() != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("Failed to read /etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres") && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
        .map(Some)
        .ok_or_else(|| {
            anyhow!("PostgreSQL does not run as root, and there is no postgres account to run it as: install Debian's postgresql package")
        })
}

/// Where `initdb` and `postgres` are: `PG_BIN` when set, else the directory of `initdb` on
/// the `PATH`, else the newest version under Debian's directory.
fn server_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(dir.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("initdb"))
        .find(|initdb| initdb.is_file())
        .and_then(|initdb| fs::canonicalize(initdb).ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
    if let Some(dir) = on_path {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(DEBIAN_BINS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!("PostgreSQL's initdb was found neither on the PATH nor under {DEBIAN_BINS}: install Debian's postgresql package, or set PG_BIN")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_takes_statements_and_refuses_a_wrong_password() {
        let server = Postgres::start().expect("PostgreSQL starts");
        let url = server.create_database("things").expect("a database");
        assert!(url.ends_with(&format!("127.0.0.1:{}/things", server.port())));
        let answer = server
            .psql("things", "SELECT current_setting('synchronous_commit')")
            .expect("a query runs");
        assert_eq!(answer, "on");
        let wrong = Command::new(server.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
            .args(["-U", USER, "-d", "things", "-c", "SELECT 1"])
            .env("PGPASSWORD", "not-the-password")
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        assert!(!wrong.status.success(), "a wrong password was accepted");
    }

    #[test]
    fn a_dropped_server_leaves_nothing_running() {
        let server = Postgres::start().expect("PostgreSQL starts");
        let pid = server.pid();
        drop(server);
        assert!(!crate::process::is_alive(pid), "postgres {pid} still runs");
    }
}
