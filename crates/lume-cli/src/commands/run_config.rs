//! The configuration of `lume train` and `lume unlearn`: a TOML file, `--set key=value`
//! overrides, and the resolved result written beside every run.

use std::path::Path;

use anyhow::{Context, bail};
use lume_data::{Benchmark, Split, TrainingExample};
use lume_model::TextTokenizer;
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
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            max_length: 512,
            device: "cpu".into(),
            trainer: TrainerConfig::default(),
            method: toml::Table::new(),
        }
    }
}

fn parse_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

impl RunConfig {
    /// Defaults, then `file`, then each `key=value` of `sets` (`trainer.learning_rate=1e-4`,
    /// `method.beta=0.2`).
    pub fn resolve(file: Option<&Path>, sets: &[String]) -> anyhow::Result<Self> {
        let mut table = toml::Table::try_from(RunConfig::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
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
        RunConfig::deserialize(toml::Value::Table(table))
            .with_context(|| format!("configuration ({where_})"))
    }

    /// The method table as JSON overrides.
    pub fn method_overrides(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(&self.method)? {
            serde_json::Value::Object(map) => Ok(map),
            _ => Ok(serde_json::Map::new()),
        }
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
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
    pad_id: u32,
) -> anyhow::Result<UnlearnData> {
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
