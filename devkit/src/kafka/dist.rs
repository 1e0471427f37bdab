//! Fetching the broker jars once per user, safely from several processes at a time.
//!
//! Test binaries run in parallel and each may be the first to need Kafka, so the fetch is
//! serialised with an exclusive `flock` on a file in the cache, and a marker written last
//! tells a complete fetch from one that was interrupted (which is then redone).

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::{class_archive, KAFKA_VERSION};
use crate::notice;
use crate::process::{Logs, Service};

/// The Maven project resolving the broker and its runtime dependencies. It is compiled in, so
/// `slipstream-dev` works from any directory, and doubles as the cache's completion marker:
/// editing the pom makes every cache stale and fetched again.
const POM: &str = include_str!("../../../tools/kafka/pom.xml");
/// The broker's logging configuration, written next to each broker's settings.
pub(crate) const LOG4J2_CONFIG: &str = include_str!("../../../tools/kafka/log4j2.properties");

/// A complete local copy of the broker's jars.
#[derive(Debug, Clone)]
pub struct KafkaDist {
    home: PathBuf,
}

impl KafkaDist {
    /// The folder holding every jar the broker needs.
    pub fn lib_dir(&self) -> PathBuf {
        self.home.join("lib")
    }

    /// The `java -cp` argument: every jar of [`Self::lib_dir`].
    pub fn classpath(&self) -> String {
        format!("{}/*", self.lib_dir().display())
    }

    /// Where the JVM class-data archive that speeds up start-up lives (if it could be made).
    pub(crate) fn class_archive(&self) -> PathBuf {
        self.home.join("kafka.jsa")
    }

    pub(crate) fn home(&self) -> &Path {
        &self.home
    }

    fn marker(&self) -> PathBuf {
        self.home.join("complete")
    }

    fn is_complete(&self) -> bool {
        fs::read_to_string(self.marker()).is_ok_and(|content| content == POM)
    }
}

/// The per-user cache: `$SLIPSTREAM_CACHE_DIR`, else `$XDG_CACHE_HOME/slipstream`, else
/// `~/.cache/slipstream`.
pub fn cache_dir() -> Result<PathBuf> {
    let non_empty = |name| env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("SLIPSTREAM_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return Ok(Path::new(&dir).join("slipstream"));
    }
    let home = non_empty("HOME")
        .context("Neither SLIPSTREAM_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")?;
    Ok(Path::new(&home).join(".cache").join("slipstream"))
}

/// Returns the broker jars, fetching them with Maven first if this user has no complete copy.
pub fn fetch() -> Result<KafkaDist> {
    let dist = KafkaDist {
        home: cache_dir()?.join(format!("kafka-{KAFKA_VERSION}")),
    };
    if dist.is_complete() {
        return Ok(dist);
    }
    fs::create_dir_all(&dist.home)
        .with_context(|| format!("Failed to create {}", dist.home.display()))?;
    let _lock = lock_exclusive(&dist.home.join("fetch.lock"))?;
    if dist.is_complete() {
        return Ok(dist); // Another process finished the fetch while we waited for the lock.
    }
    remove_if_present(&dist.marker())?;
    fetch_jars(&dist)?;
    class_archive::build(&dist);
    fs::write(dist.marker(), POM)
        .with_context(|| format!("Failed to write {}", dist.marker().display()))?;
    Ok(dist)
}

/// Runs Maven to copy the broker and its runtime dependencies into a fresh `lib/`.
fn fetch_jars(dist: &KafkaDist) -> Result<()> {
    let lib = dist.lib_dir();
    notice(&format!(
        "fetching Apache Kafka {KAFKA_VERSION} jars with Maven into {}",
        lib.display()
    ));
    if lib.exists() {
        fs::remove_dir_all(&lib).with_context(|| format!("Failed to remove {}", lib.display()))?;
    }
    let pom = dist.home.join("pom.xml");
    fs::write(&pom, POM).with_context(|| format!("Failed to write {}", pom.display()))?;
    let mut maven = Command::new("mvn");
    maven
        .args(["-B", "-q", "-Dstyle.color=never", "-f"])
        .arg(&pom)
        .args(["dependency:copy-dependencies", "-DincludeScope=runtime"])
        .arg(format!("-DoutputDirectory={}", lib.display()));
    let mut run = Service::spawn("maven", maven, Logs::Dir(dist.home.clone()))
        .context("Failed to run Maven (`mvn`), which fetches the Kafka jars: is it installed?")?;
    let status = run.wait()?;
    let broker_jar = lib.join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    if !status.success() || !broker_jar.is_file() {
        bail!(
            "Maven failed to fetch the Kafka jars ({status}):\n{}",
            run.log_tail(30)
        );
    }
    Ok(())
}

pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("Failed to remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Takes an exclusive advisory lock on the file at `path`, released when the returned file is
/// dropped (or when the process dies, so a killed fetch never leaves the cache locked).
fn lock_exclusive(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("Failed to open the lock file {}", path.display()))?;
    file.lock()
        .with_context(|| format!("Failed to lock {}", path.display()))?;
    Ok(file)
}
