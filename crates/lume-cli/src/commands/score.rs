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
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let out = args
        .out
        .unwrap_or_else(|| args.dir.join("evaluation_results.json"));
    let report = lume_bench::score_outputs(&args.dir, args.mmlu_metrics.as_deref(), &out)?;
    println!("{}", report.table());
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
