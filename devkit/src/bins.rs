//! Locating the workspace's own binaries (api, producer, consumer, ...) from tests and tools.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Path of the workspace binary `name` in the same Cargo target directory and profile as the
/// running executable (`target/<profile>/<name>`).
///
/// Test executables live in `target/<profile>/deps/`, `slipstream-dev` in
/// `target/<profile>/`; both lead to the same place, so a `cargo test --release` uses release
/// services. When the running executable is outside a target directory, `CARGO_TARGET_DIR`
/// (with the same profile name) is tried too.
///
/// # Panics
/// When the binary is not built, with a message telling to run `cargo build --bins`: tests
/// that need a service cannot do anything useful without it.
pub fn workspace_bin(name: &str) -> PathBuf {
    match find_bin(name) {
        Ok(path) => path,
        Err(error) => panic!("{error:#}"),
    }
}

/// Like [`workspace_bin`], but returns an error instead of panicking.
pub fn find_bin(name: &str) -> Result<PathBuf> {
    let profile_dir = current_profile_dir()?;
    let file = format!("{name}{}", env::consts::EXE_SUFFIX);
    let mut candidates = vec![profile_dir.join(&file)];
    if let (Some(target), Some(profile)) =
        (env::var_os("CARGO_TARGET_DIR"), profile_dir.file_name())
    {
        candidates.push(Path::new(&target).join(profile).join(&file));
    }
    if let Some(found) = candidates.iter().find(|path| path.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "binary `{name}` not found at {}: build the workspace binaries first with \
         `cargo build --bins` (add `--release` for a release profile)",
        candidates[0].display()
    )
}

/// The `target/<profile>` directory holding the running executable.
pub fn current_profile_dir() -> Result<PathBuf> {
    let exe = env::current_exe().context("Failed to locate the running executable")?;
    let mut dir = exe
        .parent()
        .with_context(|| format!("{} has no parent directory", exe.display()))?;
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    Ok(dir.to_path_buf())
}
