//! `lume bench`: the whole protocol in one command (`lume_bench::run_bench`), with progress
//! on the terminal and the leaderboard printed at the end.

use std::path::PathBuf;
use std::process::ExitCode;

use super::progress::Terminal;
use crate::Plugins;
use clap::Args;
use lume_bench::{BenchConfig, BenchInputs, Probe, resolve_config, run_bench};
use lume_model::Precision;

/// What `lume bench` and `lume tune` both read: the configuration, the data, the methods.
#[derive(Args)]
pub struct Common {
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
    /// Override one key, e.g. --set method.npo.beta=0.2 --set target.epochs=30.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Precision of the matrix products in every stage (`target`, `gold`, `unlearn` and
    /// `eval.precision`): f32, or bf16 (bf16 operands, f32 sums, as PyTorch's autocast)
    /// [default: the config's, f32].
    #[arg(long)]
    precision: Option<Precision>,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

impl Common {
    /// The configuration these arguments resolve to, with a table for every method named.
    pub fn resolve(&self, plugins: &Plugins) -> anyhow::Result<BenchConfig> {
        let mut config: BenchConfig = resolve_config(self.config.as_deref(), &self.sets)?;
        if let Some(methods) = self.methods.clone() {
            config.methods = methods;
        }
        config.add_method_defaults(&plugins.methods)?;
        if let Some(precision) = self.precision {
            config.set_precision(precision);
        }
        Ok(config)
    }

    /// `--print-config`: prints `config` and says so.
    pub fn printed(&self, config: &BenchConfig) -> anyhow::Result<bool> {
        if self.print_config {
            print!("{}", toml::to_string_pretty(config)?);
        }
        Ok(self.print_config)
    }

    /// Where the run reads and writes.
    pub fn inputs(self, out: PathBuf) -> BenchInputs {
        BenchInputs {
            data: self.data,
            mia: self.mia,
            mmlu: self.mmlu,
            out,
        }
    }
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    common: Common,
    /// Unlearning runs per method, each with its seeds shifted by one more (data order, LoRA
    /// init, RMU direction); the leaderboard gives the mean, the seed spread and the ranking
    /// [default: the config's `seeds`, 1].
    #[arg(long)]
    seeds: Option<usize>,
    /// Fine-tunings of target and gold; seed s of a method starts from target s mod N
    /// [default: the config's `target_seeds`, 1].
    #[arg(long)]
    target_seeds: Option<usize>,
    /// Probe every method: relearn (a few fine-tuning steps on part of the forget set), quantization
    /// (int8, int4, bf16 weights), requests (the forget set in folds, one after the other),
    /// scaling (growing parts of the forget set); comma-separated, or all when given alone
    /// [default: the config's `probes.run`, none].
    #[arg(long, value_name = "PROBES", num_args = 0..=1, default_missing_value = "all")]
    probes: Option<String>,
    /// Output folder.
    #[arg(long, default_value = "lume-bench")]
    out: PathBuf,
}

pub fn run(args: BenchArgs, plugins: &Plugins) -> anyhow::Result<ExitCode> {
    let mut config = args.common.resolve(plugins)?;
    config.seeds = args.seeds.unwrap_or(config.seeds);
    config.target_seeds = args.target_seeds.unwrap_or(config.target_seeds);
    if let Some(probes) = &args.probes {
        config.probes.run = Probe::parse_list(probes)?;
    }
    if args.common.printed(&config)? {
        return Ok(ExitCode::SUCCESS);
    }
    let inputs = args.common.inputs(args.out);
    let outcome = run_bench(
        &config,
        &inputs,
        &plugins.methods,
        &plugins.metrics,
        &mut Terminal::bench(),
    )?;
    let out = inputs.out.display();
    if outcome.stopped_at_checks {
        return Ok(failed_checks(&inputs.out));
    }
    println!("{}", outcome.board.markdown_table());
    println!(
        "{} in {:.0} s; reports in {out} (open {out}/report.html)",
        if outcome.synthetic {
            "embedded benchmark"
        } else {
            "benchmark"
        },
        outcome.seconds,
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit code 1 with why: a target or gold model that does not memorize makes unlearning
/// meaningless.
pub fn failed_checks(out: &std::path::Path) -> ExitCode {
    eprintln!(
        "error: the target or gold model fails the memorization checks above; unlearning it \
         would measure nothing (raise target.epochs / target.learning_rate, or set \
         checks.enforce = false). Reports so far are in {}",
        out.display()
    );
    ExitCode::from(1)
}
