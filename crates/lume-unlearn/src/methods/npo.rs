//! NPO and SimNPO: preference-style forgetting with a bounded loss (protocol §4).

use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::logprob::answer_lengths;
use crate::method::{LossTerms, RetainTerm, StepContext, UnlearningMethod};

/// `−(2/β)·mean log σ(x)`: the bounded loss NPO, SimNPO and DPO share.
fn preference_loss(x: burn::tensor::Tensor<1>, beta: f64) -> burn::tensor::Tensor<1> {
    log_sigmoid(x).mean().mul_scalar(-2.0 / beta)
}

/// NPO's forget term on the context's forget batch.
pub(super) fn npo_forget_loss(
    ctx: &StepContext<'_>,
    beta: f64,
) -> Result<burn::tensor::Tensor<1>, UnlearnError> {
    let batch = ctx.forget;
    let ratio = ctx.sequence_log_probs(batch) - ctx.reference_sequence_log_probs(batch)?;
    Ok(preference_loss(ratio.mul_scalar(-beta), beta))
}

/// NPO: `−(2/β)·mean log σ(−β·(log π_θ(y|x) − log π_ref(y|x)))` on forget, plus an optional
/// retain term (`npo-gd`: NLL, `npo-kl`: KL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Npo {
    /// Inverse temperature β.
    pub beta: f64,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain term.
    pub alpha: f64,
    /// Retain term.
    pub retain: RetainTerm,
}

impl Npo {
    /// NPO with β = 0.1 and the given retain term.
    pub fn with_retain(retain: RetainTerm) -> Self {
        Npo {
            beta: 0.1,
            gamma: 1.0,
            alpha: 1.0,
            retain,
        }
    }
}

impl UnlearningMethod for Npo {
    fn name(&self) -> &str {
        match self.retain {
            RetainTerm::None => "npo",
            RetainTerm::Nll => "npo-gd",
            RetainTerm::Kl => "npo-kl",
        }
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        true
    }
    fn needs_retain(&self) -> bool {
        self.retain != RetainTerm::None
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = npo_forget_loss(ctx, self.beta)?;
        ctx.with_retain(forget, self.gamma, self.retain, self.alpha)
    }
}

/// SimNPO: `−(2/β)·mean log σ(β·NLL_θ(y|x)/|y| − δ)` (the paper's margin), no reference model,
/// plus α·NLL on retain. open-unlearning scales the margin by β too, `σ(β·(NLL/|y| − δ))`:
/// `delta_scaled_by_beta = true` gives its numbers. The two agree at the default δ = 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimNpo {
    /// Inverse temperature β.
    pub beta: f64,
    /// Margin δ.
    pub delta: f64,
    /// open-unlearning's form, `β·(NLL/|y| − δ)`, instead of the paper's `β·NLL/|y| − δ`.
    pub delta_scaled_by_beta: bool,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
}

impl Default for SimNpo {
    fn default() -> Self {
        SimNpo {
            beta: 4.5,
            delta: 0.0,
            delta_scaled_by_beta: false,
            gamma: 0.125,
            alpha: 1.0,
        }
    }
}

impl UnlearningMethod for SimNpo {
    fn name(&self) -> &str {
        "simnpo"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let batch = ctx.forget;
        let normalised = ctx.sequence_log_probs(batch).neg() / answer_lengths(batch);
        let margin = if self.delta_scaled_by_beta {
            self.beta * self.delta
        } else {
            self.delta
        };
        let forget = preference_loss(
            normalised.mul_scalar(self.beta).sub_scalar(margin),
            self.beta,
        );
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}

/// IdkDPO: DPO preferring a refusal over the forget answer,
/// `−(2/β)·mean log σ(β·((π_θ − π_ref)(refusal) − (π_θ − π_ref)(answer)))`, plus α·NLL on retain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdkDpo {
    /// Inverse temperature β.
    pub beta: f64,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
}

impl Default for IdkDpo {
    fn default() -> Self {
        IdkDpo {
            beta: 0.1,
            gamma: 1.0,
            alpha: 1.0,
        }
    }
}

impl UnlearningMethod for IdkDpo {
    fn name(&self) -> &str {
        "idkdpo"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        true
    }
    fn needs_refusals(&self) -> bool {
        true
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let refusal = ctx
            .refusal
            .ok_or(UnlearnError::MissingInput("refusal batch"))?;
        let ratio = |batch| -> Result<_, UnlearnError> {
            Ok(ctx.sequence_log_probs(batch) - ctx.reference_sequence_log_probs(batch)?)
        };
        let margin = ratio(refusal)? - ratio(ctx.forget)?;
        let forget = preference_loss(margin.mul_scalar(self.beta), self.beta);
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}
