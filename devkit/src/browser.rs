//! Debian's headless Chromium, cut off from every host but 127.0.0.1: what a reader inside a
//! closed network sees of a page, after its scripts ran.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// Chromium with no name resolving but loopback, no first-run noise, and time for a page's
/// scripts to render (virtual time: the browser skips idle waits).
fn offline_chromium() -> Command {
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
    ]);
    command
}

/// The DOM of `url` once its scripts ran, as the offline browser renders it.
pub fn rendered_dom(url: &str) -> anyhow::Result<String> {
    let output = offline_chromium()
        .args(["--dump-dom", url])
        .output()
        .context("Failed to run `chromium`: install Debian's `chromium` package")?;
    if !output.status.success() {
        bail!(
            "chromium {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A PNG screenshot of `url`, 1280 × `height` pixels, as the offline browser renders it.
pub fn screenshot(url: &str, height: u32, png: &Path) -> anyhow::Result<()> {
    let status = offline_chromium()
        .arg(format!("--window-size=1280,{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .context("Failed to run `chromium`: install Debian's `chromium` package")?
        .status;
    if !status.success() {
        bail!("chromium {status} taking a screenshot of {url}");
    }
    Ok(())
}
