//! Gradient ascent, gradient difference and the KL variant (protocol §4).

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::method::{LossTerms, RetainTerm, StepContext, UnlearningMethod};

/// GA: ascend the forget NLL, nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientAscent {}

impl UnlearningMethod for GradientAscent {
    fn name(&self) -> &str {
        "ga"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn needs_retain(&self) -> bool {
        false
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        Ok(LossTerms::combine(
            ctx.nll(ctx.forget).neg(),
            1.0,
            None,
            0.0,
        ))
    }
}

/// GD (`γ·(−NLL_f) + α·NLL_r`) or, with the KL retain term, the KL method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientDifference {
    /// Weight of the forget term.
    pub gamma: f64,
    /// Weight of the retain term.
    pub alpha: f64,
    /// `nll` (GD) or `kl` (KL).
    pub retain: RetainTerm,
}

impl GradientDifference {
    /// GD with the protocol's defaults (γ = α = 1).
    pub fn gd() -> Self {
        GradientDifference {
            gamma: 1.0,
            alpha: 1.0,
            retain: RetainTerm::Nll,
        }
    }

    /// The KL method with the protocol's defaults.
    pub fn kl() -> Self {
        GradientDifference {
            retain: RetainTerm::Kl,
            ..Self::gd()
        }
    }
}

impl UnlearningMethod for GradientDifference {
    fn name(&self) -> &str {
        match self.retain {
            RetainTerm::Kl => "kl",
            _ => "gd",
        }
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        self.retain == RetainTerm::Kl
    }
    fn needs_retain(&self) -> bool {
        self.retain != RetainTerm::None
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = ctx.nll(ctx.forget).neg();
        ctx.with_retain(forget, self.gamma, self.retain, self.alpha)
    }
}

/// Fine-tuning: minimise the NLL of the training batch (served in the forget slot). Builds the
/// target and gold models with the same trainer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FineTune {}

impl UnlearningMethod for FineTune {
    fn name(&self) -> &str {
        "finetune"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn needs_retain(&self) -> bool {
        false
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let nll = ctx.nll(ctx.forget);
        Ok(LossTerms {
            total: nll.clone(),
            forget: Some(nll),
            retain: None,
        })
    }
}
