//! Child processes that cannot outlive the process that started them.
//!
//! Tests and `slipstream-dev up` run brokers and services as real processes. If the owner
//! dies, even by SIGKILL or an aborted test run, those children must die too, or they keep
//! ports and disk and poison the next run. Linux offers this with `PR_SET_PDEATHSIG`, with a
//! catch: the signal fires when the *thread* that forked the child exits, not the process.
//! Test harnesses run each test on its own short-lived thread, so every spawn here goes
//! through one spawner thread that lives as long as the process.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use crate::sys;

/// How often a stopping child is checked for having exited.
const POLL: Duration = Duration::from_millis(20);
/// How much of the end of a log [`Service::log_tail`] reads at most.
const TAIL_BYTES: u64 = 64 * 1024;

/// Where a child's stdout and stderr go.
#[derive(Debug, Clone)]
pub enum Logs {
    /// Appended to `<dir>/<name>.log`, which a test can print when it fails
    /// (see [`Service::log_tail`]). Appending keeps the history of a restarted service.
    Dir(PathBuf),
    /// The owner's own stdout and stderr, for a developer watching a terminal.
    Inherit,
}

/// A running child process, killed when dropped and when its owner process dies.
///
/// The child gets its own process group, so a Ctrl-C in the terminal reaches only the
/// owner, which then stops its children in the order it chooses; signals sent through this
/// type go to the whole group, so helpers started by a shell script are stopped as well.
#[derive(Debug)]
pub struct Service {
    name: String,
    child: Child,
    log_path: Option<PathBuf>,
    /// Whether SIGTERM was sent: services often take a second one as "abort now".
    terminated: bool,
}

impl Service {
    /// Starts `command` as the service `name`, with stdin closed and output sent to `logs`.
    pub fn spawn(name: &str, mut command: Command, logs: Logs) -> Result<Self> {
        let log_path = match logs {
            Logs::Dir(dir) => Some(redirect_output(&mut command, &dir, name)?),
            Logs::Inherit => None,
        };
        command.stdin(Stdio::null()).process_group(0);
        sys::die_with_owner(&mut command);
        let program = command.get_program().to_string_lossy().into_owned();
        let child = spawn_from_spawner_thread(command)
            .with_context(|| format!("Failed to start {name} ({program})"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log_path,
            terminated: false,
        })
    }

    /// The name given at spawn, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let name = &self.name;
        self.child
            .try_wait()
            .with_context(|| format!("Failed to check whether {name} is running"))
    }

    /// True while the child has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits for the child to exit on its own.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        let name = &self.name;
        self.child
            .wait()
            .with_context(|| format!("Failed to wait for {name}"))
    }

    /// Sends SIGTERM without waiting, so several services can shut down at the same time.
    /// Only the first call sends it.
    pub fn terminate(&mut self) -> Result<()> {
        if !self.terminated {
            self.signal(libc::SIGTERM)?;
            self.terminated = true;
        }
        Ok(())
    }

    /// Stops the child gracefully: SIGTERM (unless [`Self::terminate`] sent it already), then
    /// SIGKILL if it is still running after `timeout`. Returns how it ended (for a Java
    /// process, SIGTERM ends in exit code 143).
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.terminate()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            thread::sleep(POLL);
        }
        self.kill()
    }

    /// Kills the child with SIGKILL at once (a crash, for fault tests) and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        self.signal(libc::SIGKILL)?;
        self.wait()
    }

    /// Freezes the child with SIGSTOP: it keeps its sockets open but answers nothing, as a
    /// process stuck on a full disk or a long pause would. Fault tests use it to hold work in
    /// flight in the services that talk to it.
    pub fn suspend(&mut self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a child frozen by [`Self::suspend`] run again (SIGCONT).
    pub fn resume(&mut self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// The file receiving the child's output, if it has one.
    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// The last `lines` lines of the child's log, to show why a test failed.
    pub fn log_tail(&self, lines: usize) -> String {
        match &self.log_path {
            Some(path) => log_tail(path, lines),
            None => format!("({} writes to the terminal, not to a log file)", self.name),
        }
    }

    /// Sends `signal` to the child's process group, unless the child was already reaped.
    fn signal(&mut self, signal: libc::c_int) -> Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        sys::signal_group(self.pid(), signal)
            .with_context(|| format!("Failed to signal {}", self.name))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // Nothing useful can be done with a failure here; the child dies with us anyway.
        let _ = self.kill();
    }
}

/// Returns the last `lines` lines of the file at `path` (reading at most its last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    match read_end(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

fn read_end(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Points the command's stdout and stderr at `<dir>/<name>.log` and returns that path.
fn redirect_output(command: &mut Command, dir: &Path, name: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let path = dir.join(format!("{name}.log"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("Failed to open {}", path.display()))?;
    let copy = file
        .try_clone()
        .context("Failed to duplicate a log file handle")?;
    command.stdout(copy).stderr(file);
    Ok(path)
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from the process-long spawner thread (see the module documentation).
fn spawn_from_spawner_thread(command: Command) -> Result<Child> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER
        .get_or_init(start_spawner_thread)
        .as_ref()
        .ok_or_else(|| anyhow!("The process spawner thread could not be started"))?;
    let (reply_to, reply) = mpsc::channel();
    spawner
        .send((command, reply_to))
        .map_err(|_| anyhow!("The process spawner thread has stopped"))?;
    let child = reply
        .recv()
        .context("The process spawner thread has stopped")?;
    Ok(child?)
}

/// Starts the thread that forks every child. It runs until the process exits: the sender
/// lives in a static, so the channel never closes.
fn start_spawner_thread() -> Option<mpsc::Sender<SpawnRequest>> {
    let (requests, incoming) = mpsc::channel::<SpawnRequest>();
    thread::Builder::new()
        .name("devkit-spawner".into())
        .spawn(move || {
            for (mut command, reply_to) in incoming {
                // The requester blocks on the reply, so the send cannot fail in practice.
                let _ = reply_to.send(command.spawn());
            }
        })
        .ok()
        .map(|_| requests)
}

/// Child pids of every thread of `pid` (children of a spawner thread are listed under it).
pub fn children_of(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .into_iter()
        .flatten();
    tasks
        .map_while(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether the process exists and is not a zombie waiting for a reaper.
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// Whether process `pid` holds the socket listening on TCP `port` (IPv4 or IPv6).
///
/// A port picked free can be taken by another test's service before ours binds it; then our
/// service exits, but the other answers on the port. Asking the kernel who listens tells the
/// two apart.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.map_while(Result::ok).any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            inodes
                .iter()
                .any(|inode| target == format!("socket:[{inode}]"))
        })
    })
}

/// Inodes of the sockets in state LISTEN on `port`, from `/proc/net/tcp` and `tcp6`.
fn listening_inodes(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let local_port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|line| {
                    let columns: Vec<&str> = line.split_whitespace().collect();
                    let listening = columns.get(3) == Some(&LISTEN)
                        && columns.get(1).is_some_and(|a| a.ends_with(&local_port));
                    listening.then(|| columns.get(9).map(|i| (*i).to_owned()))?
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod listen_tests {
    use super::*;

    #[test]
    fn the_listener_of_a_port_is_found_and_no_other_process_is() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        assert!(listens_on(std::process::id(), port));
        assert!(!listens_on(1, port));
        drop(listener);
        assert!(!listens_on(std::process::id(), port));
    }
}
