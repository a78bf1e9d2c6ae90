//! Checkpoint selection inside a run (MUSE's stopping rule): every few steps the model is
//! scored teacher-forced on the forget and retain examples, and the run's result is the
//! evaluated step with the lowest forget score whose retain score holds a floor, not
//! whatever the last step left.
//!
//! Scoring is teacher-forced only (no generation): an example's score is the fraction of its
//! answer tokens the model predicts as its argmax, given the true prefix — what greedy
//! regurgitation and exact-match knowledge measure, at the cost of one forward pass.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use lume_data::{Batch, PaddingSide, TrainingExample};
use lume_model::CausalModel;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::batch::TensorBatch;
use crate::lora::{ADAPTERS_FILE, load_adapters, save_adapters};
use crate::trainer::UnlearnData;

/// `[trainer.select]`: when and against what floor a run keeps its best step.
///
/// ```
/// use lume_unlearn::{Selection, TrainerConfig};
///
/// // Score every 8 steps; keep the lowest forget score whose retain score is ≥ 90 % of the
/// // starting model's.
/// let config = TrainerConfig {
///     select: Some(Selection { every: 8, retain_floor: 0.9 }),
///     ..TrainerConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Score every this many optimizer steps (and after the last).
    pub every: usize,
    /// A step is eligible when its retain score is at least this fraction of the starting
    /// model's (0.9 when not given).
    #[serde(default = "default_retain_floor")]
    pub retain_floor: f64,
}

fn default_retain_floor() -> f64 {
    0.9
}

/// One evaluation of a run with [`Selection`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SelectionPoint {
    /// The optimizer step evaluated (1-based).
    pub step: usize,
    /// Mean answer accuracy over the forget examples.
    pub forget: f64,
    /// Mean answer accuracy over the retain examples.
    pub retain: f64,
    /// The least retain score an eligible step has.
    pub floor: f64,
    /// Whether this step is now the one the run keeps.
    pub kept: bool,
}

/// The step a run keeps, as its checkpoint records it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KeptStep {
    /// The step.
    pub step: usize,
    /// Its forget score.
    pub forget: f64,
}

const SCORE_BATCH: usize = 8;

/// Teacher-forced answer accuracy of each example: the fraction of its counted (answer)
/// tokens that are the model's argmax given the true prefix. Examples run in batches of like
/// length; each must count at least one token.
pub fn answer_accuracy(
    model: &dyn CausalModel,
    examples: &[TrainingExample],
    pad_id: u32,
    device: &Device,
) -> Result<Vec<f64>, UnlearnError> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].input_ids.len());
    let mut accuracy = vec![0.0; examples.len()];
    for chunk in order.chunks(SCORE_BATCH) {
        let rows: Vec<&TrainingExample> = chunk.iter().map(|&i| &examples[i]).collect();
        let batch = TensorBatch::new(&Batch::collate(&rows, pad_id, PaddingSide::Right), device)?;
        let logits = model.logits_at(
            batch.ids.clone(),
            Some(&batch.attention_mask),
            &batch.counted_positions,
        );
        let argmax: Vec<i64> = logits
            .argmax(1)
            .into_data()
            .try_to_vec_as::<i64>()
            .map_err(|e| UnlearnError::Device(format!("reading predictions back: {e:?}")))?;
        let mut at = 0;
        for (&row, &n) in chunk.iter().zip(&batch.counted) {
            let hits = (at..at + n)
                .filter(|&k| argmax[k] == batch.counted_targets[k])
                .count();
            accuracy[row] = hits as f64 / n.max(1) as f64;
            at += n;
        }
    }
    Ok(accuracy)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// `run_dir/selected-<step>`: the weights (or adapters) of a kept step.
fn selected_dir(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join(format!("selected-{step}"))
}

/// A run's selection: the floor from the starting model, and the best step so far with its
/// weights.
pub(crate) struct Selector<M> {
    every: usize,
    floor: f64,
    kept: Option<(KeptStep, M)>,
    pub(crate) points: Vec<SelectionPoint>,
}

impl<M: CausalModel + Module> Selector<M> {
    /// The floor of `selection` from `start`, the model before its first step.
    pub(crate) fn new(
        selection: Selection,
        start: &M,
        data: &UnlearnData,
        device: &Device,
    ) -> Result<Self, UnlearnError> {
        if selection.every == 0 {
            return Err(UnlearnError::Data(
                "trainer.select.every must be at least 1".into(),
            ));
        }
        if data.retain.is_empty() {
            return Err(UnlearnError::Data(
                "checkpoint selection (trainer.select) needs retain examples, and there are none"
                    .into(),
            ));
        }
        let start = answer_accuracy(&start.valid(), &data.retain, data.pad_id, device)?;
        Ok(Selector {
            every: selection.every,
            floor: selection.retain_floor * mean(&start),
            kept: None,
            points: Vec::new(),
        })
    }

    /// Whether step `done` of `total` is evaluated.
    pub(crate) fn due(&self, done: usize, total: usize) -> bool {
        done.is_multiple_of(self.every) || done == total
    }

    /// Scores `model` at step `step`; keeps its weights when eligible and better than the
    /// kept ones (into `run_dir` too, when given).
    pub(crate) fn consider(
        &mut self,
        step: usize,
        model: &M,
        data: &UnlearnData,
        device: &Device,
        persist: Option<(&Path, bool)>,
    ) -> Result<SelectionPoint, UnlearnError> {
        let valid = model.valid();
        let forget = mean(&answer_accuracy(&valid, &data.forget, data.pad_id, device)?);
        let retain = mean(&answer_accuracy(&valid, &data.retain, data.pad_id, device)?);
        let kept = retain >= self.floor
            && self
                .kept
                .as_ref()
                .is_none_or(|(best, _)| forget < best.forget);
        if kept {
            if let Some((run_dir, lora)) = persist {
                save_weights(&selected_dir(run_dir, step), model, lora)?;
            }
            self.kept = Some((KeptStep { step, forget }, model.clone()));
        }
        let point = SelectionPoint {
            step,
            forget,
            retain,
            floor: self.floor,
            kept,
        };
        self.points.push(point);
        Ok(point)
    }

    /// The kept step, for the checkpoint's record.
    pub(crate) fn kept_step(&self) -> Option<KeptStep> {
        self.kept.as_ref().map(|(k, _)| *k)
    }

    /// Brings back the kept step a checkpoint records (its weights from `run_dir`, loaded
    /// into `model`'s structure) and removes every other kept folder.
    pub(crate) fn resume(
        &mut self,
        run_dir: &Path,
        kept: Option<KeptStep>,
        points: Vec<SelectionPoint>,
        model: &M,
        lora: bool,
        device: &Device,
    ) -> Result<(), UnlearnError> {
        self.points = points;
        if let Some(kept) = kept {
            let dir = selected_dir(run_dir, kept.step);
            let weights = if lora {
                load_adapters(model.clone(), &dir.join(ADAPTERS_FILE))?
            } else {
                model
                    .clone()
                    .load_checkpoint(&dir, device)
                    .map_err(|source| UnlearnError::Weights { path: dir, source })?
            };
            self.kept = Some((kept, weights));
        }
        self.prune(run_dir)
    }

    /// Removes the kept folders of every step but the kept one (after a checkpoint that
    /// records it, or at a resume, where later ones are stale).
    pub(crate) fn prune(&self, run_dir: &Path) -> Result<(), UnlearnError> {
        let keep = self.kept_step().map(|k| k.step);
        let Ok(entries) = std::fs::read_dir(run_dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let step = name
                .strip_prefix("selected-")
                .and_then(|s| s.parse::<usize>().ok());
            if step.is_some_and(|s| Some(s) != keep) {
                std::fs::remove_dir_all(entry.path()).map_err(|source| {
                    UnlearnError::CheckpointIo {
                        path: entry.path(),
                        source,
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The kept weights, if any step was eligible.
    pub(crate) fn into_kept(self) -> Option<(usize, M)> {
        self.kept.map(|(k, m)| (k.step, m))
    }
}

/// Writes `model`'s weights (its adapters alone with `lora`) into `dir` through a temporary
/// folder renamed into place.
pub(crate) fn save_weights<M: CausalModel + Module>(
    dir: &Path,
    model: &M,
    lora: bool,
) -> Result<(), UnlearnError> {
    let io = |p: &Path, source: std::io::Error| UnlearnError::CheckpointIo {
        path: p.to_path_buf(),
        source,
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.with_file_name(format!(".{name}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    write_weights(&tmp, model, lora)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))
}

/// Writes `model`'s weights into `dir`, and its adapters too with `lora`.
pub(crate) fn write_weights<M: CausalModel + Module>(
    dir: &Path,
    model: &M,
    lora: bool,
) -> Result<(), UnlearnError> {
    model
        .save_checkpoint(dir)
        .map_err(|source| UnlearnError::Weights {
            path: dir.to_path_buf(),
            source,
        })?;
    if lora {
        save_adapters(model, &dir.join(ADAPTERS_FILE))?;
    }
    Ok(())
}
