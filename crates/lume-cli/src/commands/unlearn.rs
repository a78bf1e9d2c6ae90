//! `lume unlearn` and `lume train`: one trainer, a method (or fine-tuning), a checkpoint out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use lume_data::Benchmark;
use lume_model::{DeviceSpec, Model, ModelConfig, TextTokenizer};
use lume_unlearn::{
    StepRecord, TrainObserver, UnlearnData, UnlearningMethod, build_method, describe_methods, train,
};

use super::run_config::{RunConfig, init_fresh_model, tokenize};

#[derive(Args)]
pub struct UnlearnArgs {
    /// Hugging Face checkpoint to unlearn from (config.json, model.safetensors, tokenizer.json).
    #[arg(long, required_unless_present = "list")]
    model: Option<PathBuf>,
    /// Benchmark data: forget*.jsonl and retain*.jsonl (or parquet).
    #[arg(long, required_unless_present = "list")]
    data: Option<PathBuf>,
    /// Method name (see --list).
    #[arg(long, required_unless_present = "list")]
    method: Option<String>,
    /// Output folder: the unlearned checkpoint, its config and loss history.
    #[arg(long, required_unless_present = "list")]
    out: Option<PathBuf>,
    /// TOML configuration ([trainer], [method], max_length, device).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one key, e.g. --set method.beta=0.2 --set trainer.learning_rate=1e-4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// List the methods with their default hyperparameters.
    #[arg(long)]
    list: bool,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Hugging Face checkpoint to fine-tune [default: a fresh model shaped by the config's
    /// [model] table, with a byte-level BPE tokenizer trained on the data, in OUT/init].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Benchmark data: forget*.jsonl and retain*.jsonl (or parquet).
    #[arg(long)]
    data: PathBuf,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Train on the retain split only (the gold model); default: forget + retain (the target).
    #[arg(long)]
    gold: bool,
    /// TOML configuration ([trainer], max_length, device).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one key, e.g. --set trainer.epochs=10.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
}

/// A progress bar with the loss, and the checkpoint folder when one is written.
struct Progress {
    bar: ProgressBar,
}

impl TrainObserver for Progress {
    fn on_start(&mut self, total_steps: usize, resumed_at: usize) {
        self.bar.set_length(total_steps as u64);
        self.bar.set_position(resumed_at as u64);
        if resumed_at > 0 {
            self.bar.println(format!("resuming at step {resumed_at}"));
        }
    }
    fn on_step(&mut self, record: &StepRecord) {
        self.bar.set_position(record.step as u64);
        self.bar.set_message(format!(
            "loss {:.4} lr {:.2e} |g| {:.3}",
            record.loss.total, record.lr, record.grad_norm
        ));
    }
}

/// Runs `method` from `model_dir` over `data` into `out`, resuming from `out/run` when an
/// earlier attempt left checkpoints there.
pub fn run_method(
    model_dir: &Path,
    data: impl FnOnce(&TextTokenizer, &RunConfig, &ModelConfig) -> anyhow::Result<UnlearnData>,
    method: &mut dyn UnlearningMethod,
    config: &RunConfig,
    out: &Path,
) -> anyhow::Result<Vec<StepRecord>> {
    let spec: DeviceSpec = config.device.parse()?;
    let device = spec.training_device()?;
    let model = Model::load(model_dir, &device)
        .with_context(|| format!("loading {}", model_dir.display()))?;
    let tokenizer = TextTokenizer::from_dir(model_dir)?;
    let data = data(&tokenizer, config, &model.config)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    super::write_json(
        &out.join("lume_config.json"),
        &serde_json::json!({
            "base_model": model_dir,
            "method": method.name(),
            "hyperparameters": method.hyperparameters(),
            "run": config,
        }),
    )?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} ({eta} left) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(method.name().to_string());
    let started = Instant::now();
    let outcome = train(
        model,
        method,
        &data,
        &config.trainer,
        Some(&out.join("run")),
        &mut Progress { bar: bar.clone() },
    )?;
    bar.finish();
    outcome
        .model
        .save(out)
        .with_context(|| format!("saving {}", out.display()))?;
    tokenizer.save(out)?;
    for extra in ["tokenizer_config.json", "special_tokens_map.json"] {
        let from = model_dir.join(extra);
        if from.is_file() {
            std::fs::copy(&from, out.join(extra))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    super::write_json(
        &out.join("train_history.json"),
        &serde_json::json!({
            "wall_seconds": started.elapsed().as_secs_f64(),
            "resumed_at": outcome.resumed_at,
            "steps": outcome.history,
        }),
    )?;
    Ok(outcome.history)
}

fn list_methods() -> ExitCode {
    for info in describe_methods() {
        println!("{:<8} {}", info.name, info.summary);
        println!("         defaults: {}", info.defaults);
    }
    ExitCode::SUCCESS
}

pub fn run_unlearn(args: UnlearnArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        return Ok(list_methods());
    }
    let (Some(model), Some(data), Some(name), Some(out)) =
        (args.model, args.data, args.method, args.out)
    else {
        anyhow::bail!("--model, --data, --method and --out are required");
    };
    let config = RunConfig::resolve(args.config.as_deref(), &args.sets)?;
    let mut method = build_method(&name, &config.method_overrides()?)?;
    let bench = Benchmark::load(&data)?;
    run_method(
        &model,
        |tokenizer, config, model| tokenize(&bench, tokenizer, config.max_length, model),
        method.as_mut(),
        &config,
        &out,
    )?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run_train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let config = RunConfig::resolve(args.config.as_deref(), &args.sets)?;
    let bench = Benchmark::load(&args.data)?;
    let model_dir = match &args.model {
        Some(dir) => dir.clone(),
        None => {
            let init = args.out.join("init");
            if !init.join("model.safetensors").is_file() {
                let mia_dir = args.data.join("mia");
                let mia = mia_dir
                    .is_dir()
                    .then(|| lume_data::MiaSet::load(&mia_dir))
                    .transpose()?;
                init_fresh_model(
                    &bench,
                    mia.as_ref(),
                    &config.model,
                    config.max_length,
                    &init,
                )?;
                println!(
                    "initialised a fresh model and a tokenizer trained on the data in {}",
                    init.display()
                );
            }
            init
        }
    };
    fine_tune(&model_dir, &bench, args.gold, &config, &args.out)?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Fine-tunes `model_dir` on forget + retain (the target) or retain only (`gold`) into `out`;
/// answers end with EOS so that the model learns to stop.
pub fn fine_tune(
    model_dir: &Path,
    bench: &Benchmark,
    gold: bool,
    config: &RunConfig,
    out: &Path,
) -> anyhow::Result<Vec<StepRecord>> {
    let mut method = build_method("finetune", &config.method_overrides()?)?;
    run_method(
        model_dir,
        |tokenizer, config, model| {
            let split = tokenize(bench, tokenizer, config.max_length, model)?;
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
        },
        method.as_mut(),
        config,
        out,
    )
}
