//! # lume-cli
//!
//! The `lume` command as a library: [`run`] is the whole command line — `lume bench`,
//! `lume unlearn`, `lume eval`, … — with the unlearning methods and leaderboard metrics you
//! give it. A program that adds its own method and metric is its own `lume`:
//!
//! ```no_run
//! use lume_bench::Metrics;
//! use lume_unlearn::Registry;
//!
//! fn main() -> std::process::ExitCode {
//!     // Registry::builtin().with(MyMethod::factory()), Metrics::builtin().with(MyMetric)
//!     lume_cli::run(Registry::builtin(), Metrics::builtin())
//! }
//! ```
//!
//! `my-lume bench --methods ga,my-method` then trains, unlearns and evaluates as `lume bench`
//! does, and the leaderboard has a column (with its interval) for each metric.

mod commands;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lume_bench::Metrics;
use lume_unlearn::Registry;

#[derive(Parser)]
#[command(
    name = "lume",
    version,
    about = "LLM unlearning with multitask evaluation (LUME)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, validate and generate benchmark data.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Convert a GGUF file (llama.cpp's format) into a Hugging Face checkpoint folder.
    Convert(commands::convert::ConvertArgs),
    /// Run the benchmark's inference on a checkpoint and score it.
    Eval(commands::eval::EvalArgs),
    /// Score inference outputs (the reference evaluator's CSV layout) into evaluation_results.json.
    Score(commands::score::ScoreArgs),
    /// Compare two evaluations of the same rows: each score's paired difference with its 95 %
    /// interval and p-value.
    Compare(commands::compare::CompareArgs),
    /// Fine-tune a checkpoint on the benchmark: the target (forget + retain) or, with --gold,
    /// the retain-only model.
    Train(commands::unlearn::TrainArgs),
    /// Make a checkpoint forget the forget split with a named method.
    Unlearn(commands::unlearn::UnlearnArgs),
    /// Run the whole benchmark: data, tokenizer, target and gold models, every method,
    /// evaluation, leaderboard and plots (the embedded synthetic default unless --data).
    Bench(commands::bench::BenchArgs),
    /// Tune every method with the same budget under the same floor (retain score, MMLU):
    /// a TPE search each, the chosen settings re-run with fresh seeds, the trade-off frontier.
    Tune(commands::tune::TuneArgs),
    /// Write DIR/report.html: leaderboard, checks, plots and every generation of a `lume bench`
    /// or `lume eval` folder, in one page that opens from disk.
    Report(commands::report::ReportArgs),
    /// Training and decoding throughput of a random model of a given shape (one JSON line).
    Perf(commands::perf::PerfArgs),
}

/// What a `lume` program can run beyond the built-ins: its unlearning methods and its
/// leaderboard metrics.
pub(crate) struct Plugins {
    pub(crate) methods: Registry,
    pub(crate) metrics: Metrics,
}

/// The `lume` command line on this process's arguments, with `methods` (for `lume unlearn`
/// and `lume bench`) and `metrics` (the leaderboard's columns beyond the protocol's scores).
/// Errors are printed on one line; the exit code is 0 on success, 1 for invalid data or a
/// failed memorization check, 2 for bad input.
pub fn run(methods: Registry, metrics: Metrics) -> ExitCode {
    run_from(std::env::args_os(), methods, metrics)
}

/// [`run`] on the arguments `args` (the first is the program's name).
pub fn run_from(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    methods: Registry,
    metrics: Metrics,
) -> ExitCode {
    lume_model::reuse_freed_memory();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let plugins = Plugins { methods, metrics };
    let result = match cli.command {
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Convert(args) => commands::convert::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Perf(args) => commands::perf::run(args),
        Command::Bench(args) => commands::bench::run(args, &plugins),
        Command::Tune(args) => commands::tune::run(args, &plugins),
        Command::Train(args) => commands::unlearn::run_train(args),
        Command::Unlearn(args) => commands::unlearn::run_unlearn(args, &plugins.methods),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
