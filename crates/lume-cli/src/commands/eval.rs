//! `lume eval`: the benchmark's inference on a checkpoint, then its scores.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use burn::tensor::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lume_data::{Benchmark, MiaSet};
use lume_metrics::{InferenceOptions, evaluate_mmlu, read_mmlu, run_inference, score_dir};
use lume_model::{DeviceSpec, Engine, WeightDtype};

#[derive(Args)]
pub struct EvalArgs {
    /// Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json), or a
    /// llama.cpp `.gguf` file.
    #[arg(long)]
    model: PathBuf,
    /// Benchmark data: forget*.jsonl and retain*.jsonl (or parquet).
    #[arg(long)]
    data: PathBuf,
    /// Folder with member.jsonl and nonmember.jsonl [default: DATA/mia when present].
    #[arg(long)]
    mia: Option<PathBuf>,
    /// MMLU in the Hendrycks layout (dev/, test/).
    #[arg(long)]
    mmlu: Option<PathBuf>,
    /// Few-shot examples per MMLU prompt.
    #[arg(long, default_value_t = 5)]
    mmlu_shots: usize,
    /// Tokens generated per prompt.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Generation slots (continuous batching: a finished row's slot takes the next prompt).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Storage of the weight matrices: f32 (transformers' numbers), or bf16/f16 (half the
    /// memory, faster generation, logits within about 1e-2); activations stay f32.
    #[arg(long, default_value = "f32")]
    weights_dtype: WeightDtype,
    /// Output folder (the reference layout, plus evaluation_results.json).
    #[arg(long)]
    out: PathBuf,
}

pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// What one evaluation of a checkpoint gives: the scores and the raw inference.
pub struct Evaluation {
    /// The scores of `evaluation_results.json`.
    pub report: lume_metrics::ScoreReport,
    /// Generations, losses and token statistics.
    pub outputs: lume_metrics::InferenceOutputs,
}

/// Settings of an evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalSettings {
    /// Generation and batching.
    pub inference: InferenceOptions,
    /// Few-shot examples per MMLU prompt.
    pub mmlu_shots: usize,
    /// Storage of the weight matrices.
    pub weights_dtype: WeightDtype,
}

/// The benchmark's inference on `model_dir`, written in the reference layout into `out`, then
/// scored into `out/evaluation_results.json`.
pub fn evaluate_checkpoint(
    model_dir: &Path,
    bench: &Benchmark,
    mia: Option<&MiaSet>,
    mmlu: Option<&Path>,
    settings: EvalSettings,
    device: Device,
    out: &Path,
) -> anyhow::Result<Evaluation> {
    let mut engine = Engine::load(model_dir, device)
        .with_context(|| format!("loading {}", model_dir.display()))?;
    engine.batch_size = settings.inference.batch_size;
    if settings.weights_dtype != WeightDtype::F32 {
        engine.model = engine
            .model
            .clone()
            .with_weight_dtype(settings.weights_dtype);
    }
    let units = 2 * bench.records.len() + mia.map_or(0, |m| m.members.len() + m.nonmembers.len());
    let progress = bar(units as u64, "inference");
    let outputs = run_inference(
        &mut engine,
        &bench.records,
        mia.map(|m| (m.members.as_slice(), m.nonmembers.as_slice())),
        settings.inference,
        |done, _| progress.set_position(done as u64),
    )?;
    progress.finish_and_clear();
    print_totals(&engine.totals);
    outputs
        .write(out)
        .with_context(|| format!("writing {}", out.display()))?;
    let mut mmlu_file = None;
    if let Some(dir) = mmlu {
        let subjects = read_mmlu(dir)?;
        let report = evaluate_mmlu(&mut engine, &subjects, settings.mmlu_shots)?;
        let path = out.join("mmlu_metrics.json");
        super::write_json(&path, &serde_json::to_value(&report)?)?;
        mmlu_file = Some(path);
    }
    let report = score_dir(out, mmlu_file.as_deref())?;
    super::write_json(&out.join("evaluation_results.json"), &report.to_json())?;
    Ok(Evaluation { report, outputs })
}

/// What inference did, one line per phase, on standard error (the scores go to standard out).
fn print_totals(t: &lume_model::BulkProgress) {
    let rate = |tokens: usize, seconds: f64| {
        if seconds > 0.0 {
            format!("{:.0} tokens/s", tokens as f64 / seconds)
        } else {
            "-".to_owned()
        }
    };
    eprintln!(
        "scored {} rows and texts: {} tokens in {:.1} s ({})",
        t.scored,
        t.tokens_scored,
        t.scoring_seconds,
        rate(t.tokens_scored, t.scoring_seconds)
    );
    eprintln!(
        "generated for {} rows: {} tokens in {:.1} s ({})",
        t.generated,
        t.tokens_generated,
        t.decoding_seconds,
        rate(t.tokens_generated, t.decoding_seconds)
    );
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let device = args.device.parse::<DeviceSpec>()?.device()?;
    let bench = Benchmark::load(&args.data)?;
    let mia_dir = args.mia.clone().or_else(|| {
        let d = args.data.join("mia");
        d.is_dir().then_some(d)
    });
    let mia = mia_dir.as_deref().map(MiaSet::load).transpose()?;
    let settings = EvalSettings {
        inference: InferenceOptions {
            max_new_tokens: args.max_new_tokens,
            batch_size: args.batch_size,
        },
        mmlu_shots: args.mmlu_shots,
        weights_dtype: args.weights_dtype,
    };
    let evaluation = evaluate_checkpoint(
        &args.model,
        &bench,
        mia.as_ref(),
        args.mmlu.as_deref(),
        settings,
        device,
        &args.out,
    )?;
    println!("{}", evaluation.report.table());
    println!(
        "wrote {}",
        args.out.join("evaluation_results.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
