//! `lume report`: the self-contained HTML page of a run folder.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct ReportArgs {
    /// A `lume bench` output folder, or a `lume eval` folder (evaluation_results.json beside
    /// the inference CSVs).
    dir: PathBuf,
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let path = lume_bench::write_report(&args.dir)?;
    println!("wrote {} (opens from disk, no network)", path.display());
    Ok(ExitCode::SUCCESS)
}
