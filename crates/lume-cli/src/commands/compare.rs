//! `lume compare`: the paired bootstrap comparison of two evaluations of the same rows.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lume_bench::EvalDir;
use lume_metrics::{BootstrapConfig, Difference};

#[derive(Args)]
pub struct CompareArgs {
    /// Evaluation folder A (reference layout: forget_*.csv, retain_*.csv, mia_results/).
    a: PathBuf,
    /// Evaluation folder B, of the same rows.
    b: PathBuf,
    /// MMLU result of A (JSON with `average_acc`).
    #[arg(long)]
    mmlu_a: Option<PathBuf>,
    /// MMLU result of B.
    #[arg(long)]
    mmlu_b: Option<PathBuf>,
    /// Paired bootstrap resamples (at most 100,000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    resamples: u32,
    /// Seed of the resampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the comparison as JSON.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let config = BootstrapConfig {
        resamples: args.resamples as usize,
        seed: args.seed,
    };
    let a = EvalDir {
        dir: &args.a,
        mmlu_metrics: args.mmlu_a.as_deref(),
    };
    let b = EvalDir {
        dir: &args.b,
        mmlu_metrics: args.mmlu_b.as_deref(),
    };
    let comparison = lume_bench::compare_outputs(a, b, config, args.out.as_deref())?;
    println!(
        "A = {}\nB = {}\npaired bootstrap, {} resamples of the rows (seed {}); p: two-sided, of no difference\n",
        args.a.display(),
        args.b.display(),
        comparison.resamples,
        comparison.seed
    );
    println!(
        "{:<28} {:>7} {:>7} {:>8}  {:<19} {:>6}",
        "score", "A", "B", "A − B", "95 % interval", "p"
    );
    let d = &comparison.differences;
    let show = |name: &str, diff: Option<Difference>| {
        if let Some(x) = diff {
            println!(
                "{name:<28} {:>7.4} {:>7.4} {:>+8.4}  [{:+.4}, {:+.4}] {:>6.3}",
                x.a, x.b, x.difference, x.low, x.high, x.p_value
            );
        }
    };
    for (s, split) in ["forget", "retain"].into_iter().enumerate() {
        for (t, task) in lume_data::Task::ALL.into_iter().enumerate() {
            for (k, kind) in ["regurgitation", "knowledge"].into_iter().enumerate() {
                show(&format!("{split} {task} {kind}"), d.cells[s][t][k]);
            }
        }
    }
    // The trade-off plot's axes: the mean of each split's six task scores.
    show("forget score (mean of 6)", d.split_means[0]);
    show("retain score (mean of 6)", d.split_means[1]);
    show("task aggregate", d.task_aggregate);
    show("MIA AUC", d.mia_auc);
    show("MIA score", d.mia_score);
    show("MMLU", d.mmlu);
    show("final score", Some(d.final_score));
    if let Some(path) = &args.out {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
