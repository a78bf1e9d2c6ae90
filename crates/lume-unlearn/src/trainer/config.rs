//! [`TrainerConfig`]: every knob of a training run.

use lume_model::Precision;
use serde::{Deserialize, Serialize};

use crate::lora::LoraConfig;
use crate::method::Trainable;
use crate::optim::AdamWConfig;
use crate::schedule::Schedule;
use crate::selection::Selection;

/// Every knob of a training run. Defaults follow open-unlearning's unlearning runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainerConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Shape after warm-up.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// AdamW's other hyperparameters.
    pub optimizer: AdamWConfig,
    /// Clip the global gradient norm to this (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Micro-batches per optimizer step.
    pub grad_accumulation: usize,
    /// Passes over the forget set (over each chunk, for chunked methods).
    pub epochs: usize,
    /// Stop after this many optimizer steps.
    pub max_steps: Option<usize>,
    /// Forget (or training) examples per micro-batch.
    pub batch_size: usize,
    /// Retain examples per forget example, unless the method says otherwise.
    pub retain_per_forget: usize,
    /// Shuffle the data each epoch.
    pub shuffle: bool,
    /// Batch forget (or training) examples of like length, so batches are mostly real
    /// tokens rather than padding (see [`PairedSampler::grouped_by_length`](lume_data::PairedSampler::grouped_by_length)); the retain
    /// batches paired with them are drawn as before. Off by default, as in Hugging Face's
    /// trainer.
    pub group_by_length: bool,
    /// Seed of the data order (and of nothing else: weights come from the model given).
    pub seed: u64,
    /// Parameters that train, unless the method restricts them.
    pub trainable: Trainable,
    /// Write a checkpoint every this many steps (and always after the last one).
    pub checkpoint_every: Option<usize>,
    /// Also write one when this many minutes of training passed since the last (only the
    /// latest is kept), so a killed run loses at most that much; `None`: by steps only.
    pub checkpoint_minutes: Option<f64>,
    /// Call the observer's evaluation every this many steps.
    pub eval_every: Option<usize>,
    /// Checkpoint selection: score the run every few steps and return the best eligible
    /// step's weights instead of the last's (see [`Selection`]); `None`: the last step's.
    pub select: Option<Selection>,
    /// Train LoRA adapters instead of the weights, merged into them at the end (a method's
    /// own adapters take precedence).
    pub lora: Option<LoraConfig>,
    /// The precision of the matrix products, forward and backward (the model's and its frozen
    /// reference's); master weights, gradients and AdamW's state stay f32 (see [`Precision`]).
    pub precision: Precision,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            learning_rate: 1e-5,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            optimizer: AdamWConfig::default(),
            max_grad_norm: Some(1.0),
            grad_accumulation: 1,
            epochs: 5,
            max_steps: None,
            batch_size: 4,
            retain_per_forget: 1,
            shuffle: true,
            group_by_length: false,
            seed: 0,
            trainable: Trainable::All,
            checkpoint_every: None,
            checkpoint_minutes: Some(5.0),
            eval_every: None,
            select: None,
            lora: None,
            precision: Precision::F32,
        }
    }
}
