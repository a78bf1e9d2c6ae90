//! A tiny model and hand-made batches shared by the method and trainer tests.
#![allow(dead_code)]

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use lume_data::{Batch, IGNORE_INDEX, PaddingSide, TrainingExample};
use lume_model::{CausalModel, DeviceSpec, LlamaShape, Model, ModelConfig};
use lume_unlearn::{TensorBatch, UnlearnData};

pub const VOCAB: usize = 32;

pub fn config() -> ModelConfig {
    ModelConfig::llama(LlamaShape {
        vocab_size: VOCAB,
        hidden_size: 16,
        layers: 3,
        heads: 2,
        kv_heads: 1,
        intermediate_size: 32,
        max_positions: 64,
    })
    .unwrap()
}

pub fn model(seed: u64) -> Model {
    let device = DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .training_device()
        .unwrap();
    Model::random(config(), seed, &device)
}

/// An example with `prompt` ids masked and `answer` ids counted.
pub fn example(prompt: &[u32], answer: &[u32]) -> TrainingExample {
    let input_ids: Vec<u32> = prompt.iter().chain(answer).copied().collect();
    let labels = input_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            if i < prompt.len() {
                IGNORE_INDEX
            } else {
                i64::from(id)
            }
        })
        .collect();
    TrainingExample { input_ids, labels }
}

/// Deterministic pseudo-random examples of varied lengths.
pub fn examples(n: usize, salt: u32) -> Vec<TrainingExample> {
    (0..n as u32)
        .map(|i| {
            let next = |k: u32| 1 + (i * 7 + k * 13 + salt * 5) % (VOCAB as u32 - 1);
            let prompt: Vec<u32> = (0..3 + i % 2).map(next).collect();
            let answer: Vec<u32> = (10..14 + i % 3).map(next).collect();
            example(&prompt, &answer)
        })
        .collect()
}

pub fn data() -> UnlearnData {
    let forget = examples(4, 1);
    let refusals = forget
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let prompt_len = ex.labels.iter().take_while(|&&l| l == IGNORE_INDEX).count();
            example(&ex.input_ids[..prompt_len], &[5, 6 + i as u32, 7])
        })
        .collect();
    UnlearnData {
        forget,
        retain: examples(6, 2),
        refusals,
        pad_id: 0,
    }
}

pub fn batch(examples: &[TrainingExample], model: &impl Module) -> TensorBatch {
    let device = model.devices()[0].clone();
    let rows: Vec<&TrainingExample> = examples.iter().collect();
    TensorBatch::new(&Batch::collate(&rows, 0, PaddingSide::Right), &device).unwrap()
}

/// Host logits `[row][pos][vocab]` in f64.
pub fn host_logits(model: &dyn CausalModel, batch: &TensorBatch) -> Vec<Vec<Vec<f64>>> {
    let out = model.forward_tokens(batch.ids.clone(), Some(&batch.attention_mask), false);
    let [b, t, v] = out.logits.dims();
    let flat: Vec<f32> = out.logits.into_data().try_to_vec::<f32>().unwrap();
    (0..b)
        .map(|r| {
            (0..t)
                .map(|i| {
                    (0..v)
                        .map(|k| f64::from(flat[(r * t + i) * v + k]))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Host hidden state after `layer`: `[row][pos][hidden]`.
pub fn host_hidden(
    model: &dyn CausalModel,
    batch: &TensorBatch,
    layer: usize,
) -> Vec<Vec<Vec<f64>>> {
    let out = model.forward_tokens(batch.ids.clone(), Some(&batch.attention_mask), true);
    let h = out.hidden_states[layer].clone();
    let [b, t, d] = h.dims();
    let flat: Vec<f32> = h.into_data().try_to_vec::<f32>().unwrap();
    (0..b)
        .map(|r| {
            (0..t)
                .map(|i| {
                    (0..d)
                        .map(|k| f64::from(flat[(r * t + i) * d + k]))
                        .collect()
                })
                .collect()
        })
        .collect()
}

pub fn log_softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + z.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
    z.iter().map(|x| x - lse).collect()
}

/// For each row: (shifted position, target id) of every counted answer token.
pub fn targets(examples: &[TrainingExample]) -> Vec<Vec<(usize, usize)>> {
    examples
        .iter()
        .map(|ex| {
            (1..ex.labels.len())
                .filter(|&i| ex.labels[i] != IGNORE_INDEX)
                .map(|i| (i - 1, ex.labels[i] as usize))
                .collect()
        })
        .collect()
}

/// Every parameter's values, in module order.
pub fn params(module: &impl Module) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .push(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// Panics on the first step after `kill_after`, as a crash would.
pub struct Crash {
    pub kill_after: usize,
}

impl lume_unlearn::TrainObserver for Crash {
    fn on_step(&mut self, record: &lume_unlearn::StepRecord) {
        assert!(record.step <= self.kill_after, "simulated crash");
    }
}

/// Mean NLL of `examples` under `model`, in f64 on the host.
pub fn nll(model: &dyn CausalModel, examples: &[TrainingExample], any: &impl Module) -> f64 {
    let b = batch(examples, any);
    let logits = host_logits(model, &b);
    let (mut sum, mut n) = (0.0, 0);
    for (r, row) in targets(examples).iter().enumerate() {
        for &(pos, id) in row {
            sum -= log_softmax(&logits[r][pos])[id];
            n += 1;
        }
    }
    sum / n as f64
}

/// `model` with every LoRA `B` factor set to seeded non-zero values, as training would leave
/// it (a fresh adapter's `B` is 0).
pub fn with_nonzero_b<M: Module>(model: M, seed: f32) -> M {
    model.map(&mut SetB {
        path: Vec::new(),
        step: seed,
    })
}

struct SetB {
    path: Vec<String>,
    step: f32,
}

impl ModuleMapper for SetB {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !self.path.join(".").ends_with("lora.b") {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let values: Vec<f32> = (0..shape.num_elements())
            .map(|i| {
                self.step += 1.0;
                0.05 * (i as f32 * 0.37 + self.step).sin()
            })
            .collect();
        let value = Tensor::<D>::from_data(TensorData::new(values, shape), &tensor.device());
        Param::from_mapped_value(id, value, mapper)
    }
}
