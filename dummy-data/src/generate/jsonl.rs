//! JSON Lines files: one record per line, exactly the body the producer and the api accept.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Streams `records` to `path` and returns how many were written and the file's size.
pub fn write<T: Serialize>(
    path: &Path,
    records: impl IntoIterator<Item = Result<T>>,
) -> Result<(u64, u64)> {
    let file =
        File::create(path).with_context(|| format!("Failed to create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut count = 0;
    for record in records {
        serde_json::to_writer(&mut out, &record?)
            .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io))
            .with_context(|| format!("Failed to write to {}", path.display()))?;
        count += 1;
    }
    out.flush()
        .with_context(|| format!("Failed to write to {}", path.display()))?;
    let bytes = out
        .get_ref()
        .metadata()
        .with_context(|| format!("Failed to read the size of {}", path.display()))?
        .len();
    Ok((count, bytes))
}
