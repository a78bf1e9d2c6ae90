//! # lume-unlearn
//!
//! Make a language model forget: the field's unlearning methods (protocol §4) behind one
//! [`UnlearningMethod`] trait, a [`Registry`] that names them (and any method a user adds), and a
//! [`train`]er with AdamW, warm-up/decay schedules, **global**-norm clipping, gradient
//! accumulation, freezing, seeded data order, atomic checkpoints, resume, and a hard stop on
//! NaN. Fine-tuning the target and gold models uses the same trainer ([`FineTune`]).
//!
//! Methods and the trainer see the model through [`lume_model::CausalModel`], so any Burn
//! model that implements it can be unlearned.
//!
//! ```
//! use lume_unlearn::Registry;
//! let registry = Registry::builtin();
//! assert!(registry.names().contains(&"npo-gd"));
//! let gd = registry.build("gd", &Default::default())?;
//! assert_eq!(gd.hyperparameters()["alpha"], 1.0);
//! # Ok::<(), lume_unlearn::UnlearnError>(())
//! ```

mod batch;
mod checkpoint;
mod logprob;
mod lora;
mod merge;
mod method;
mod methods;
mod optim;
mod refusals;
mod schedule;
mod selection;
mod trainer;

pub use batch::TensorBatch;
pub use checkpoint::{StepRecord, TrainerState, checkpoint_dir, latest_checkpoint};
pub use logprob::{
    answer_lengths, answer_log_probs, mean_kl, mean_nll, one_hot_targets, sequence_log_probs,
    shifted_log_softmax, target_log_probs, weighted_mean,
};
pub use lora::{
    ADAPTERS_FILE, LoraConfig, attach_lora, is_adapter_path, load_adapters, merge_lora,
    save_adapters,
};
pub use merge::{MergeMethod, merge_models, merge_vectors};
pub use method::{
    DataPlan, LossTerms, LossValues, MergePlan, MergeVariant, RetainTerm, StepContext, Trainable,
    UnlearningMethod,
};
pub use methods::{
    CeU, FineTune, GradientAscent, GradientDifference, IdkDpo, LoraTies, MethodFactory, Npo, Pdu,
    Registry, Rmu, SatImp, SequentialGd, SimNpo, Undial, Wga,
};
pub use optim::{
    AdamW, AdamWConfig, GradientBuffer, clip_coefficient, freeze, global_norm, parameter_paths,
};
pub use refusals::{REFUSALS, refusal_for};
pub use schedule::Schedule;
pub use selection::{KeptStep, Selection, SelectionPoint, answer_accuracy};
pub use trainer::{Silent, TrainObserver, TrainOutcome, TrainerConfig, UnlearnData, train};

/// What a method author needs besides this crate, so that `lume-unlearn` alone is enough: the
/// model, data and device types, and Burn for the tensors a loss is made of.
pub use {burn, lume_data, lume_model};

use std::path::PathBuf;

/// Why a method or a training run cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum UnlearnError {
    /// A batch has nothing to learn from.
    #[error("empty batch: {0}")]
    EmptyBatch(String),
    /// A method needs an input the trainer did not give it.
    #[error("the method needs a {0}, and none was given")]
    MissingInput(&'static str),
    /// No method of that name.
    #[error("unknown method `{name}` (known: {known})")]
    UnknownMethod {
        /// The name asked for.
        name: String,
        /// The registered names.
        known: String,
    },
    /// A hyperparameter is unknown or of the wrong type.
    #[error("method `{method}`: {message}")]
    BadHyperparameter {
        /// The method.
        method: String,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint's content is unusable.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Reading or writing a checkpoint's file or folder failed.
    #[error("checkpoint: {}: {source}", path.display())]
    CheckpointIo {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Saving or loading a model's weights in a checkpoint failed.
    #[error("checkpoint: {}: {source}", path.display())]
    Weights {
        /// The checkpoint folder.
        path: std::path::PathBuf,
        /// What the model said.
        source: lume_model::CheckpointError,
    },
    /// Writing a file of a checkpoint failed.
    #[error("checkpoint: {0}")]
    Write(#[from] lume_model::WeightsError),
    /// A method's saved state is unusable.
    #[error("method state: {0}")]
    BadState(String),
    /// The data does not fit the method.
    #[error("data: {0}")]
    Data(String),
    /// The device does not fit.
    #[error("device: {0}")]
    Device(String),
    /// The model cannot compute in the precision asked for.
    #[error(transparent)]
    Precision(#[from] lume_model::UnsupportedPrecision),
    /// Every parameter is frozen.
    #[error("no parameter is trainable (check `trainable` and the method's restrictions)")]
    NothingToTrain,
    /// The loss or the gradients became NaN or infinite; nothing was applied.
    #[error("step {step}: {what} is not finite; stopped before applying it{}", match last_good {
        Some(dir) => format!(" (last good checkpoint: {})", dir.display()),
        None => " (no checkpoint written yet)".to_string(),
    })]
    NonFinite {
        /// The step that failed (1-based).
        step: usize,
        /// What was not finite.
        what: String,
        /// The last checkpoint written, which stays loadable.
        last_good: Option<PathBuf>,
    },
}
