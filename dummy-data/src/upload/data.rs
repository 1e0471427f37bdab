//! A generated directory read back for upload: each file's lines, kept as the JSON text the
//! producer takes, and the ids `--verify` looks for.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// One kind of record and what the directory holds of it.
#[derive(Debug)]
pub struct Entity {
    /// `users`, `events` or `coupons`: the file's stem and the path on both services.
    pub name: &'static str,
    pub records: Vec<String>,
    pub ids: Vec<u64>,
}

/// In upload order: a coupon names users and events, so those go first.
pub const ORDER: [&str; 3] = ["users", "events", "coupons"];

#[derive(Deserialize)]
struct WithId {
    id: Option<u64>,
}

/// Reads `users.jsonl`, `events.jsonl` and `coupons.jsonl` from `dir`, in upload order.
pub fn load(dir: &Path) -> Result<Vec<Entity>> {
    ORDER.iter().map(|name| load_entity(dir, name)).collect()
}

fn load_entity(dir: &Path, name: &'static str) -> Result<Entity> {
    let path = dir.join(format!("{name}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    let records: Vec<String> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let ids = records
        .iter()
        .enumerate()
        .map(|(n, line)| id_of(line).with_context(|| format!("{}:{}", path.display(), n + 1)))
        .collect::<Result<_>>()?;
    Ok(Entity { name, records, ids })
}

/// Every record must carry its id: resending it is then harmless (the api stores a record
/// once per id and content), and `--verify` knows what to ask the api for.
fn id_of(line: &str) -> Result<u64> {
    match serde_json::from_str::<WithId>(line).context("Not a JSON object")? {
        WithId { id: Some(id) } => Ok(id),
        WithId { id: None } => bail!("The record has no id; upload needs ids"),
    }
}
