//! PDU: primal-dual unlearning with a retain-loss constraint (protocol §4).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::batch::TensorBatch;
use crate::logprob::weighted_mean;
use crate::method::{LossTerms, LossValues, RetainTerm, StepContext, UnlearningMethod};

/// PDU as open-unlearning's `pdu.py` runs it: `L = γ·L_f + λ·(NLL_r − ε)` with the forget term
/// `L_f = mean over answer tokens of (max logit − mean logit)²` (flattening the model's output
/// on the forget answers), and after each step, once `dual_warmup_epochs` epochs are done,
/// `λ ← max(0, λ + η·(NLL_r − ε))`. The bound ε depends on the model and data and has no
/// default: the method refuses to run without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pdu {
    /// The retain-loss bound ε (required).
    pub epsilon: Option<f64>,
    /// Dual step size η.
    pub dual_lr: f64,
    /// Starting λ.
    pub lambda_init: f64,
    /// Weight γ of the forget term.
    pub gamma: f64,
    /// Epochs before λ starts to move (open-unlearning's config: 5).
    pub dual_warmup_epochs: usize,
    #[serde(skip)]
    lambda: Option<f64>,
    #[serde(skip)]
    epoch: usize,
}

impl Default for Pdu {
    fn default() -> Self {
        Pdu {
            epsilon: None,
            dual_lr: 1.0,
            lambda_init: 1.0,
            gamma: 1.0,
            dual_warmup_epochs: 5,
            lambda: None,
            epoch: 0,
        }
    }
}

impl Pdu {
    /// The dual variable λ now.
    pub fn lambda(&self) -> f64 {
        self.lambda.unwrap_or(self.lambda_init)
    }

    fn epsilon(&self) -> Result<f64, UnlearnError> {
        self.epsilon.ok_or_else(|| UnlearnError::BadHyperparameter {
            method: "pdu".into(),
            message: "`epsilon` (the retain-loss bound ε) has no default: set it to the retain \
                      NLL you accept (`lume unlearn --set method.epsilon=…`, \
                      `lume bench --set method.pdu.epsilon=…`)"
                .into(),
        })
    }
}

/// `mean over counted positions of (max logit − mean logit)²`, the positions being those whose
/// own token is an answer token (open-unlearning masks the logits with the unshifted labels).
fn flatness_loss(logits: Tensor<3>, batch: &TensorBatch) -> Tensor<1> {
    let [b, t, v] = logits.dims();
    let at_answers = logits.slice([0..b, 1..t, 0..v]);
    let gap = at_answers.clone().max_dim(2) - at_answers.mean_dim(2);
    weighted_mean(gap.square().reshape([b, t - 1]), batch.weights.clone())
}

impl UnlearningMethod for Pdu {
    fn name(&self) -> &str {
        "pdu"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn check(&self) -> Result<(), UnlearnError> {
        self.epsilon().map(|_| ())
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let epsilon = self.epsilon()?;
        self.epoch = ctx.epoch;
        let forget = flatness_loss(ctx.logits(ctx.forget), ctx.forget);
        let retain = ctx
            .retain_loss(RetainTerm::Nll)?
            .ok_or(UnlearnError::MissingInput("retain batch"))?;
        let total = forget.clone().mul_scalar(self.gamma)
            + retain.clone().sub_scalar(epsilon).mul_scalar(self.lambda());
        Ok(LossTerms {
            total,
            forget: Some(forget),
            retain: Some(retain),
        })
    }
    fn after_step(&mut self, values: &LossValues) {
        let (Some(retain), Some(epsilon)) = (values.retain, self.epsilon) else {
            return;
        };
        if self.epoch >= self.dual_warmup_epochs {
            self.lambda = Some((self.lambda() + self.dual_lr * (retain - epsilon)).max(0.0));
        }
    }
    fn state(&self) -> serde_json::Value {
        serde_json::json!({ "lambda": self.lambda() })
    }
    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), UnlearnError> {
        let lambda = state
            .get("lambda")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| UnlearnError::BadState("pdu state needs a numeric `lambda`".into()))?;
        self.lambda = Some(lambda);
        Ok(())
    }
}
