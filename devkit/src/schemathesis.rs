//! Property-based testing of a running service against its own OpenAPI document with
//! schemathesis (a Python tool): it generates valid and invalid requests from the document and
//! checks every answer is documented, of the documented type and shape, and never a 5xx.
//!
//! `scripts/test.sh` installs the pinned version into a cached virtualenv and exports its path
//! as `SCHEMATHESIS`; without it, `schemathesis` must be on the `PATH`.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

/// The version `scripts/test.sh` installs.
pub const VERSION: &str = "4.32.5";

/// Every check but `positive_data_acceptance`: a document cannot state every rule (an
/// existing currency, a birth year 18 years back), so schema-valid data may still be a 422.
const EXCLUDED_CHECKS: &str = "positive_data_acceptance";

/// What the `negative_data_rejection` check takes as a refusal of invalid data: its own
/// list, and 413, the answer to a body over the size limit. A batch past its `maxItems` of
/// large records is over the limit before it is counted, and 413 is how it is refused.
const CONFIG: &str = r#"[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"#;

/// Longest a whole run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs schemathesis against `{base_url}/openapi.json` with at most `max_examples` generated
/// requests per operation and phase, sending `authorization` (e.g. `Bearer slp_…`) on each;
/// its `ignored_auth` check also tries every secured operation without it. `Err` holds its
/// whole report when any check failed.
pub async fn run(base_url: &str, max_examples: u32, authorization: &str) -> Result<String> {
    let program = std::env::var_os("SCHEMATHESIS").unwrap_or_else(|| "schemathesis".into());
    let workdir = tempfile::tempdir().context("Failed to create a working directory")?;
    // Read from the working directory, as schemathesis looks for it there.
    std::fs::write(workdir.path().join("schemathesis.toml"), CONFIG)
        .context("Failed to write schemathesis.toml")?;
    let mut command = Command::new(&program);
    command
        .args(["run", &format!("{base_url}/openapi.json")])
        .args(["--checks", "all", "--exclude-checks", EXCLUDED_CHECKS])
        .args(["--max-examples", &max_examples.to_string()])
        .args(["--header", &format!("Authorization: {authorization}")])
        .args(["--request-timeout", "10", "--generation-database", "none"])
        .arg("--no-color")
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .with_context(|| format!("schemathesis did not finish within {RUN_TIMEOUT:?}"))?
        .with_context(|| {
            format!(
                "Failed to run {}: install schemathesis {VERSION} (`./scripts/test.sh` does) \
                 or point SCHEMATHESIS at it",
                program.to_string_lossy()
            )
        })?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        bail!("schemathesis found problems ({}):\n{report}", output.status);
    }
    Ok(report)
}
