//! [`CausalModel`], the causal-LM interface that unlearning methods and the trainer program
//! against, and [`Model`]'s seeded initialisation.

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ModelConfig;
use crate::decoder::{ForwardOutput, Model, UnsupportedPrecision, from_start};
use crate::{Precision, WeightDtype};

/// Why a model could not write or read a checkpoint: any error its own format gives.
pub type CheckpointError = Box<dyn std::error::Error + Send + Sync>;

/// What training needs from a causal language model: teacher-forced logits, optionally with the
/// residual stream after every layer (RMU reads it), how many layers it has, and a checkpoint
/// format, so that a run can stop and resume.
///
/// Implement it for any Burn model to run `lume-unlearn` methods on it; a model that only
/// trains in memory may return an error from both checkpoint methods, and a run with a run
/// folder then stops at its first checkpoint with that error.
pub trait CausalModel {
    /// Logits `[batch, seq, vocab]` for `ids` `[batch, seq]`; `attention_mask` is `true` on real
    /// tokens. With `keep_hidden_states`, the residual stream after each layer, in order.
    fn forward_tokens(
        &self,
        ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        keep_hidden_states: bool,
    ) -> ForwardOutput;

    /// The logits of [`forward_tokens`](Self::forward_tokens) at the row-major `positions`
    /// (`row × seq + position`) only, `[positions, vocab]`: a loss that reads a few positions
    /// (the answer's) need not run the vocabulary head over the prompt and the padding. The
    /// default selects them from the full logits; [`Model`] runs its head on those rows alone.
    fn logits_at(
        &self,
        ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        positions: &[usize],
    ) -> Tensor<2> {
        rows_at(
            self.forward_tokens(ids, attention_mask, false).logits,
            positions,
        )
    }

    /// The same model computing its matrix products in `precision`. The default keeps f32 and
    /// refuses bf16; [`Model`] has both on the CPU backend.
    fn with_precision(self, precision: Precision) -> Result<Self, UnsupportedPrecision>
    where
        Self: Sized,
    {
        match precision {
            Precision::F32 => Ok(self),
            Precision::Bf16 => Err(UnsupportedPrecision {
                precision,
                on: format!(
                    "{} (it does not implement CausalModel::with_precision)",
                    std::any::type_name::<Self>()
                ),
            }),
        }
    }

    /// The same model for reading only, as a frozen reference: the default keeps it as it is;
    /// [`Model`] in bf16 precision stores the matrices of its products in bf16, the rounding
    /// those products apply anyway (the same numbers in half the memory, each weight packed
    /// once).
    fn frozen(self) -> Self
    where
        Self: Sized,
    {
        self
    }

    /// Number of decoder layers.
    fn num_layers(&self) -> usize;

    /// Width of the residual stream.
    fn hidden_size(&self) -> usize;

    /// Writes the weights into the folder `dir` (created if missing); [`Model`] writes a
    /// Hugging Face checkpoint.
    fn save_checkpoint(&self, dir: &Path) -> Result<(), CheckpointError>;

    /// The same architecture with the weights [`save_checkpoint`](Self::save_checkpoint)
    /// wrote into `dir`, on `device`.
    fn load_checkpoint(&self, dir: &Path, device: &Device) -> Result<Self, CheckpointError>
    where
        Self: Sized;
}

impl Model {
    /// A randomly initialised model as transformers initialises one (matrices normal with
    /// std 0.02, norms 1, biases 0); the same seed gives the same weights on any backend and
    /// thread, since the numbers are drawn on the host from the seed alone.
    pub fn random(config: ModelConfig, seed: u64, device: &Device) -> Self {
        Model::new(&config, device).map(&mut SeededInit {
            rng: ChaCha8Rng::seed_from_u64(seed),
            path: Vec::new(),
        })
    }
}

impl CausalModel for Model {
    fn forward_tokens(
        &self,
        ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        keep_hidden_states: bool,
    ) -> ForwardOutput {
        self.forward(ids, attention_mask, keep_hidden_states)
    }

    fn logits_at(
        &self,
        ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        positions: &[usize],
    ) -> Tensor<2> {
        let [b, t] = ids.dims();
        let (x, _) = self.final_hidden(ids, &from_start(b, t), attention_mask, None, false);
        let rows = rows_at(x, positions).unsqueeze_dim::<3>(0);
        self.logits(rows).squeeze_dim::<2>(0)
    }

    fn with_precision(self, precision: Precision) -> Result<Self, UnsupportedPrecision> {
        Model::with_precision(self, precision)
    }

    fn frozen(self) -> Self {
        if self.precision() != Precision::Bf16 {
            return self;
        }
        // The embedding table stays: its lookups are no product, and bf16 products round
        // only their operands (a tied head rounds the table as it reads it).
        let embeddings = self.embed_tokens.clone();
        let mut frozen = self.with_weight_dtype(WeightDtype::Bf16);
        frozen.embed_tokens = embeddings;
        frozen
    }

    fn num_layers(&self) -> usize {
        self.layers.len()
    }

    fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    fn save_checkpoint(&self, dir: &Path) -> Result<(), CheckpointError> {
        Ok(self.save(dir)?)
    }

    fn load_checkpoint(&self, dir: &Path, device: &Device) -> Result<Self, CheckpointError> {
        // The same model: its precision too, as a resumed run computes as it started.
        Ok(Model::load(dir, device)?.with_precision(self.precision())?)
    }
}

/// The rows of `x` `[batch, seq, d]` at the row-major `positions`, `[positions, d]`.
fn rows_at(x: Tensor<3>, positions: &[usize]) -> Tensor<2> {
    let [b, t, d] = x.dims();
    let index: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let index = Tensor::from_data(TensorData::new(index, [positions.len()]), &x.device());
    x.reshape([b * t, d]).select(0, index)
}

struct SeededInit {
    rng: ChaCha8Rng,
    path: Vec<String>,
}

impl SeededInit {
    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f32 {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random();
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

impl ModuleMapper for SeededInit {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let values: Vec<f32> = if D >= 2 {
            (0..n).map(|_| 0.02 * self.normal()).collect()
        } else if self.path.iter().any(|p| p.contains("norm")) {
            vec![1.0; n]
        } else {
            vec![0.0; n]
        };
        let device = tensor.device();
        let value = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
        let value = if tensor.is_require_grad() {
            value.require_grad()
        } else {
            value
        };
        Param::from_mapped_value(id, value, mapper)
    }
}
