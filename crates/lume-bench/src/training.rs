//! Training runs from a checkpoint folder: the data a run learns from, a fresh model to start
//! from, fine-tuning (target and gold) and unlearning, each written as a Hugging Face folder.

use std::path::Path;
use std::time::Instant;

use lume_data::{Benchmark, MiaSet, Split, TrainingExample};
use lume_model::{DeviceSpec, EOS_TOKEN, LlamaShape, Model, ModelConfig, PAD_TOKEN, TextTokenizer};
use lume_unlearn::{FineTune, StepRecord, UnlearnData, UnlearningMethod, refusal_for, train};

use crate::config::{FreshModel, RunConfig};
use crate::error::{BenchError, Context, write_json};
use crate::observer::Observer;
use crate::provenance::{LOCK_FILE, OutputLock, checkpoint_digest};
use crate::stage::fingerprint;
use lume_model::Numerics;
use serde::{Deserialize, Serialize};

/// Tokenized forget and retain examples of a benchmark, and a refusal for every forget prompt
/// (IdkDPO's preferred answers). Examples whose prompt fills `max_length` are left out, with a
/// warning to `observer`.
pub fn training_data(
    bench: &Benchmark,
    tokenizer: &TextTokenizer,
    max_length: usize,
    model: &ModelConfig,
    observer: &mut dyn Observer,
) -> Result<UnlearnData, BenchError> {
    let pad_id = model
        .pad_token_id
        .or_else(|| model.eos_token_ids.first().copied())
        .unwrap_or(0);
    let mut data = UnlearnData {
        pad_id,
        ..UnlearnData::default()
    };
    let mut skipped = 0;
    let codec = |e: lume_data::EncodeError| lume_model::TokenizerError::Codec(e.0);
    for record in &bench.records {
        let example = TrainingExample::from_record(tokenizer, record, Some(max_length))
            .map_err(codec)
            .context(|| format!("tokenizing {}", record.id))?;
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
                    .map_err(codec)
                    .context(|| format!("tokenizing a refusal for {}", record.id))?,
                );
                data.forget.push(example);
            }
            Split::Retain => data.retain.push(example),
        }
    }
    if skipped > 0 {
        observer.warning(&format!(
            "{skipped} of {} examples left out: their prompt fills max_length = {max_length} tokens",
            bench.records.len()
        ));
    }
    Ok(data)
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
) -> Result<(), BenchError> {
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
    .context(|| "the [model] table".to_string())?;
    config.eos_token_ids = tokenizer.token_to_id(EOS_TOKEN).into_iter().collect();
    config.pad_token_id = tokenizer.token_to_id(PAD_TOKEN);
    let model = Model::random(config, shape.seed, &DeviceSpec::Cpu.device()?);
    std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
    model
        .save(dir)
        .context(|| format!("saving {}", dir.display()))?;
    tokenizer.save_with_config(dir, max_length)?;
    Ok(())
}

/// The data of a run, made once the checkpoint's tokenizer and config are known (warnings go
/// to the observer).
pub type DataFn<'a> = dyn FnOnce(
        &TextTokenizer,
        &RunConfig,
        &ModelConfig,
        &mut dyn Observer,
    ) -> Result<UnlearnData, BenchError>
    + 'a;

/// What a training run is made from. A run resumes from the checkpoints in `OUT/run` only
/// when they were made from the same key, and `OUT/lume_config.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunKey {
    base_model: String,
    data: String,
    method: String,
    hyperparameters: serde_json::Value,
    run: serde_json::Value,
    numerics: Numerics,
}

impl RunKey {
    fn new(
        model_dir: &Path,
        data: &UnlearnData,
        method: &dyn UnlearningMethod,
        config: &RunConfig,
        out: &Path,
    ) -> Result<Self, BenchError> {
        let examples = |set: &[TrainingExample]| {
            set.iter()
                .map(|e| (e.input_ids.clone(), e.labels.clone()))
                .collect::<Vec<_>>()
        };
        Ok(RunKey {
            base_model: checkpoint_digest(model_dir, &out.join(".lume"))?,
            data: fingerprint(&(
                examples(&data.forget),
                examples(&data.retain),
                examples(&data.refusals),
                data.pad_id,
            )),
            method: method.name().to_owned(),
            hyperparameters: method.hyperparameters(),
            run: json_value(config, "the run configuration")?,
            numerics: Numerics::current(),
        })
    }

    /// The first part of the key that differs from `other`, in words.
    fn difference(&self, other: &RunKey) -> String {
        if self.method != other.method {
            format!("method `{}`, not `{}`", other.method, self.method)
        } else if self.base_model != other.base_model {
            "another starting checkpoint (its files' content differs)".into()
        } else if self.data != other.data {
            "other training data".into()
        } else if self.hyperparameters != other.hyperparameters {
            format!(
                "other hyperparameters ({}, not {})",
                other.hyperparameters, self.hyperparameters
            )
        } else if self.run != other.run {
            "another run configuration ([trainer], max_length or device)".into()
        } else {
            format!(
                "another lume build or CPU ({:?}, not {:?})",
                other.numerics, self.numerics
            )
        }
    }
}

/// `value` as JSON; a failure (a map with non-string keys) names what it was.
fn json_value<T: Serialize>(value: &T, what: &str) -> Result<serde_json::Value, BenchError> {
    serde_json::to_value(value).map_err(|e| BenchError::Config(format!("{what}: {e}")))
}

const KEY_FILE: &str = "run_key.json";

/// Refuses an output folder that holds a run (checkpoints in `out/run`, or a finished model)
/// made from other inputs than `key`.
fn check_resumable(out: &Path, key: &RunKey) -> Result<(), BenchError> {
    let stale = |what: &str, differs: String| BenchError::Stale {
        path: out.to_path_buf(),
        message: format!(
            "holds {what} made from other inputs ({differs}); write to another folder, \
             or pass --fresh to discard it"
        ),
    };
    let read_key = |path: &Path, pointer: &str| -> Option<RunKey> {
        let text = std::fs::read_to_string(path).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        serde_json::from_value(value.pointer(pointer)?.clone()).ok()
    };
    let run = out.join("run");
    let has_checkpoints = std::fs::read_dir(&run)
        .is_ok_and(|mut entries| entries.any(|e| e.is_ok_and(|e| e.file_name() != KEY_FILE)));
    let config = out.join("lume_config.json");
    let held = [
        (
            has_checkpoints,
            run.join(KEY_FILE),
            "",
            "checkpoints of a run",
        ),
        (config.is_file(), config, "/run_key", "a finished run"),
    ];
    for (record, pointer, what) in held
        .into_iter()
        .filter_map(|(there, r, p, w)| there.then_some((r, p, w)))
    {
        match read_key(&record, pointer) {
            Some(found) if found == *key => {}
            Some(found) => return Err(stale(what, key.difference(&found))),
            None => return Err(stale(what, format!("{} does not say", record.display()))),
        }
    }
    Ok(())
}

/// Runs `method` from `model_dir` over the data `data` makes into `out` (the trained
/// checkpoint, its tokenizer, `lume_config.json` and `train_history.json`), resuming from
/// `out/run` when an earlier attempt from the same inputs left checkpoints there.
///
/// Refuses ([`BenchError::Stale`]) a folder that holds checkpoints or a finished model made
/// from anything else (another method, starting checkpoint, data, configuration or lume
/// build), and one that another process writes ([`BenchError::Busy`]). `lume_config.json` is
/// written last, so a folder without it holds no finished run.
pub fn run_method(
    model_dir: &Path,
    data: Box<DataFn<'_>>,
    method: &mut dyn UnlearningMethod,
    config: &RunConfig,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<Vec<StepRecord>, BenchError> {
    let spec: DeviceSpec = config.device.parse()?;
    let device = spec.training_device()?;
    let model =
        Model::load(model_dir, &device).context(|| format!("loading {}", model_dir.display()))?;
    let tokenizer = TextTokenizer::from_dir(model_dir)?;
    tokenizer.check_fits(model.config.vocab_size, model_dir)?;
    let data = data(&tokenizer, config, &model.config, observer)?;
    let _lock = OutputLock::acquire(out, LOCK_FILE)?;
    let key = RunKey::new(model_dir, &data, method, config, out)?;
    check_resumable(out, &key)?;
    let run = out.join("run");
    std::fs::create_dir_all(&run).map_err(BenchError::io(&run))?;
    write_json(&run.join(KEY_FILE), &json_value(&key, KEY_FILE)?)?;
    let started = Instant::now();
    let outcome = train(model, method, &data, &config.trainer, Some(&run), observer)?;
    outcome
        .model
        .save(out)
        .context(|| format!("saving {}", out.display()))?;
    tokenizer.save(out)?;
    for extra in ["tokenizer_config.json", "special_tokens_map.json"] {
        let from = model_dir.join(extra);
        if from.is_file() {
            std::fs::copy(&from, out.join(extra)).map_err(BenchError::io(&from))?;
        }
    }
    write_json(
        &out.join("train_history.json"),
        &serde_json::json!({
            "wall_seconds": started.elapsed().as_secs_f64(),
            "resumed_at": outcome.resumed_at,
            "steps": outcome.history,
            "selection": outcome.selection,
            "selected_step": outcome.selected_step,
        }),
    )?;
    write_json(
        &out.join("lume_config.json"),
        &serde_json::json!({
            "base_model": model_dir,
            "method": method.name(),
            "hyperparameters": method.hyperparameters(),
            "run": config,
            "run_key": key,
        }),
    )?;
    Ok(outcome.history)
}

/// Fine-tunes `model_dir` on forget + retain (the target) or retain only (`gold`) into `out`;
/// answers end with EOS so that the model learns to stop.
pub fn fine_tune(
    model_dir: &Path,
    bench: &Benchmark,
    gold: bool,
    config: &RunConfig,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<Vec<StepRecord>, BenchError> {
    let mut method = FineTune::default();
    run_method(
        model_dir,
        Box::new(move |tokenizer, config, model, observer| {
            let split = training_data(bench, tokenizer, config.max_length, model, observer)?;
            let mut training = split.retain;
            if !gold {
                training.extend(split.forget);
            }
            if let Some(&eos) = model.eos_token_ids.first() {
                training = training.into_iter().map(|ex| ex.with_eos(eos)).collect();
            }
            Ok(UnlearnData {
                forget: training,
                pad_id: split.pad_id,
                ..UnlearnData::default()
            })
        }),
        &mut method,
        config,
        out,
        observer,
    )
}
