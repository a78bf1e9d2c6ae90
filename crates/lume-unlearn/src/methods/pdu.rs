//! PDU: primal-dual unlearning with a retain-loss constraint (protocol §4).

use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::method::{LossTerms, LossValues, RetainTerm, StepContext, UnlearningMethod};

/// `L = −NLL_f + λ·(NLL_r − ε)`; after each step `λ ← max(0, λ + η·(NLL_r − ε))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pdu {
    /// The retain-loss bound ε.
    pub epsilon: f64,
    /// Dual step size η.
    pub dual_lr: f64,
    /// Starting λ.
    pub lambda_init: f64,
    #[serde(skip)]
    lambda: Option<f64>,
}

impl Default for Pdu {
    fn default() -> Self {
        Pdu {
            epsilon: 0.5,
            dual_lr: 1.0,
            lambda_init: 1.0,
            lambda: None,
        }
    }
}

impl Pdu {
    /// The dual variable λ now.
    pub fn lambda(&self) -> f64 {
        self.lambda.unwrap_or(self.lambda_init)
    }
}

impl UnlearningMethod for Pdu {
    fn name(&self) -> &str {
        "pdu"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let forget = ctx.nll(ctx.forget).neg();
        let retain = ctx
            .retain_loss(RetainTerm::Nll)?
            .ok_or(UnlearnError::MissingInput("retain batch"))?;
        let total = forget.clone()
            + retain
                .clone()
                .sub_scalar(self.epsilon)
                .mul_scalar(self.lambda());
        Ok(LossTerms {
            total,
            forget: Some(forget),
            retain: Some(retain),
        })
    }
    fn after_step(&mut self, values: &LossValues) {
        if let Some(retain) = values.retain {
            self.lambda = Some((self.lambda() + self.dual_lr * (retain - self.epsilon)).max(0.0));
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
