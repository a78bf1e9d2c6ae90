//! `lume`: the LUME unlearning benchmark from the command line.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Write DIR/report.html: leaderboard, checks, plots and every generation of a `lume bench`
    /// or `lume eval` folder, in one page that opens from disk.
    Report(commands::report::ReportArgs),
    /// Training and decoding throughput of a random model of a given shape (one JSON line).
    Perf(commands::perf::PerfArgs),
}

fn main() -> ExitCode {
    lume_model::reuse_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Convert(args) => commands::convert::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Perf(args) => commands::perf::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Train(args) => commands::unlearn::run_train(args),
        Command::Unlearn(args) => commands::unlearn::run_unlearn(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
