//! AdamW as PyTorch defines it, with clipping by the **global** gradient norm
//! (`torch.nn.utils.clip_grad_norm_`), over parameters named by their module path.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::UnlearnError;
use crate::lora::is_adapter_path;
use crate::method::Trainable;

/// AdamW hyperparameters (PyTorch's names and defaults, but weight decay 0.01).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Gradients of the trainable parameters, flattened, accumulated over micro-batches.
#[derive(Debug, Default)]
pub struct GradientBuffer {
    grads: HashMap<ParamId, (String, Tensor<1>)>,
}

impl GradientBuffer {
    /// Moves the gradients of `module`'s trainable parameters out of `grads` into the buffer,
    /// adding to what is there.
    pub fn accumulate<M: Module>(&mut self, module: &M, grads: &mut Gradients) {
        let mut visitor = Collect {
            path: Vec::new(),
            grads,
            buffer: self,
        };
        module.visit(&mut visitor);
    }

    /// The global L2 norm of all buffered gradients (one host read).
    pub fn global_norm(&self) -> f64 {
        // A fixed summation order (by path), so that the same run gives the same bits.
        let mut named: Vec<&(String, Tensor<1>)> = self.grads.values().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let grads: Vec<Tensor<1>> = named.into_iter().map(|(_, g)| g.clone()).collect();
        global_norm(&grads)
    }

    /// Number of parameters with a gradient.
    pub fn len(&self) -> usize {
        self.grads.len()
    }

    /// Whether no gradient is buffered.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }
}

struct Collect<'a> {
    path: Vec<String>,
    grads: &'a mut Gradients,
    buffer: &'a mut GradientBuffer,
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(grad) = param.val().grad_remove(self.grads) else {
            return;
        };
        let n = grad.shape().num_elements();
        let grad = grad.reshape([n]);
        match self.buffer.grads.get_mut(&param.id) {
            Some((_, acc)) => *acc = acc.clone() + grad,
            None => {
                self.buffer
                    .grads
                    .insert(param.id, (self.path.join("."), grad));
            }
        }
    }
}

/// The L2 norm of all `grads` taken together, as `clip_grad_norm_` computes it (one host read).
pub fn global_norm(grads: &[Tensor<1>]) -> f64 {
    let squares: Vec<Tensor<1>> = grads.iter().map(|g| g.clone().square().sum()).collect();
    if squares.is_empty() {
        return 0.0;
    }
    let total: f32 = Tensor::cat(squares, 0).sum().into_scalar();
    f64::from(total).sqrt()
}

/// `max_norm / (norm + 1e-6)` capped at 1, as `clip_grad_norm_` scales.
///
/// ```
/// assert_eq!(lume_unlearn::clip_coefficient(0.5, 1.0), 1.0);
/// assert!((lume_unlearn::clip_coefficient(4.0, 1.0) - 0.25).abs() < 1e-6);
/// ```
pub fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
    (max_norm / (norm + 1e-6)).min(1.0)
}

#[derive(Debug, Clone)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// AdamW with state keyed by parameter path, so it can be saved and resumed.
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    moments: BTreeMap<String, Moments>,
    steps: u64,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(config: AdamWConfig) -> Self {
        AdamW {
            config,
            moments: BTreeMap::new(),
            steps: 0,
        }
    }

    /// Updates taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of every parameter with a buffered gradient, the gradients first scaled by
    /// `grad_scale` (the clipping coefficient). Empties the buffer.
    pub fn step<M: Module>(
        &mut self,
        module: M,
        buffer: &mut GradientBuffer,
        lr: f64,
        grad_scale: f64,
    ) -> M {
        self.steps += 1;
        let t = self.steps as i32;
        let c = self.config;
        let mut mapper = Update {
            optimizer: self,
            buffer,
            lr,
            grad_scale,
            bias1: 1.0 - c.beta1.powi(t),
            bias2: 1.0 - c.beta2.powi(t),
        };
        module.map(&mut mapper)
    }

    /// Writes the moments to `dir/optimizer.safetensors`.
    pub fn save(&self, dir: &Path) -> Result<(), UnlearnError> {
        let mut tensors = Vec::with_capacity(2 * self.moments.len());
        for (path, moments) in &self.moments {
            for (kind, t) in [("m", &moments.m), ("v", &moments.v)] {
                let data: Vec<f32> = t
                    .clone()
                    .into_data()
                    .try_to_vec_as::<f32>()
                    .map_err(|e| UnlearnError::Checkpoint(format!("{e:?}")))?;
                tensors.push((format!("{kind}.{path}"), vec![data.len()], data));
            }
        }
        let metadata = HashMap::from([("steps".to_string(), self.steps.to_string())]);
        lume_model::write_f32_safetensors(&dir.join(OPTIMIZER_FILE), tensors, metadata)
            .map_err(|e| UnlearnError::Checkpoint(e.to_string()))
    }

    /// Reads moments written by [`save`](Self::save).
    pub fn load(config: AdamWConfig, dir: &Path, device: &Device) -> Result<Self, UnlearnError> {
        let path = dir.join(OPTIMIZER_FILE);
        let bad = |m: String| UnlearnError::Checkpoint(format!("{}: {m}", path.display()));
        let (tensors, metadata) = lume_model::read_f32_safetensors(&path)
            .map_err(|e| UnlearnError::Checkpoint(e.to_string()))?;
        let steps = metadata
            .get("steps")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no `steps` in the metadata".into()))?;
        let mut halves: BTreeMap<String, (Option<Tensor<1>>, Option<Tensor<1>>)> = BTreeMap::new();
        for (name, (_, data)) in tensors {
            let n = data.len();
            let t = Tensor::<1>::from_data(TensorData::new(data, [n]), device);
            let (kind, param) = name
                .split_once('.')
                .filter(|(kind, _)| matches!(*kind, "m" | "v"))
                .ok_or_else(|| bad(format!("unexpected tensor `{name}`")))?;
            let pair = halves.entry(param.to_string()).or_default();
            if kind == "m" {
                pair.0 = Some(t);
            } else {
                pair.1 = Some(t);
            }
        }
        let mut moments = BTreeMap::new();
        for (param, pair) in halves {
            let (Some(m), Some(v)) = pair else {
                return Err(bad(format!("`{param}` lacks its m or v")));
            };
            moments.insert(param, Moments { m, v });
        }
        Ok(AdamW {
            config,
            moments,
            steps,
        })
    }
}

const OPTIMIZER_FILE: &str = "optimizer.safetensors";

struct Update<'a> {
    optimizer: &'a mut AdamW,
    buffer: &'a mut GradientBuffer,
    lr: f64,
    grad_scale: f64,
    bias1: f64,
    bias2: f64,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((path, grad)) = self.buffer.grads.remove(&param.id) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let flat = tensor.inner().reshape([n]);
        let c = self.optimizer.config;
        let previous = self.optimizer.moments.remove(&path);
        let step = lume_model::AdamWStep {
            lr: self.lr,
            beta1: c.beta1,
            beta2: c.beta2,
            eps: c.eps,
            weight_decay: c.weight_decay,
            bias1: self.bias1,
            bias2: self.bias2,
            grad_scale: self.grad_scale,
            first: previous.is_none(),
        };
        // One pass over parameter, gradient and moments (a fused kernel on the CPU).
        let (m, v) = match previous {
            Some(Moments { m, v }) => (m, v),
            None => (grad.clone(), grad.clone()),
        };
        let [updated, m, v] = lume_model::adamw_update(flat, grad, m, v, step);
        self.optimizer.moments.insert(path, Moments { m, v });
        let updated = Tensor::<D>::from_inner(updated.reshape(shape)).require_grad();
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// Marks every parameter that `trainable` excludes as not requiring gradients, so backward
/// skips it and the optimizer never sees it. When the module has LoRA adapters, only their
/// factors can train. Returns the module and how many tensors train.
pub fn freeze<M: Module>(module: M, trainable: &Trainable, num_layers: usize) -> (M, usize) {
    let adapters_only = parameter_paths(&module).iter().any(|p| is_adapter_path(p));
    let mut mapper = Freeze {
        path: Vec::new(),
        trainable,
        num_layers,
        adapters_only,
        trained: 0,
    };
    let module = module.map(&mut mapper);
    (module, mapper.trained)
}

/// Every float parameter's path (`lm.layers.0.self_attn.q_proj.weight`, LoRA factors as
/// `….weight.lora.a`), in module order.
pub fn parameter_paths<M: Module>(module: &M) -> Vec<String> {
    #[derive(Default)]
    struct Paths {
        path: Vec<String>,
        all: Vec<String>,
    }
    impl ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, _param: &Param<Tensor<D>>) {
            self.all.push(self.path.join("."));
        }
    }
    let mut paths = Paths::default();
    module.visit(&mut paths);
    paths.all
}

struct Freeze<'a> {
    path: Vec<String>,
    trainable: &'a Trainable,
    num_layers: usize,
    adapters_only: bool,
    trained: usize,
}

impl ModuleMapper for Freeze<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let train = (!self.adapters_only || is_adapter_path(&path))
            && self.trainable.allows(&path, self.num_layers);
        self.trained += usize::from(train);
        param.set_require_grad(train)
    }
}
