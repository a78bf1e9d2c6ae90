//! Stages cached on disk: a marker file holds the hash of what a stage was made from and
//! whether it finished, so a rerun reuses finished work, resumes unfinished work made from the
//! same inputs, and redoes anything whose inputs changed. Every key also holds lume's version,
//! its numerics version and the CPU's kernel path ([`lume_model::Numerics`]): an upgrade that
//! moves results, or another machine, redoes the work.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{BenchError, write_json};

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
    /// The stage whose output is `dir`, its state in `dir/<marker>`, made from inputs hashing
    /// to `hash` with this build's numerics.
    pub fn new(dir: &Path, marker: &str, hash: String) -> Self {
        Stage {
            dir: dir.to_path_buf(),
            marker: dir.join(marker),
            hash: fingerprint(&(hash, lume_model::Numerics::current())),
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
    pub fn start(&self) -> Result<(), BenchError> {
        if self.state().is_none() {
            self.reset()?;
        }
        self.write(false, &())
    }

    /// Empties the stage's folder.
    pub fn reset(&self) -> Result<(), BenchError> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(BenchError::io(&self.dir))?;
        }
        std::fs::create_dir_all(&self.dir).map_err(BenchError::io(&self.dir))
    }

    /// Marks the stage finished with `value`.
    pub fn finish<T: Serialize>(&self, value: &T) -> Result<(), BenchError> {
        self.write(true, value)
    }

    fn write<T: Serialize>(&self, complete: bool, value: &T) -> Result<(), BenchError> {
        std::fs::create_dir_all(&self.dir).map_err(BenchError::io(&self.dir))?;
        write_json(
            &self.marker,
            &serde_json::json!({
                "hash": self.hash,
                "complete": complete,
                "value": value,
            }),
        )
    }
}
