//! `lume tune`: every method searched with the same budget under the same floor
//! (`lume_bench::run_tune`), the chosen settings re-run with fresh seeds, and what it found.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lume_bench::run_tune;

use super::bench::{Common, failed_checks};
use super::progress::Terminal;
use crate::Plugins;

#[derive(Args)]
pub struct TuneArgs {
    #[command(flatten)]
    common: Common,
    /// Unlearning runs of the search per method, the same for every method [default: the
    /// config's `tune.budget`, 8].
    #[arg(long)]
    budget: Option<usize>,
    /// Fresh seeds of each chosen setting and default for the leaderboard [default: the
    /// config's `tune.seeds`, 3].
    #[arg(long)]
    seeds: Option<usize>,
    /// Output folder.
    #[arg(long, default_value = "lume-tune")]
    out: PathBuf,
}

pub fn run(args: TuneArgs, plugins: &Plugins) -> anyhow::Result<ExitCode> {
    let mut config = args.common.resolve(plugins)?;
    config.tune.budget = args.budget.unwrap_or(config.tune.budget);
    config.tune.seeds = args.seeds.unwrap_or(config.tune.seeds);
    if args.common.printed(&config)? {
        return Ok(ExitCode::SUCCESS);
    }
    let inputs = args.common.inputs(args.out);
    let outcome = run_tune(
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
    println!(
        "floor: retain ≥ {:.3}{}",
        outcome.floor.retain,
        outcome
            .floor
            .utility
            .map_or(String::new(), |u| format!(", MMLU ≥ {u:.3}"))
    );
    for (method, chosen) in &outcome.chosen {
        let tried = outcome.trials.iter().filter(|t| &t.method == method);
        let (runs, tokens, seconds) = tried.fold((0, 0, 0.0), |(n, k, s), t| {
            (n + 1, k + t.tokens, s + t.seconds)
        });
        let cost = format!("{runs} trials, {tokens} tokens, {seconds:.0} s");
        match chosen.and_then(|i| {
            outcome
                .trials
                .iter()
                .find(|t| &t.method == method && t.index == i)
        }) {
            Some(trial) => {
                let values: Vec<String> = trial
                    .values
                    .iter()
                    .map(|(k, v)| format!("{k}={v:.3e}"))
                    .collect();
                println!(
                    "{method}: trial {} chosen (forget {:.3}, retain {:.3}; {cost}): {}",
                    trial.index,
                    trial.forget.unwrap_or(f64::NAN),
                    trial.retain.unwrap_or(f64::NAN),
                    values.join(" ")
                );
                for d in outcome.differences.get(method).into_iter().flatten() {
                    let f = d.final_score;
                    println!(
                        "  seed {}: final score tuned − default {:+.3} [{:+.3}, {:+.3}], p = {:.3}",
                        d.seed, f.difference, f.low, f.high, f.p_value
                    );
                }
            }
            None => println!("{method}: no trial meets the floor ({cost}); not chosen"),
        }
    }
    println!("\n{}", outcome.board.markdown_table());
    println!(
        "The leaderboard's rows are fresh seeds (1..={}) of the chosen and default settings, \
         not the runs the search picked. Tuned in {:.0} s; trials in {out}/tune, frontier in \
         {out}/plots/frontier.svg, chosen settings in {out}/tune/chosen.toml (lume bench \
         --config), report in {out}/report.html",
        config.tune.seeds, outcome.seconds
    );
    Ok(ExitCode::SUCCESS)
}
