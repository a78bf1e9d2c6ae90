//! Stages cached on disk: a marker file holds the hash of what a stage was made from and
//! whether it finished, so a rerun reuses finished work, resumes unfinished work made from the
//! same inputs, and redoes anything whose inputs changed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A stable hash of anything serializable (SHA-256 of its JSON, 16 bytes in hex).
pub fn fingerprint<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One cached stage: `dir` holds its output, `dir/<marker>` its state.
pub struct Stage {
    dir: PathBuf,
    marker: PathBuf,
    hash: String,
}

impl Stage {
    pub fn new(dir: &Path, marker: &str, hash: String) -> Self {
        Stage {
            dir: dir.to_path_buf(),
            marker: dir.join(marker),
            hash,
        }
    }

    fn state(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(&self.marker).ok()?;
        let state: serde_json::Value = serde_json::from_str(&text).ok()?;
        (state["hash"] == self.hash.as_str()).then_some(state)
    }

    /// The stored value when the stage finished from the same inputs.
    pub fn finished<T: DeserializeOwned>(&self) -> Option<T> {
        let state = self.state()?;
        if state["complete"] != true {
            return None;
        }
        serde_json::from_value(state["value"].clone()).ok()
    }

    /// Before running: keeps an unfinished attempt from the same inputs (to resume), clears
    /// anything else.
    pub fn start(&self) -> anyhow::Result<()> {
        if self.state().is_none() {
            self.reset()?;
        }
        self.write(false, &())
    }

    /// Empties the stage's folder.
    pub fn reset(&self) -> anyhow::Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("clearing {}", self.dir.display()))?;
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))
    }

    /// Marks the stage finished with `value`.
    pub fn finish<T: Serialize>(&self, value: &T) -> anyhow::Result<()> {
        self.write(true, value)
    }

    fn write<T: Serialize>(&self, complete: bool, value: &T) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        crate::commands::write_json(
            &self.marker,
            &serde_json::json!({
                "hash": self.hash,
                "complete": complete,
                "value": value,
            }),
        )
    }
}
