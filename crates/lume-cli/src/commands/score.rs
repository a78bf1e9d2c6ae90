//! `lume score`: score inference outputs in the reference evaluator's layout.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
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
    let report = lume_metrics::score_dir(&args.dir, args.mmlu_metrics.as_deref())?;
    let out = args
        .out
        .unwrap_or_else(|| args.dir.join("evaluation_results.json"));
    let json = serde_json::to_string_pretty(&report.to_json())?;
    let tmp = out.with_extension("json.tmp");
    std::fs::write(&tmp, json + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &out).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", report.table());
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
