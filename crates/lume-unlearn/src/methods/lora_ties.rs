//! The SemEval-2025 Task 4 runner-up recipe: an over- and an under-forgetting LoRA run of
//! NPO + GD + KL, merged with TIES (protocol §4).

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::logprob::{mean_kl, mean_nll, target_log_probs};
use crate::lora::LoraConfig;
use crate::merge::MergeMethod;
use crate::method::{LossTerms, MergePlan, MergeVariant, StepContext, UnlearningMethod};

use super::npo::npo_forget_loss;

/// NPO on forget plus `alpha·NLL + kl_weight·KL` on retain, trained through LoRA adapters
/// twice (learning rate × `over_lr_scale`, then × `under_lr_scale`), the two merged models
/// combined with TIES (`density`, `lambda`) against the original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraTies {
    /// NPO's inverse temperature β.
    pub beta: f64,
    /// Weight of the NPO forget term.
    pub gamma: f64,
    /// Weight of the retain NLL.
    pub alpha: f64,
    /// Weight of the retain KL to the reference.
    pub kl_weight: f64,
    /// The adapters both runs train.
    pub lora: LoraConfig,
    /// Learning-rate factor of the over-forgetting run.
    pub over_lr_scale: f64,
    /// Learning-rate factor of the under-forgetting run.
    pub under_lr_scale: f64,
    /// TIES: fraction of each task vector's entries kept (per tensor).
    pub density: f64,
    /// TIES: scale of the merged task vector.
    pub lambda: f64,
}

impl Default for LoraTies {
    fn default() -> Self {
        LoraTies {
            beta: 0.1,
            gamma: 1.0,
            alpha: 1.0,
            kl_weight: 1.0,
            lora: LoraConfig::default(),
            over_lr_scale: 2.0,
            under_lr_scale: 0.5,
            density: 0.8,
            lambda: 1.0,
        }
    }
}

impl UnlearningMethod for LoraTies {
    fn name(&self) -> &str {
        "lora-ties"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        true
    }
    fn lora(&self) -> Option<LoraConfig> {
        Some(self.lora.clone())
    }
    fn merge_plan(&self) -> Option<MergePlan> {
        Some(MergePlan {
            variants: vec![
                MergeVariant {
                    name: "over".into(),
                    learning_rate_scale: self.over_lr_scale,
                },
                MergeVariant {
                    name: "under".into(),
                    learning_rate_scale: self.under_lr_scale,
                },
            ],
            merge: MergeMethod::Ties {
                density: self.density,
                lambda: self.lambda,
            },
        })
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = npo_forget_loss(ctx, self.beta)?;
        if self.alpha == 0.0 && self.kl_weight == 0.0 {
            return Ok(LossTerms::combine(forget, self.gamma, None, 0.0));
        }
        // One retain forward serves both terms.
        let retain = ctx.retain_batch()?;
        let log_probs = ctx.log_probs(retain);
        let nll = mean_nll(target_log_probs(log_probs.clone(), retain), retain);
        let kl = mean_kl(ctx.reference_log_probs(retain)?, log_probs, retain);
        let retain_term = nll.mul_scalar(self.alpha) + kl.mul_scalar(self.kl_weight);
        Ok(LossTerms::combine(
            forget,
            self.gamma,
            Some(retain_term),
            1.0,
        ))
    }
}
