//! Checkpoints on disk: written to a temporary folder, then renamed into place, so a crash
//! never leaves a half-written checkpoint where a resume would find it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::method::LossValues;
use crate::selection::{KeptStep, SelectionPoint};

/// One optimizer step, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based step number.
    pub step: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Loss values (means over accumulated micro-batches).
    pub loss: LossValues,
    /// Real (not padding) tokens the step ran through the model: forget, retain and refusal
    /// rows of its micro-batches.
    #[serde(default)]
    pub tokens: usize,
    /// Tokens with padding: what the step computed.
    #[serde(default)]
    pub padded_tokens: usize,
}

/// `trainer_state.json`: where a run stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    /// Steps the run will take.
    pub total_steps: usize,
    /// The method's own state (PDU's λ).
    pub method_state: serde_json::Value,
    /// Every step so far.
    pub history: Vec<StepRecord>,
    /// The step checkpoint selection keeps so far (its weights in `selected-<step>` beside
    /// the checkpoints).
    #[serde(default)]
    pub selected: Option<KeptStep>,
    /// Checkpoint selection's evaluations so far.
    #[serde(default)]
    pub selection: Vec<SelectionPoint>,
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), UnlearnError> {
    Ok(lume_model::write_atomically(path, bytes)?)
}

/// `run_dir/checkpoint-<step>`.
pub fn checkpoint_dir(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join(format!("checkpoint-{step}"))
}

/// The checkpoint with the highest step in `run_dir`, if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<(usize, PathBuf)> {
    std::fs::read_dir(run_dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let step = name.strip_prefix("checkpoint-")?.parse().ok()?;
            entry
                .path()
                .join("trainer_state.json")
                .is_file()
                .then(|| (step, entry.path()))
        })
        .max_by_key(|(step, _)| *step)
}

/// Fills `run_dir/checkpoint-<step>` through `fill` (given a temporary folder), renames it into
/// place, then removes older checkpoints.
pub(crate) fn commit_checkpoint(
    run_dir: &Path,
    step: usize,
    fill: impl FnOnce(&Path) -> Result<(), UnlearnError>,
) -> Result<PathBuf, UnlearnError> {
    let io = |p: &Path, source: std::io::Error| UnlearnError::CheckpointIo {
        path: p.to_path_buf(),
        source,
    };
    let tmp = run_dir.join(format!(".checkpoint-{step}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    fill(&tmp)?;
    let target = checkpoint_dir(run_dir, step);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| io(&target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| io(&target, e))?;
    for entry in std::fs::read_dir(run_dir)
        .map_err(|e| io(run_dir, e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let older = name
            .strip_prefix("checkpoint-")
            .and_then(|s| s.parse::<usize>().ok())
            .is_some_and(|s| s < step);
        if older {
            std::fs::remove_dir_all(entry.path()).map_err(|e| io(&entry.path(), e))?;
        }
    }
    Ok(target)
}
