//! `lume data validate|stats|synth`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use lume_data::{Benchmark, MiaSet, Stats, SynthConfig, synthesize, validate};

#[derive(Subcommand)]
pub enum DataCommand {
    /// List every problem in benchmark files or directories; exit 1 when there is any.
    Validate {
        /// JSONL or parquet files, or directories holding them (and `mia/`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Count records by split × task × kind.
    Stats {
        /// JSONL or parquet files, or directories holding them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Generate LUME-style synthetic data (the embedded default).
    Synth {
        /// Directory to write `forget.jsonl`, `retain.jsonl` and `mia/` into.
        #[arg(long)]
        out: PathBuf,
        /// Seed of every draw: the same seed writes the same bytes.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Documents per task, forget and retain together.
        #[arg(long, default_value_t = SynthConfig::default().docs_per_task)]
        docs_per_task: usize,
    },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Validate { paths } => {
            let v = validate(&paths);
            let problems: Vec<_> = v.problems().collect();
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!(
                    "ok: {} records, {} membership-inference documents",
                    v.records.items.len(),
                    v.mia.items.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} problem(s) found", problems.len());
                Ok(ExitCode::from(1))
            }
        }
        DataCommand::Stats { paths, json } => {
            let bench = Benchmark::load_all(&paths)?;
            let stats = Stats::from_records(&bench.records);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats.to_json())?);
            } else {
                println!("{stats}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Synth {
            out,
            seed,
            docs_per_task,
        } => {
            anyhow::ensure!(
                docs_per_task >= 2,
                "--docs-per-task must be at least 2 (one forget and one retain document per task)"
            );
            let data = synthesize(SynthConfig {
                seed,
                docs_per_task,
            });
            data.write(&out)
                .with_context(|| format!("writing synthetic data to {}", out.display()))?;
            // Read back what was written: the generator's output must always validate.
            let bench = Benchmark::load(&out)?;
            let mia = MiaSet::load(&out)?;
            println!(
                "wrote {}: {} forget and {} retain records, {} members, {} non-members",
                out.display(),
                bench.split(lume_data::Split::Forget).count(),
                bench.split(lume_data::Split::Retain).count(),
                mia.members.len(),
                mia.nonmembers.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
