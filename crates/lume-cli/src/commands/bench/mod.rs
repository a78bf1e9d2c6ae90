//! `lume bench`: the whole protocol in one command. Data, tokenizer, target and gold models,
//! every method, every evaluation, a leaderboard and plots; each stage is cached under `OUT`
//! by a hash of what it was made from, so a rerun redoes only what changed or never finished.

mod config;
mod plots;
mod report;
mod stage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use lume_data::{Benchmark, MiaSet, SynthConfig, synthesize};
use lume_metrics::InferenceOptions;
use lume_model::DeviceSpec;
use lume_unlearn::build_method;

use super::eval::{EvalSettings, evaluate_checkpoint};
use super::run_config::{init_fresh_model, resolve_config, tokenize};
use super::unlearn::{fine_tune, run_method};
pub use config::BenchConfig;
use report::{Checks, EvalSummary, Leaderboard, ModelRole};
use stage::{Stage, fingerprint};

#[derive(Args)]
pub struct BenchArgs {
    /// TOML configuration (see --print-config for every key and its default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Benchmark data in the LUME layout (forget*/retain* JSONL or parquet, optional mia/ and
    /// mmlu/) [default: the embedded synthetic benchmark].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Membership-inference documents (member.jsonl, nonmember.jsonl) [default: DATA/mia].
    #[arg(long)]
    mia: Option<PathBuf>,
    /// MMLU in the Hendrycks layout [default: DATA/mmlu, the synthetic quiz].
    #[arg(long)]
    mmlu: Option<PathBuf>,
    /// Methods, comma-separated [default: the config's `methods`].
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Output folder.
    #[arg(long, default_value = "lume-bench")]
    out: PathBuf,
    /// Override one key, e.g. --set method.npo.beta=0.2 --set target.epochs=30.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

/// Where the benchmark's files are.
struct Dataset {
    bench: Benchmark,
    mia: Option<MiaSet>,
    mmlu: Option<PathBuf>,
    hash: String,
    synthetic: bool,
    /// Utility comes from the generated quiz (not a real MMLU).
    quiz: bool,
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let mut config: BenchConfig = resolve_config(args.config.as_deref(), &args.sets)?;
    if let Some(methods) = args.methods.clone() {
        config.methods = methods;
    }
    if args.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Every method is built before any work starts, so a bad name or key fails at once.
    let mut planned = Vec::with_capacity(config.methods.len());
    for name in &config.methods {
        let run = config.method_run(name)?;
        let method = build_method(name, &run.method_overrides()?)
            .with_context(|| format!("method `{name}` of the configuration"))?;
        planned.push((name, run, method));
    }
    let started = Instant::now();
    let out = &args.out;
    std::fs::create_dir_all(out.join("models"))
        .with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join("bench_config.toml"),
        toml::to_string_pretty(&config)?,
    )
    .with_context(|| format!("writing {}", out.join("bench_config.toml").display()))?;

    let data = prepare_data(
        &config,
        args.data.as_deref(),
        args.mia.as_deref(),
        args.mmlu.as_deref(),
        out,
    )?;
    let device = config.device.parse::<DeviceSpec>()?.device()?;
    let settings = EvalSettings {
        inference: InferenceOptions {
            max_new_tokens: config.eval.max_new_tokens,
            batch_size: config.eval.batch_size,
        },
        mmlu_shots: config.eval.mmlu_shots,
        weights_dtype: lume_model::WeightDtype::F32,
    };
    let eval_hash = fingerprint(&(&data.hash, &config.eval, &data.mmlu));
    let evaluate = |role: ModelRole, dir: &Path, model_hash: &str| -> anyhow::Result<EvalSummary> {
        let stage = Stage::new(
            dir,
            "bench_eval.json",
            fingerprint(&(model_hash, &eval_hash)),
        );
        if let Some(summary) = stage.finished::<EvalSummary>() {
            println!("{}: evaluation reused", role.name());
            return Ok(summary);
        }
        println!("{}: evaluating", role.name());
        let clock = Instant::now();
        let evaluation = evaluate_checkpoint(
            dir,
            &data.bench,
            data.mia.as_ref(),
            data.mmlu.as_deref(),
            settings,
            device.clone(),
            dir,
        )?;
        let summary = EvalSummary::new(
            role,
            &evaluation,
            data.mia.as_ref(),
            clock.elapsed().as_secs_f64(),
            dir,
        );
        stage.finish(&summary)?;
        Ok(summary)
    };

    // Target and gold.
    let init_hash = fingerprint(&(
        &data.hash,
        &config.model,
        config.max_length,
        &config.checkpoints.base,
    ));
    let base_dir = match &config.checkpoints.base {
        Some(dir) => dir.clone(),
        None => out.join("models").join("init"),
    };
    let ensure_base = || -> anyhow::Result<()> {
        let stage = Stage::new(&base_dir, "bench_stage.json", init_hash.clone());
        if config.checkpoints.base.is_some() || stage.finished::<()>().is_some() {
            return Ok(());
        }
        stage.reset()?;
        println!("init: training a tokenizer on the data and building a fresh model");
        init_fresh_model(
            &data.bench,
            data.mia.as_ref(),
            &config.model,
            config.max_length,
            &base_dir,
        )?;
        stage.finish(&())
    };
    let fine_tuned = |role: ModelRole, gold: bool| -> anyhow::Result<(PathBuf, String)> {
        let given = if gold {
            &config.checkpoints.gold
        } else {
            &config.checkpoints.target
        };
        if let Some(dir) = given {
            return Ok((dir.clone(), fingerprint(&(dir, &data.hash))));
        }
        let trainer = if gold { &config.gold } else { &config.target };
        let dir = out.join("models").join(role.name());
        let hash = fingerprint(&(&init_hash, trainer, gold));
        let stage = Stage::new(&dir, "bench_stage.json", hash.clone());
        if stage.finished::<()>().is_some() {
            println!("{}: reused (same configuration)", role.name());
            return Ok((dir, hash));
        }
        stage.start()?;
        ensure_base()?;
        println!("{}: fine-tuning", role.name());
        fine_tune(
            &base_dir,
            &data.bench,
            gold,
            &config.fine_tune_run(trainer),
            &dir,
        )?;
        discard_checkpoints(&dir)?;
        stage.finish(&())?;
        Ok((dir, hash))
    };
    let (target_dir, target_hash) = fine_tuned(ModelRole::Target, false)?;
    let (gold_dir, gold_hash) = fine_tuned(ModelRole::Gold, true)?;
    let target = evaluate(ModelRole::Target, &target_dir, &target_hash)?;
    let gold = evaluate(ModelRole::Gold, &gold_dir, &gold_hash)?;

    let checks = Checks::new(&target, &gold, &config.checks);
    let mut board = Leaderboard::new(data.synthetic, data.quiz, checks);
    board.push(&target, Some(&gold));
    board.push(&gold, Some(&gold));
    println!("{}", board.checks.describe());
    board.write(out)?;
    if !board.checks.passed() && config.checks.enforce {
        eprintln!(
            "error: the target or gold model fails the memorization checks above; unlearning it \
             would measure nothing (raise target.epochs / target.learning_rate, or set \
             checks.enforce = false). Reports so far are in {}",
            out.display()
        );
        return Ok(ExitCode::from(1));
    }

    // Every method, from the target.
    for (name, run, mut method) in planned {
        let dir = out.join("models").join(name);
        let hash = fingerprint(&(&target_hash, name, method.hyperparameters(), &run.trainer));
        let stage = Stage::new(&dir, "bench_stage.json", hash.clone());
        if stage.finished::<()>().is_some() {
            println!("{name}: reused (same configuration)");
        } else {
            stage.start()?;
            println!("{name}: unlearning");
            run_method(
                &target_dir,
                |tokenizer, run, model| tokenize(&data.bench, tokenizer, run.max_length, model),
                method.as_mut(),
                &run,
                &dir,
            )?;
            discard_checkpoints(&dir)?;
            stage.finish(&())?;
        }
        let summary = evaluate(ModelRole::Method(name.clone()), &dir, &hash)?;
        board.push(&summary, Some(&gold));
        board.write(out)?;
    }
    plots::write_all(&board, out)?;
    println!("{}", board.markdown_table());
    println!(
        "{} in {:.0} s; reports in {}",
        if data.synthetic {
            "embedded benchmark"
        } else {
            "benchmark"
        },
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A finished run's checkpoints duplicate the model saved beside them.
fn discard_checkpoints(dir: &Path) -> anyhow::Result<()> {
    let run = dir.join("run");
    if run.exists() {
        std::fs::remove_dir_all(&run).with_context(|| format!("removing {}", run.display()))?;
    }
    Ok(())
}

/// Writes the dataset used into `OUT/data` (generated, or copied from `--data`).
fn prepare_data(
    config: &BenchConfig,
    given: Option<&Path>,
    mia: Option<&Path>,
    mmlu: Option<&Path>,
    out: &Path,
) -> anyhow::Result<Dataset> {
    let dir = out.join("data");
    let synthetic = given.is_none();
    if dir.exists() {
        // Written afresh each time (it is cheap): no file of another dataset stays behind.
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    // Forget records first, then retain: the order `Benchmark::load` reads them back in.
    let (records, mia) = match given {
        None => {
            if config.docs_per_task < 2 {
                bail!("docs_per_task must be at least 2 (one forget, one retain document)");
            }
            let synth = synthesize(SynthConfig {
                seed: config.seed,
                docs_per_task: config.docs_per_task,
            });
            synth
                .write(&dir)
                .with_context(|| format!("writing {}", dir.display()))?;
            let mia = MiaSet {
                members: synth.members,
                nonmembers: synth.nonmembers,
            };
            (
                synth.forget.into_iter().chain(synth.retain).collect(),
                Some(mia),
            )
        }
        Some(source) => {
            let (forget, retain): (Vec<_>, Vec<_>) = Benchmark::load(source)?
                .records
                .into_iter()
                .partition(|r| r.split == lume_data::Split::Forget);
            lume_data::write_jsonl(&dir.join("forget.jsonl"), &forget)?;
            lume_data::write_jsonl(&dir.join("retain.jsonl"), &retain)?;
            let mia_dir = mia.map_or_else(|| source.join("mia"), Path::to_path_buf);
            let mia = (mia.is_some() || mia_dir.is_dir())
                .then(|| MiaSet::load(&mia_dir))
                .transpose()?;
            if let Some(mia) = &mia {
                lume_data::write_mia(&dir.join("mia").join("member.jsonl"), &mia.members)?;
                lume_data::write_mia(&dir.join("mia").join("nonmember.jsonl"), &mia.nonmembers)?;
            }
            (forget.into_iter().chain(retain).collect(), mia)
        }
    };
    let bench = Benchmark { records };
    let quiz = synthetic && mmlu.is_none();
    let mmlu = match (mmlu, given) {
        (Some(m), _) => Some(m.to_path_buf()),
        (None, None) => Some(dir.join("mmlu")),
        (None, Some(source)) => {
            let m = source.join("mmlu");
            m.is_dir().then_some(m)
        }
    };
    let hash = fingerprint(&(
        bench
            .records
            .iter()
            .map(|r| (r.id.to_string(), &r.input, &r.output))
            .collect::<Vec<_>>(),
        mia.as_ref().map(|m| {
            m.members
                .iter()
                .chain(&m.nonmembers)
                .map(|d| (&d.id, &d.document))
                .collect::<Vec<_>>()
        }),
    ));
    Ok(Dataset {
        bench,
        mia,
        mmlu,
        hash,
        synthetic,
        quiz,
    })
}
