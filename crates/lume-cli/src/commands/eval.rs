//! `lume eval`: the benchmark's inference on a checkpoint, then its scores.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lume_data::{Benchmark, MiaSet};
use lume_metrics::{InferenceOptions, evaluate_mmlu, read_mmlu, run_inference, score_dir};
use lume_model::{DeviceSpec, Engine};

#[derive(Args)]
pub struct EvalArgs {
    /// Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json).
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
    /// Prompts generated together.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// cpu, wgpu[:N] or cuda[:N].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Output folder (the reference layout, plus evaluation_results.json).
    #[arg(long)]
    out: PathBuf,
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let device = args.device.parse::<DeviceSpec>()?.device()?;
    let bench = Benchmark::load(&args.data)?;
    let mia_dir = args.mia.clone().or_else(|| {
        let d = args.data.join("mia");
        d.is_dir().then_some(d)
    });
    let mia = mia_dir.as_deref().map(MiaSet::load).transpose()?;
    let mut engine = Engine::load(&args.model, device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    engine.batch_size = args.batch_size;
    let options = InferenceOptions {
        max_new_tokens: args.max_new_tokens,
        batch_size: args.batch_size,
    };
    let units = 2 * bench.records.len()
        + mia
            .as_ref()
            .map_or(0, |m| m.members.len() + m.nonmembers.len());
    let progress = bar(units as u64, "inference");
    let outputs = run_inference(
        &mut engine,
        &bench.records,
        mia.as_ref()
            .map(|m| (m.members.as_slice(), m.nonmembers.as_slice())),
        options,
        |done, _| progress.set_position(done as u64),
    )?;
    progress.finish();
    outputs
        .write(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let mut mmlu_file = None;
    if let Some(dir) = &args.mmlu {
        let subjects = read_mmlu(dir)?;
        let report = evaluate_mmlu(&mut engine, &subjects, args.mmlu_shots)?;
        let path = args.out.join("mmlu_metrics.json");
        super::write_json(&path, &serde_json::to_value(&report)?)?;
        mmlu_file = Some(path);
    }
    let report = score_dir(&args.out, mmlu_file.as_deref())?;
    let path = args.out.join("evaluation_results.json");
    super::write_json(&path, &report.to_json())?;
    println!("{}", report.table());
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
