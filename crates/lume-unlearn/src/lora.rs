//! LoRA adapters: train `W + (α/r)·A·B` with `W` frozen, then merge into plain weights.
//!
//! Built on Burn's parameter reparameterization ([`burn::module::LoraAdapter`]), so the model's
//! layers need no change: an adapted weight's value is the merged one, its base stays frozen,
//! and the factors are ordinary parameters at `<weight path>.lora.a` / `.lora.b` that the
//! optimizer, gradient clipping and checkpoints see like any other.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{LoraAdapter, Module, ModuleMapper, ModuleVisitor, Param, Reparameterizer};
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::UnlearnError;

/// Which weights get adapters, and how big.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    /// Rank r of `A·B`.
    pub rank: usize,
    /// Scale numerator: the update is `(alpha / rank)·A·B`.
    pub alpha: f64,
    /// Module names whose `weight` is adapted (`q_proj`, `down_proj`, …).
    pub target_modules: Vec<String>,
    /// Seed of `A`'s initialisation.
    pub seed: u64,
}

impl Default for LoraConfig {
    /// Rank 8, α 16, every attention and MLP projection.
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            target_modules: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .map(String::from)
            .to_vec(),
            seed: 0,
        }
    }
}

/// The path component Burn files an adapter's factors under.
const ADAPTER: &str = "lora";

/// Whether the parameter at `path` is a LoRA factor.
pub fn is_adapter_path(path: &str) -> bool {
    path.split('.').any(|part| part == ADAPTER)
}

/// Attaches a fresh adapter (`A` uniform in ±1/√d_in as PEFT draws it, `B = 0`) to every
/// targeted weight and freezes every other parameter. The model's outputs are unchanged
/// until `B` trains. Errors when the configuration is unusable or matches no weight.
///
/// ```
/// use lume_model::{DeviceSpec, LlamaShape, Model, ModelConfig};
/// use lume_unlearn::{LoraConfig, attach_lora, merge_lora};
/// let config = ModelConfig::llama(LlamaShape { vocab_size: 32, hidden_size: 16, layers: 2,
///     heads: 2, kv_heads: 1, intermediate_size: 32, max_positions: 32 }).unwrap();
/// let model = Model::random(config, 0, &DeviceSpec::Cpu.training_device().unwrap());
/// let adapted = attach_lora(model, &LoraConfig::default()).unwrap();
/// assert!(adapted.layers[0].self_attn.q_proj.weight.adapter().is_some());
/// let merged = merge_lora(adapted);
/// assert!(merged.layers[0].self_attn.q_proj.weight.adapter().is_none());
/// ```
pub fn attach_lora<M: Module>(model: M, config: &LoraConfig) -> Result<M, UnlearnError> {
    let bad = |message: String| UnlearnError::BadHyperparameter {
        method: "lora".into(),
        message,
    };
    if config.rank == 0 {
        return Err(bad("`rank` must be at least 1".into()));
    }
    if !(config.alpha.is_finite() && config.alpha > 0.0) {
        return Err(bad(format!(
            "`alpha` must be positive, got {}",
            config.alpha
        )));
    }
    let mut attach = SeededLora {
        config,
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        adapted: 0,
    };
    let model = model.apply_reparameterization(&mut attach);
    if attach.adapted == 0 {
        return Err(bad(format!(
            "`target_modules` [{}] match no weight matrix",
            config.target_modules.join(", ")
        )));
    }
    Ok(model)
}

/// Folds every adapter into its weight (`W + (α/r)·A·B`), leaving a plain model.
pub fn merge_lora<M: Module>(model: M) -> M {
    model.materialize()
}

struct SeededLora<'a> {
    config: &'a LoraConfig,
    rng: ChaCha8Rng,
    adapted: usize,
}

impl Reparameterizer for &mut SeededLora<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let base = param.set_require_grad(false);
        let mut parts = path.rsplit('.');
        let (last, module) = (parts.next(), parts.next());
        let targeted = D == 2
            && last == Some("weight")
            && module.is_some_and(|m| self.config.target_modules.iter().any(|t| t == m));
        if !targeted {
            return (base, None);
        }
        let tensor = base.val();
        let device = tensor.device();
        let [d_in, d_out] = [tensor.dims()[0], tensor.dims()[1]];
        let rank = self.config.rank;
        let bound = 1.0 / (d_in as f64).sqrt();
        let a: Vec<f32> = (0..d_in * rank)
            .map(|_| self.rng.random_range(-bound..bound) as f32)
            .collect();
        let a = Tensor::<2>::from_data(TensorData::new(a, [d_in, rank]), &device);
        let b = Tensor::<2>::zeros([rank, d_out], &device);
        self.adapted += 1;
        let adapter = LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            scale: self.config.alpha / rank as f64,
        };
        (base, Some(adapter))
    }
}

/// The file a LoRA run's checkpoints keep the factors in.
pub const ADAPTERS_FILE: &str = "adapters.safetensors";

/// Writes every adapter factor, by parameter path, to `file` (atomically).
pub fn save_adapters<M: Module>(model: &M, file: &Path) -> Result<(), UnlearnError> {
    let mut collect = CollectAdapters::default();
    model.visit(&mut collect);
    if let Some(problem) = collect.problem {
        return Err(UnlearnError::Device(problem));
    }
    lume_model::write_f32_safetensors(file, collect.tensors, HashMap::new())
        .map_err(|e| UnlearnError::Checkpoint(e.to_string()))
}

/// Replaces the factors of a model that has adapters attached by those saved in `file`.
/// Every factor must be there with its shape.
pub fn load_adapters<M: Module>(model: M, file: &Path) -> Result<M, UnlearnError> {
    let (tensors, _) = lume_model::read_f32_safetensors(file)
        .map_err(|e| UnlearnError::Checkpoint(e.to_string()))?;
    let mut load = LoadAdapters {
        path: Vec::new(),
        tensors,
        problem: None,
    };
    let model = model.map(&mut load);
    let bad = |m: String| UnlearnError::Checkpoint(format!("{}: {m}", file.display()));
    if let Some(problem) = load.problem {
        return Err(bad(problem));
    }
    if let Some(extra) = load.tensors.keys().next() {
        return Err(bad(format!("`{extra}` matches no adapter of the model")));
    }
    Ok(model)
}

#[derive(Default)]
struct CollectAdapters {
    path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    /// The first adapter that could not be read back from the device.
    problem: Option<String>,
}

impl ModuleVisitor for CollectAdapters {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        if is_adapter_path(&path) {
            let value = param.val();
            let shape = value.dims().to_vec();
            match value.into_data().try_to_vec_as::<f32>() {
                Ok(values) => self.tensors.push((path, shape, values)),
                Err(e) => {
                    self.problem
                        .get_or_insert_with(|| format!("reading adapter `{path}` back: {e:?}"));
                }
            }
        }
    }
}

struct LoadAdapters {
    path: Vec<String>,
    tensors: lume_model::NamedTensors,
    problem: Option<String>,
}

impl ModuleMapper for LoadAdapters {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        if !is_adapter_path(&path) {
            return param;
        }
        let Some((shape, values)) = self.tensors.remove(&path) else {
            self.problem
                .get_or_insert_with(|| format!("no tensor for adapter `{path}`"));
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        if shape != tensor.dims().to_vec() {
            self.problem.get_or_insert_with(|| {
                format!(
                    "`{path}` has shape {shape:?}, the model's adapter {:?}",
                    tensor.dims()
                )
            });
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let value = Tensor::<D>::from_data(TensorData::new(values, shape), &tensor.device());
        let value = if tensor.is_require_grad() {
            value.require_grad()
        } else {
            value
        };
        Param::from_mapped_value(id, value, mapper)
    }
}
