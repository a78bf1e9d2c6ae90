//! `lume score`: score inference outputs in the reference evaluator's layout.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct ScoreArgs {
    /// Directory with forget_*.csv, retain_*.csv and optionally mia_results/.
    dir: PathBuf,
    /// JSON file with the MMLU result (`average_acc`), as the reference takes it.
    #[arg(long)]
    mmlu_metrics: Option<PathBuf>,
    /// Where to write the JSON [default: DIR/evaluation_results.json].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also give every score's 95 % interval from this many bootstrap resamples of the rows
    /// (stratified by split × task × kind; MIA documents within members and non-members).
    #[arg(long, value_name = "B", num_args = 0..=1, default_missing_value = "1000",
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    bootstrap: Option<u32>,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the per-row values and the bootstrap's resample indices to this JSON file
    /// (for `scripts/bootstrap_reference.py check`).
    #[arg(long, value_name = "FILE", requires = "bootstrap")]
    write_resamples: Option<PathBuf>,
    /// Refuse a folder that lume did not write (no manifest_<K>.json), instead of scoring it
    /// as the reference evaluator would, with a warning.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let out = args
        .out
        .unwrap_or_else(|| args.dir.join("evaluation_results.json"));
    let bootstrap = args
        .bootstrap
        .map(|resamples| lume_metrics::BootstrapConfig {
            resamples: resamples as usize,
            seed: args.seed,
        });
    let strictness = if args.strict {
        lume_bench::Strictness::Strict
    } else {
        lume_bench::Strictness::AsReference
    };
    let (report, intervals, irregular) = lume_bench::score_outputs(
        &args.dir,
        args.mmlu_metrics.as_deref(),
        &out,
        bootstrap,
        strictness,
    )?;
    if !irregular.is_empty() {
        eprintln!(
            "warning: {}: scored as the reference evaluator scores it: {irregular} \
             (--strict refuses this)",
            args.dir.display()
        );
    }
    println!("{}", report.table());
    if let (Some(path), Some(config)) = (&args.write_resamples, bootstrap) {
        lume_bench::write_resamples(&report, config, path)?;
        println!("wrote {}", path.display());
    }
    if let Some(b) = intervals.map(|b| (b.resamples, b.seed, b.intervals)) {
        let (resamples, seed, b) = b;
        let show = |name: &str, i: Option<lume_metrics::Interval>| {
            if let Some(i) = i {
                println!(
                    "{name:<16} {:.3}  [{:.3}, {:.3}]",
                    i.estimate, i.low, i.high
                );
            }
        };
        println!(
            "95 % intervals, {} bootstrap resamples of the rows (seed {}):",
            resamples, seed
        );
        show("task aggregate", b.task_aggregate);
        show("MIA AUC", b.mia_auc);
        show("MIA score", b.mia_score);
        show("final score", Some(b.final_score));
    }
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
