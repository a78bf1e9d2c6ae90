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

/// Runs `method` from `model_dir` over the data `data` makes into `out` (the trained
/// checkpoint, its tokenizer, `lume_config.json` and `train_history.json`), resuming from
/// `out/run` when an earlier attempt left checkpoints there.
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
    let data = data(&tokenizer, config, &model.config, observer)?;
    std::fs::create_dir_all(out).map_err(BenchError::io(out))?;
    write_json(
        &out.join("lume_config.json"),
        &serde_json::json!({
            "base_model": model_dir,
            "method": method.name(),
            "hyperparameters": method.hyperparameters(),
            "run": config,
        }),
    )?;
    let started = Instant::now();
    let outcome = train(
        model,
        method,
        &data,
        &config.trainer,
        Some(&out.join("run")),
        observer,
    )?;
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
