//! Token-level forget losses: WGA, SatImp, UNDIAL and CE-U (protocol §4).

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::logprob::{one_hot_targets, weighted_mean};
use crate::method::{LossTerms, RetainTerm, StepContext, UnlearningMethod};

/// WGA: `mean_t sg(p_t^β)·log p_t` over forget answer tokens, plus α·NLL on retain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wga {
    /// Exponent β of the weight.
    pub beta: f64,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
}

impl Default for Wga {
    fn default() -> Self {
        Wga {
            beta: 1.0,
            gamma: 1.0,
            alpha: 1.0,
        }
    }
}

impl UnlearningMethod for Wga {
    fn name(&self) -> &str {
        "wga"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let batch = ctx.forget;
        let log_p = ctx.answer_log_probs(batch);
        let weight = log_p.clone().detach().mul_scalar(self.beta).exp();
        let forget = weighted_mean(weight * log_p, batch.weights.clone());
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}

/// SatImp: `mean_t sg(p_t^β1·(1−p_t)^β2)·log p_t`, plus α·NLL on retain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatImp {
    /// Exponent of `p_t`.
    pub beta1: f64,
    /// Exponent of `1 − p_t`.
    pub beta2: f64,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
}

impl Default for SatImp {
    fn default() -> Self {
        // open-unlearning's configs/trainer/SatImp.yaml.
        SatImp {
            beta1: 5.0,
            beta2: 1.0,
            gamma: 0.1,
            alpha: 1.0,
        }
    }
}

impl UnlearningMethod for SatImp {
    fn name(&self) -> &str {
        "satimp"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let batch = ctx.forget;
        let log_p = ctx.answer_log_probs(batch);
        let p = log_p.clone().detach().exp();
        let weight =
            p.clone().powf_scalar(self.beta1) * p.neg().add_scalar(1.0).powf_scalar(self.beta2);
        let forget = weighted_mean(weight * log_p, batch.weights.clone());
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}

/// UNDIAL: cross-entropy to `softmax(z_ref − β·onehot(y))`, a teacher that is the reference with
/// the answer token pushed down, averaged over forget answer tokens; plus α·NLL on retain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Undial {
    /// How far the answer token's logit is lowered.
    pub beta: f64,
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL (0: none, as in the paper).
    pub alpha: f64,
}

impl Default for Undial {
    fn default() -> Self {
        Undial {
            beta: 10.0,
            gamma: 1.0,
            alpha: 0.0,
        }
    }
}

impl UnlearningMethod for Undial {
    fn name(&self) -> &str {
        "undial"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        true
    }
    fn needs_retain(&self) -> bool {
        self.alpha != 0.0
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let batch = ctx.forget;
        let log_p = ctx.log_probs(batch);
        let [_, _, vocab] = log_p.dims();
        let reference = ctx.reference_log_probs(batch)?;
        let teacher = burn::tensor::activation::softmax(
            reference - one_hot_targets(batch, vocab).mul_scalar(self.beta),
            2,
        );
        let cross_entropy = (teacher * log_p).sum_dim(2).squeeze_dim::<2>(2).neg();
        let forget = weighted_mean(cross_entropy, batch.weights.clone());
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}

/// CE-U: cross-entropy to the model's own (stopped-gradient) distribution with the answer
/// token removed, skipping each row's first answer token. No retain term by default (the
/// paper's and open-unlearning's setting); `alpha > 0` adds α·NLL on retain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeU {
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
}

impl Default for CeU {
    fn default() -> Self {
        CeU {
            gamma: 1.0,
            alpha: 0.0,
        }
    }
}

impl UnlearningMethod for CeU {
    fn name(&self) -> &str {
        "ceu"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_retain(&self) -> bool {
        self.alpha != 0.0
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let batch = ctx.forget;
        let log_p = ctx.log_probs(batch);
        let [_, _, vocab] = log_p.dims();
        let answer = one_hot_targets(batch, vocab).bool();
        // softmax of the logits with the answer at −∞ = the other tokens' probabilities,
        // renormalised; computed from masked log-probs so that a memorised answer
        // (p ≈ 1) does not cancel catastrophically.
        let others = log_p.clone().detach().mask_fill(answer, f32::NEG_INFINITY);
        let teacher = burn::tensor::activation::softmax(others, 2);
        let cross_entropy = (teacher * log_p).sum_dim(2).squeeze_dim::<2>(2).neg();
        let forget = weighted_mean(cross_entropy, batch.weights_after_first.clone());
        ctx.with_retain(forget, self.gamma, RetainTerm::Nll, self.alpha)
    }
}
