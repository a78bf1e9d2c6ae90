//! RMU: steer the residual stream of forget text towards a random direction (protocol §4).

use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::batch::TensorBatch;
use crate::method::{LossTerms, StepContext, Trainable, UnlearningMethod};

/// `MSE(h_ℓ(x_f), c·u) + α·MSE(h_ℓ(x_r), h_ref,ℓ(x_r))`, training only the MLP down-projections
/// of layers `ℓ−2..=ℓ` (WMDP's RMU, which open-unlearning borrows). Each MSE is over a row's
/// answer tokens and the hidden units, then averaged over the rows. `ℓ` is clamped to the
/// model's last layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rmu {
    /// The layer ℓ (0-based) whose output is steered.
    pub layer: usize,
    /// Steering coefficient c.
    pub steering_coefficient: f64,
    /// Weight α of the retain term.
    pub alpha: f64,
    /// Seed of the random direction u.
    pub seed: u64,
    #[serde(skip)]
    direction: Option<Vec<f32>>,
}

impl Default for Rmu {
    fn default() -> Self {
        Rmu {
            layer: 7,
            steering_coefficient: 20.0,
            alpha: 100.0,
            seed: 0,
            direction: None,
        }
    }
}

impl Rmu {
    fn effective_layer(&self, num_layers: usize) -> usize {
        self.layer.min(num_layers.saturating_sub(1))
    }

    /// Steers towards `c·u` for this `u` (normalised here) instead of a seeded random one, as
    /// open-unlearning's per-batch `control_vec` allows.
    pub fn with_direction(mut self, u: Vec<f32>) -> Self {
        self.direction = Some(unit(u));
        self
    }

    /// The fixed unit vector u: uniform [0, 1) entries, normalised, as the RMU code draws it.
    pub fn direction(&mut self, hidden: usize) -> &[f32] {
        let seed = self.seed;
        self.direction.get_or_insert_with(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            unit((0..hidden).map(|_| rng.random::<f32>()).collect())
        })
    }
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.into_iter().map(|x| x / norm).collect()
}

/// Squared error averaged over hidden units and a row's answer tokens, then over rows. The
/// answer tokens are those whose own label counts (the unshifted labels of the batch).
fn answer_mse(diff: Tensor<3>, batch: &TensorBatch) -> Tensor<1> {
    let [b, t, _] = diff.dims();
    let per_token = diff.square().mean_dim(2).reshape([b, t]);
    let shifted = per_token.slice([0..b, 1..t]) * batch.weights.clone();
    let tokens = batch.weights.clone().sum_dim(1).clamp_min(1.0);
    (shifted.sum_dim(1) / tokens).mean().reshape([1])
}

impl UnlearningMethod for Rmu {
    fn name(&self) -> &str {
        "rmu"
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
    fn needs_reference(&self) -> bool {
        true
    }
    fn trainable(&self, num_layers: usize) -> Option<Trainable> {
        let last = self.effective_layer(num_layers);
        Some(Trainable::Matching(
            (last.saturating_sub(2)..=last)
                .map(|l| format!("layers.{l}.mlp.down_proj."))
                .collect(),
        ))
    }
    fn loss(&mut self, ctx: &StepContext<'_>) -> Result<LossTerms, UnlearnError> {
        let layer = self.effective_layer(ctx.model.num_layers());
        let hidden = ctx.model.hidden_size();
        let c = self.steering_coefficient as f32;
        let control: Vec<f32> = self.direction(hidden).iter().map(|u| u * c).collect();
        let forget_h = ctx.hidden_state(ctx.forget, layer)?;
        let device = forget_h.device();
        let control = Tensor::<1>::from_data(TensorData::new(control, [hidden]), &device)
            .reshape([1, 1, hidden]);
        let forget = answer_mse(forget_h - control, ctx.forget);
        let retain_batch = ctx.retain_batch()?;
        let retain = answer_mse(
            ctx.hidden_state(retain_batch, layer)?
                - ctx.reference_hidden_state(retain_batch, layer)?,
            retain_batch,
        );
        Ok(LossTerms::combine(forget, 1.0, Some(retain), self.alpha))
    }
}
