//! [`Observer`]: what a long benchmark step reports while it runs, for a progress display.

use lume_model::BulkProgress;
use lume_unlearn::TrainObserver;

use crate::leaderboard::Checks;

/// A piece of work of the benchmark, on one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Training a tokenizer on the data and building a fresh model.
    Init,
    /// Fine-tuning the target or gold model.
    FineTuning,
    /// Running an unlearning method.
    Unlearning,
    /// Inference and scoring.
    Evaluation,
}

/// Hears about the benchmark's progress. Every method does nothing by default; training
/// progress comes through the [`TrainObserver`] methods.
pub trait Observer: TrainObserver {
    /// `work` on `model` starts, or (`reused`) is skipped because a finished stage made from
    /// the same inputs is on disk.
    fn stage(&mut self, _model: &str, _work: Work, _reused: bool) {}
    /// `done` of `total` units of inference (rows generated and scored, documents scored).
    fn inference(&mut self, _done: usize, _total: usize) {}
    /// Inference finished: what it did, per phase.
    fn inference_done(&mut self, _totals: &BulkProgress) {}
    /// The memorization checks of the target and gold models, before any method runs.
    fn checks(&mut self, _checks: &Checks) {}
    /// What the run is doing, in a line (the data it drew).
    fn note(&mut self, _message: &str) {}
    /// Something the user should know that does not stop the run.
    fn warning(&mut self, _message: &str) {}
}

/// An observer that hears nothing.
impl Observer for lume_unlearn::Silent {}
