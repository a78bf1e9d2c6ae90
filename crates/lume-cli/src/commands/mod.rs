//! One module per `lume` subcommand.

pub mod bench;
pub mod convert;
pub mod data;
pub mod eval;
pub mod perf;
pub mod run_config;
pub mod score;
pub mod unlearn;

use std::path::Path;

use anyhow::Context;

/// Writes pretty JSON through a temporary file renamed into place.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
