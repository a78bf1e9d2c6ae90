//! The configuration of `lume train` and `lume unlearn`: a TOML file, `--set key=value`
//! overrides, and the resolved result written beside every run.

use std::path::Path;

use anyhow::{Context, bail};
use lume_data::{Benchmark, MiaSet, Split, TrainingExample};
use lume_model::{DeviceSpec, EOS_TOKEN, LlamaShape, Model, ModelConfig, PAD_TOKEN, TextTokenizer};
use lume_unlearn::{TrainerConfig, UnlearnData, refusal_for};
use serde::{Deserialize, Serialize};

/// Everything a run reads, with defaults for what the file leaves out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Longest example in tokens (prompt + answer, cut on the right).
    pub max_length: usize,
    /// cpu, wgpu[:N] or cuda[:N].
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

/// Trains a byte-level BPE tokenizer on the benchmark's text and the membership-inference
/// documents, builds a random model of `shape` around it, and saves both in the Hugging Face
/// layout into `dir`.
///
/// The non-member documents are in the tokenizer's text on purpose: a tokenizer that had seen
/// only members would encode them in fewer, likelier tokens, and every membership attack
/// would see that instead of what the model remembers.
pub fn init_fresh_model(
    bench: &Benchmark,
    mia: Option<&MiaSet>,
    shape: &FreshModel,
    max_length: usize,
    dir: &Path,
) -> anyhow::Result<()> {
    let documents = mia
        .into_iter()
        .flat_map(|m| m.members.iter().chain(&m.nonmembers))
        .map(|d| d.document.as_str());
    let texts = bench
        .records
        .iter()
        .flat_map(|r| [r.input.as_str(), r.output.as_str()])
        .chain(documents);
    let tokenizer = TextTokenizer::train_byte_level_bpe(texts, shape.vocab_size)?;
    let mut config = ModelConfig::llama(LlamaShape {
        vocab_size: tokenizer.vocab_size(),
        hidden_size: shape.hidden_size,
        layers: shape.layers,
        heads: shape.heads,
        kv_heads: shape.kv_heads,
        intermediate_size: shape.intermediate_size,
        max_positions: shape.max_positions,
    })
    .context("the [model] table")?;
    config.eos_token_ids = tokenizer.token_to_id(EOS_TOKEN).into_iter().collect();
    config.pad_token_id = tokenizer.token_to_id(PAD_TOKEN);
    let model = Model::random(config, shape.seed, &DeviceSpec::Cpu.device()?);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    model
        .save(dir)
        .with_context(|| format!("saving {}", dir.display()))?;
    tokenizer.save_with_config(dir, max_length)?;
    Ok(())
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
pub fn resolve_config<T>(file: Option<&Path>, sets: &[String]) -> anyhow::Result<T>
where
    T: Serialize + serde::de::DeserializeOwned + Default,
{
    let mut table = toml::Table::try_from(T::default())?;
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let from_file: toml::Table =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        merge(&mut table, from_file);
    }
    for set in sets {
        let Some((key, value)) = set.split_once('=') else {
            bail!("--set {set}: expected key=value (e.g. trainer.learning_rate=1e-4)");
        };
        let mut node = &mut table;
        let parts: Vec<&str> = key.trim().split('.').collect();
        for part in &parts[..parts.len() - 1] {
            node = node
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .with_context(|| format!("--set {set}: `{part}` is not a table"))?;
        }
        node.insert(
            parts[parts.len() - 1].to_string(),
            parse_value(value.trim()),
        );
    }
    let where_ = file.map_or("--set".to_string(), |p| format!("{} / --set", p.display()));
    T::deserialize(toml::Value::Table(table)).with_context(|| format!("configuration ({where_})"))
}

impl RunConfig {
    /// Defaults, then `file`, then each `key=value` of `sets` (`trainer.learning_rate=1e-4`,
    /// `method.beta=0.2`).
    pub fn resolve(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Self> {
        resolve_config(file, sets)
    }

    /// The method table as JSON overrides.
    pub fn method_overrides(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(&self.method)? {
            serde_json::Value::Object(map) => Ok(map),
            _ => Ok(serde_json::Map::new()),
        }
    }
}

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

/// Tokenized forget and retain examples (and refusals) of a benchmark.
pub fn tokenize(
    bench: &Benchmark,
    tokenizer: &TextTokenizer,
    max_length: usize,
    model: &ModelConfig,
) -> anyhow::Result<UnlearnData> {
    let pad_id = model
        .pad_token_id
        .or_else(|| model.eos_token_ids.first().copied())
        .unwrap_or(0);
    let mut data = UnlearnData {
        pad_id,
        ..UnlearnData::default()
    };
    let mut skipped = 0;
    for record in &bench.records {
        let example = TrainingExample::from_record(tokenizer, record, Some(max_length))
            .with_context(|| format!("tokenizing {}", record.id))?;
        if example.answer_tokens() == 0 {
            skipped += 1;
            continue;
        }
        match record.split {
            Split::Forget => {
                let refusal = refusal_for(data.forget.len());
                data.refusals.push(
                    TrainingExample::prompt_answer(
                        tokenizer,
                        &record.input,
                        &refusal,
                        Some(max_length),
                    )
                    .with_context(|| format!("tokenizing a refusal for {}", record.id))?,
                );
                data.forget.push(example);
            }
            Split::Retain => data.retain.push(example),
        }
    }
    if skipped > 0 {
        eprintln!(
            "warning: {skipped} of {} examples left out: their prompt fills max_length = {max_length} tokens",
            bench.records.len()
        );
    }
    Ok(data)
}
