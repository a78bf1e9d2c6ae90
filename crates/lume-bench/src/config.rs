//! Configuration: [`RunConfig`] of one training or unlearning run, [`BenchConfig`] of a whole
//! benchmark, and [`resolve_config`], the one way both are read (defaults, then a TOML file,
//! then `key=value` overrides).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lume_data::Fraction;
use lume_model::Precision;
use lume_unlearn::{Registry, Schedule, TrainerConfig};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::probes::ProbeConfig;
use crate::tune::TuneConfig;

/// Everything a run reads, with defaults for what the file leaves out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Longest example in tokens (prompt + answer, cut on the right).
    pub max_length: usize,
    /// `cpu`, `wgpu[:N]` or `cuda[:N]`.
    pub device: String,
    /// The trainer's knobs.
    pub trainer: TrainerConfig,
    /// The method's hyperparameters (overriding its defaults).
    pub method: toml::Table,
    /// The shape of a fresh model (`lume train` without `--model`).
    pub model: FreshModel,
}

/// A fresh model's shape, its tokenizer's vocabulary and its initialisation seed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FreshModel {
    /// Vocabulary of the byte-level BPE tokenizer trained on the data.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Decoder blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Longest sequence.
    pub max_positions: usize,
    /// Seed of the weights.
    pub seed: u64,
}

impl Default for FreshModel {
    fn default() -> Self {
        FreshModel {
            vocab_size: 2048,
            hidden_size: 128,
            layers: 4,
            heads: 4,
            kv_heads: 4,
            intermediate_size: 352,
            max_positions: 512,
            seed: 0,
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            max_length: 512,
            device: "cpu".into(),
            trainer: TrainerConfig::default(),
            method: toml::Table::new(),
            model: FreshModel::default(),
        }
    }
}

fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// `T`'s defaults, then `file`, then each `key=value` of `sets` (`trainer.learning_rate=1e-4`):
/// the one way every command reads its TOML configuration. Unknown keys are errors naming
/// where they came from.
pub fn resolve_config<T>(file: Option<&Path>, sets: &[String]) -> Result<T, BenchError>
where
    T: Serialize + serde::de::DeserializeOwned + Default,
{
    let mut table = toml::Table::try_from(T::default())
        .map_err(|e| BenchError::Config(format!("the defaults: {e}")))?;
    if let Some(path) = file {
        let text = lume_data::read_regular_string(path).map_err(BenchError::io(path))?;
        let from_file: toml::Table = toml::from_str(&text)
            .map_err(|e| BenchError::Config(format!("{}: {}", path.display(), one_line(&e))))?;
        merge(&mut table, from_file);
    }
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            return Err(BenchError::Config(format!(
                "--set {set}: expected key=value (e.g. trainer.learning_rate=1e-4)"
            )));
        };
        let mut node = &mut table;
        let parts: Vec<&str> = key.trim().split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| {
                    BenchError::Config(format!("--set {set}: `{part}` is not a table"))
                })?;
        }
        node.insert(
            parts[parts.len() - 1].to_string(),
            parse_value(value.trim()),
        );
    }
    let where_ = file.map_or("--set".to_string(), |p| format!("{} / --set", p.display()));
    T::deserialize(toml::Value::Table(table))
        .map_err(|e| BenchError::Config(format!("configuration ({where_}): {}", one_line(&e))))
}

impl RunConfig {
    /// Defaults, then `file`, then each `key=value` of `sets` (`trainer.learning_rate=1e-4`,
    /// `method.beta=0.2`).
    pub fn resolve(file: Option<&Path>, sets: &[String]) -> Result<Self, BenchError> {
        resolve_config(file, sets)
    }

    /// The method table as JSON overrides.
    pub fn method_overrides(
        &self,
    ) -> Result<serde_json::Map<String, serde_json::Value>, BenchError> {
        match serde_json::to_value(&self.method) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Ok(serde_json::Map::new()),
            Err(e) => Err(BenchError::Config(format!("the method table: {e}"))),
        }
    }
}

/// A parser's message on one line (TOML's span multiple, with a caret drawing).
fn one_line(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `over` written into `base`, tables key by key.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// Everything `lume bench` reads. `lume bench --print-config` prints the defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchConfig {
    /// Seed of the synthetic data.
    pub seed: u64,
    /// Synthetic documents per task (forget and retain together).
    pub docs_per_task: usize,
    /// `cpu`, `wgpu[:N]` or `cuda[:N]`.
    pub device: String,
    /// Longest training example in tokens.
    pub max_length: usize,
    /// Methods run, in leaderboard order.
    pub methods: Vec<String>,
    /// Unlearning runs per method, seed `s` adding `s` to every seed of the run (data order,
    /// LoRA initialisation, RMU's direction); the leaderboard ranks the methods over them.
    pub seeds: usize,
    /// Fine-tunings of the target and gold models (their trainer seed plus `t`); the method
    /// run of seed `s` starts from target `s mod target_seeds`.
    pub target_seeds: usize,
    /// How much of the data the run uses (`[data] fraction = 0.0625`): every split × task ×
    /// kind in proportion, whole documents, seeded; the membership sets follow it.
    pub data: Fraction,
    /// The fresh model (and its tokenizer) trained into the target and gold models.
    pub model: FreshModel,
    /// Existing checkpoints to use instead of training (`base`, `target`, `gold`).
    pub checkpoints: Checkpoints,
    /// Fine-tuning of the target model (forget + retain).
    pub target: TrainerConfig,
    /// Fine-tuning of the gold model (retain only).
    pub gold: TrainerConfig,
    /// The trainer of every unlearning run.
    pub unlearn: TrainerConfig,
    /// Per method: hyperparameters, and a `trainer` table overriding `unlearn` for it.
    pub method: BTreeMap<String, toml::Table>,
    /// Inference settings.
    pub eval: EvalConfig,
    /// What the target and gold models must show before unlearning means anything.
    pub checks: ChecksConfig,
    /// Is it really forgotten? Relearning, quantization, successive requests, scaling.
    pub probes: ProbeConfig,
    /// `lume tune`: the budget, the floor and the search space.
    pub tune: TuneConfig,
}

/// Checkpoints that replace trained ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Checkpoints {
    /// Start target and gold from this Hugging Face checkpoint instead of a fresh model.
    pub base: Option<PathBuf>,
    /// Use this target model as it is (e.g. a released LUME target).
    pub target: Option<PathBuf>,
    /// Use this gold model as it is.
    pub gold: Option<PathBuf>,
}

/// Inference settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Tokens generated per prompt (the protocol: 256).
    pub max_new_tokens: usize,
    /// Prompts generated together.
    pub batch_size: usize,
    /// End a question's generation once its exact match can no longer be 1: the same scores,
    /// shorter stored generations (off: the reference's full generations).
    pub stop_decided: bool,
    /// Few-shot examples per MMLU prompt.
    pub mmlu_shots: usize,
    /// MMLU questions scored per subject, the first of each (unset: all 14,042 of real MMLU,
    /// about 8 M prompt tokens a model).
    pub mmlu_questions: Option<usize>,
    /// The precision of the matrix products (`lume bench --precision` sets it here and in
    /// `target`, `gold` and `unlearn`).
    pub precision: Precision,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            max_new_tokens: 256,
            batch_size: 32,
            stop_decided: false,
            mmlu_shots: 5,
            mmlu_questions: None,
            precision: Precision::F32,
        }
    }
}

/// Memorization checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Least regurgitation of the target on each split.
    pub min_regurgitation: f64,
    /// Least knowledge of the target on each split.
    pub min_knowledge: f64,
    /// Most forget knowledge of the gold model.
    pub max_gold_forget_knowledge: f64,
    /// Stop before unlearning when a check fails.
    pub enforce: bool,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            min_regurgitation: 0.9,
            min_knowledge: 0.8,
            max_gold_forget_knowledge: 0.5,
            enforce: true,
        }
    }
}

/// The methods of the default leaderboard.
pub const DEFAULT_METHODS: [&str; 7] = ["ga", "gd", "kl", "npo", "simnpo", "rmu", "seq-gd"];

/// Hyperparameters that differ from a method's defaults at the embedded scale (a model of a
/// few million parameters, a few hundred rows).
fn embedded_overrides(name: &str) -> toml::Table {
    let text = match name {
        // The defaults (32 forget × 7 retain per chunk, last 8 of 32 layers) are sized for
        // OLMo-7B; here chunks are smaller and every layer of the 4-layer model trains.
        "seq-gd" => {
            "chunk_size = 8\nretain_per_forget = 3\nretain_weight = 1.0\nlast_layers = 4\n\
             [trainer]\nlearning_rate = 3e-4\nepochs = 3"
        }
        // Layer 7 does not exist in a 4-layer model; steer the middle of it, with a retain
        // weight that does not drown the forget term at this width.
        "rmu" => "layer = 2\nalpha = 10.0\n[trainer]\nlearning_rate = 1e-3",
        "simnpo" => "[trainer]\nlearning_rate = 5e-4",
        _ => "",
    };
    toml::from_str(text).unwrap_or_default()
}

impl Default for BenchConfig {
    fn default() -> Self {
        let fine_tune = TrainerConfig {
            learning_rate: 2e-3,
            schedule: Schedule::Cosine,
            warmup_steps: 10,
            epochs: 40,
            batch_size: 8,
            seed: 0,
            ..TrainerConfig::default()
        };
        let registry = Registry::builtin();
        let mut method = BTreeMap::new();
        for name in DEFAULT_METHODS {
            let mut table = registry
                .get(name)
                .ok()
                .and_then(|f| toml::Table::try_from(without_nulls(f.defaults().clone())).ok())
                .unwrap_or_default();
            merge(&mut table, embedded_overrides(name));
            method.insert(name.to_string(), table);
        }
        BenchConfig {
            seed: 0,
            docs_per_task: 16,
            device: "cpu".into(),
            max_length: 256,
            methods: DEFAULT_METHODS.map(String::from).to_vec(),
            seeds: 1,
            target_seeds: 1,
            data: Fraction::default(),
            model: FreshModel {
                max_positions: 512,
                ..FreshModel::default()
            },
            checkpoints: Checkpoints::default(),
            target: fine_tune.clone(),
            gold: fine_tune,
            unlearn: TrainerConfig {
                learning_rate: 1e-4,
                epochs: 5,
                batch_size: 4,
                ..TrainerConfig::default()
            },
            method,
            eval: EvalConfig::default(),
            checks: ChecksConfig::default(),
            probes: ProbeConfig::default(),
            tune: TuneConfig::default(),
        }
    }
}

/// Adds `s` to every integer named `seed`, in nested tables too.
fn add_to_seeds(table: &mut toml::Table, s: i64) {
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::Integer(seed) if key == "seed" => *seed = seed.wrapping_add(s),
            toml::Value::Table(inner) => add_to_seeds(inner, s),
            _ => {}
        }
    }
}

/// TOML has no null: optional hyperparameters that are unset are left out.
fn without_nulls(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

impl BenchConfig {
    /// Gives every method of `methods` a `method.<name>` table with its defaults from
    /// `registry` under what the configuration already says (so `--print-config` shows a
    /// plugin method's hyperparameters too). An unknown name is left for the run to refuse.
    pub fn add_method_defaults(&mut self, registry: &Registry) -> Result<(), BenchError> {
        for name in &self.methods {
            let Ok(factory) = registry.get(name) else {
                continue;
            };
            let mut table = toml::Table::try_from(without_nulls(factory.defaults().clone()))
                .map_err(|e| BenchError::Config(format!("method `{name}`'s defaults: {e}")))?;
            if let Some(given) = self.method.remove(name) {
                merge(&mut table, given);
            }
            self.method.insert(name.clone(), table);
        }
        Ok(())
    }

    /// Every stage's products in `precision`: fine-tuning, unlearning and evaluation (a
    /// method's own `trainer` table may still say otherwise).
    pub fn set_precision(&mut self, precision: Precision) {
        for trainer in [&mut self.target, &mut self.gold, &mut self.unlearn] {
            trainer.precision = precision;
        }
        self.eval.precision = precision;
    }

    /// The run configuration of fine-tuning with `trainer`.
    pub fn fine_tune_run(&self, trainer: &TrainerConfig) -> RunConfig {
        RunConfig {
            max_length: self.max_length,
            device: self.device.clone(),
            trainer: trainer.clone(),
            method: toml::Table::new(),
            model: self.model.clone(),
        }
    }

    /// The run configuration of method `name` under seed `s`: [`method_run`](Self::method_run)
    /// with `s` added to the trainer's seed and to every `seed` among the hyperparameters.
    pub fn seeded_method_run(&self, name: &str, s: usize) -> Result<RunConfig, BenchError> {
        let mut run = self.method_run(name)?;
        run.trainer.seed = run.trainer.seed.wrapping_add(s as u64);
        add_to_seeds(&mut run.method, s as i64);
        Ok(run)
    }

    /// The run configuration of method `name`: `unlearn` with the method's `trainer` table
    /// over it, and the method's hyperparameters.
    pub fn method_run(&self, name: &str) -> Result<RunConfig, BenchError> {
        let mut hyperparameters = self.method.get(name).cloned().unwrap_or_default();
        let mut trainer = toml::Table::try_from(&self.unlearn)
            .map_err(|e| BenchError::Config(format!("unlearn: {e}")))?;
        if let Some(toml::Value::Table(over)) = hyperparameters.remove("trainer") {
            merge(&mut trainer, over);
        }
        let trainer = TrainerConfig::deserialize(toml::Value::Table(trainer))
            .map_err(|e| BenchError::Config(format!("method.{name}.trainer: {e}")))?;
        Ok(RunConfig {
            max_length: self.max_length,
            device: self.device.clone(),
            trainer,
            method: hyperparameters,
            model: self.model.clone(),
        })
    }
}
