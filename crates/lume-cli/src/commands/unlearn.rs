//! `lume unlearn` and `lume train`: one trainer, a method (or fine-tuning), a checkpoint out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lume_bench::{RunConfig, fine_tune, init_fresh_model, run_method, training_data};
use lume_data::Benchmark;
use lume_model::Precision;
use lume_unlearn::Registry;

use super::progress::Terminal;

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
    /// Precision of the matrix products, forward and backward: f32, or bf16 (bf16 operands,
    /// f32 sums and master weights, as PyTorch's autocast; fast on CPUs with AVX512-BF16)
    /// [default: the config's `trainer.precision`, f32].
    #[arg(long)]
    precision: Option<Precision>,
    /// Discard what OUT holds from an earlier run (its checkpoints and finished model) instead
    /// of refusing when it was made from other inputs.
    #[arg(long)]
    fresh: bool,
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
    /// Precision of the matrix products, forward and backward: f32, or bf16 (bf16 operands,
    /// f32 sums and master weights, as PyTorch's autocast; fast on CPUs with AVX512-BF16)
    /// [default: the config's `trainer.precision`, f32].
    #[arg(long)]
    precision: Option<Precision>,
    /// Discard what OUT holds from an earlier run instead of refusing when it was made from
    /// other inputs.
    #[arg(long)]
    fresh: bool,
}

/// `--fresh`: the earlier run's checkpoints and record go; lume's own files only.
fn discard_earlier_run(out: &std::path::Path) -> anyhow::Result<()> {
    let run = out.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).map_err(|e| anyhow::anyhow!("{}: {e}", run.display()))?;
    }
    let config = out.join("lume_config.json");
    if config.exists() {
        std::fs::remove_file(&config).map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?;
    }
    Ok(())
}

fn list_methods(registry: &Registry) -> ExitCode {
    for factory in registry.factories() {
        println!("{:<8} {}", factory.name(), factory.summary());
        println!("         defaults: {}", factory.defaults());
    }
    ExitCode::SUCCESS
}

pub fn run_unlearn(args: UnlearnArgs, registry: &Registry) -> anyhow::Result<ExitCode> {
    if args.list {
        return Ok(list_methods(registry));
    }
    let (Some(model), Some(data), Some(name), Some(out)) =
        (args.model, args.data, args.method, args.out)
    else {
        anyhow::bail!("--model, --data, --method and --out are required");
    };
    let mut config = RunConfig::resolve(args.config.as_deref(), &args.sets)?;
    config.trainer.precision = args.precision.unwrap_or(config.trainer.precision);
    let mut method = registry.build(&name, &config.method_overrides()?)?;
    let bench = Benchmark::load(&data)?;
    if args.fresh {
        discard_earlier_run(&out)?;
    }
    run_method(
        &model,
        Box::new(|tokenizer, config, model, observer| {
            training_data(&bench, tokenizer, config.max_length, model, observer)
        }),
        method.as_mut(),
        &config,
        &out,
        &mut Terminal::run(&name),
    )?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run_train(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let mut config = RunConfig::resolve(args.config.as_deref(), &args.sets)?;
    config.trainer.precision = args.precision.unwrap_or(config.trainer.precision);
    let bench = Benchmark::load(&args.data)?;
    if args.fresh {
        discard_earlier_run(&args.out)?;
    }
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
    fine_tune(
        &model_dir,
        &bench,
        args.gold,
        &config,
        &args.out,
        &mut Terminal::run("finetune"),
    )?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}
