//! Sequential chunked gradient difference, the method that won SemEval-2025 Task 4.

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::method::{DataPlan, LossTerms, RetainTerm, StepContext, Trainable, UnlearningMethod};

/// Unlearns the forget set chunk by chunk; each forget example is paired with several retain
/// examples; loss `forget_weight·(−NLL_f) + retain_weight·NLL_r`; only the last layers train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequentialGd {
    /// Forget examples per chunk.
    pub chunk_size: usize,
    /// Retain examples per forget example.
    pub retain_per_forget: usize,
    /// Weight of the (negated) forget NLL.
    pub forget_weight: f64,
    /// Weight of the retain NLL.
    pub retain_weight: f64,
    /// Layers trained, counted from the top (0: all).
    pub last_layers: usize,
}

impl Default for SequentialGd {
    fn default() -> Self {
        SequentialGd {
            chunk_size: 32,
            retain_per_forget: 7,
            forget_weight: 1.0,
            retain_weight: 0.5,
            last_layers: 8,
        }
    }
}

impl UnlearningMethod for SequentialGd {
    fn name(&self) -> &str {
        "seq-gd"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn trainable(&self, _num_layers: usize) -> Option<Trainable> {
        (self.last_layers > 0).then_some(Trainable::LastLayers(self.last_layers))
    }
    fn data_plan(&self) -> DataPlan {
        DataPlan {
            chunk_size: Some(self.chunk_size.max(1)),
            retain_per_forget: Some(self.retain_per_forget),
        }
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        ctx.with_retain(
            ctx.nll(ctx.forget).neg(),
            self.forget_weight,
            RetainTerm::Nll,
            self.retain_weight,
        )
    }
}
