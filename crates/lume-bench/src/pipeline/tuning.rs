//! `lume tune`'s runs (see [`crate::tune`]): the target and gold models as `lume bench` makes
//! them, each method's search, and fresh seeds of every chosen setting and default.

use std::collections::BTreeMap;
use std::time::Instant;

use lume_metrics::{BootstrapConfig, Seeded, compare};
use lume_unlearn::Registry;
use rand10::SeedableRng as _;
use rand10::rngs::StdRng;

use super::{BenchInputs, Planned, Run, open};
use crate::config::BenchConfig;
use crate::error::BenchError;
use crate::leaderboard::{Leaderboard, ModelRole, split_mean};
use crate::metric::Metrics;
use crate::observer::Observer;
use crate::plots::{write_frontier, write_plots};
use crate::report::write_report;
use crate::stage::fingerprint;
use crate::summary::EvalSummary;
use crate::tune::{Dimension, Floor, Trial, TunedDifference, search_space, trained, with_values};

/// What `lume tune` found.
#[non_exhaustive]
pub struct TuneOutcome {
    /// Every trial of every method, in order.
    pub trials: Vec<Trial>,
    /// Each method's chosen trial (`None`: no trial met the floor).
    pub chosen: BTreeMap<String, Option<usize>>,
    /// The floor the trials had to meet.
    pub floor: Floor,
    /// Target, gold, and each method's default and chosen setting under fresh seeds (the
    /// first seed's row; the ranking over all of them).
    pub board: Leaderboard,
    /// Tuned − default per method and seed (paired bootstrap of the final score).
    pub differences: BTreeMap<String, Vec<TunedDifference>>,
    /// Whether the run stopped before tuning because the target or gold model failed a
    /// memorization check and `checks.enforce` is set.
    pub stopped_at_checks: bool,
    /// Wall time of the run.
    pub seconds: f64,
}

/// Tunes every method of `config.methods` with `config.tune`'s budget (see [`crate::tune`]):
/// the same number of seeded trials each, the chosen setting (lowest forget score above the
/// floor) and the default re-run under `config.tune.seeds` fresh seeds, ranked on a
/// leaderboard. Every trial is a cached stage, so a rerun with the same budget reuses them all
/// and a larger budget adds to them.
///
/// Writes under `inputs.out` what [`run_bench`](super::run_bench) writes, plus `tune/`
/// (`trials.csv`, `trials.json`, `chosen.toml`) and `plots/frontier.svg`.
pub fn run_tune(
    config: &BenchConfig,
    inputs: &BenchInputs,
    registry: &Registry,
    metrics: &Metrics,
    observer: &mut dyn Observer,
) -> Result<TuneOutcome, BenchError> {
    let tune = &config.tune;
    if tune.budget == 0 || tune.seeds == 0 {
        return Err(BenchError::Config(
            "tune.budget and tune.seeds must be at least 1".into(),
        ));
    }
    // Every method and space checked before any work.
    let mut spaces = BTreeMap::new();
    for method in &config.methods {
        Planned::new(config, registry, method, 0)?;
        spaces.insert(method.clone(), search_space(config, registry, method)?);
    }
    let started = Instant::now();
    let out = &inputs.out;
    let (_lock, data, device) = open(config, inputs, observer)?;
    let mut run = Run::new(config, &data, device, out, observer)?;
    let target = run.fine_tuned(ModelRole::Target, false, 0)?;
    let gold_run = run.fine_tuned(ModelRole::Gold, true, 0)?;
    let (target_eval, gold, mut board) =
        run.baseline(metrics, (&target.0, &target.1), (&gold_run.0, &gold_run.1))?;
    // Real MMLU only: the synthetic quiz sits at chance on a toy model.
    let utility = target_eval.utility.filter(|_| !data.quiz);
    let floor = Floor {
        retain: tune.retain_floor * split_mean(&target_eval.scores, 1).unwrap_or(0.0),
        utility: utility.map(|u| tune.utility_floor * u),
    };
    if !board.checks.passed() && config.checks.enforce {
        write_report(out)?;
        return Ok(TuneOutcome {
            trials: Vec::new(),
            chosen: BTreeMap::new(),
            floor,
            board,
            differences: BTreeMap::new(),
            stopped_at_checks: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let (mut all_trials, mut chosen) = (Vec::new(), BTreeMap::new());
    let mut chosen_config = toml::Table::new();
    let mut methods = toml::Table::new();
    let mut settings = BTreeMap::new();
    for method in &config.methods {
        let space = &spaces[method];
        let (trials, best) = search(&mut run, config, registry, method, space, &target, &floor)?;
        if let Some(values) = best.and_then(|k| trials.get(k)).map(|t| t.values.clone()) {
            let values: Vec<f64> = space.iter().map(|d| values[&d.key]).collect();
            let tuned = with_values(config, method, space, &values);
            if let Some(table) = tuned.method.get(method) {
                methods.insert(method.clone(), toml::Value::Table(table.clone()));
            }
            settings.insert(method.clone(), tuned);
        }
        chosen.insert(method.clone(), best);
        all_trials.extend(trials);
    }
    chosen_config.insert("method".into(), toml::Value::Table(methods));

    // Fresh seeds of the default and of the chosen setting: what the leaderboard reports.
    let (mut seeded, mut tuned_minus_default) = (Vec::new(), BTreeMap::new());
    for method in &config.methods {
        let default = fresh(
            &mut run, config, registry, method, method, tune.seeds, &target,
        )?;
        let tuned = match settings.get(method) {
            Some(tuned) => {
                let name = format!("{method}-tuned");
                fresh(
                    &mut run, tuned, registry, method, &name, tune.seeds, &target,
                )?
            }
            None => Vec::new(),
        };
        for runs in [&default, &tuned] {
            if let Some(first) = runs.first() {
                board.push(first, Some(&gold));
                seeded.push(Seeded {
                    name: first.model.clone(),
                    samples: runs.iter().map(|s| s.sample.clone()).collect(),
                });
            }
        }
        let mut differences = Vec::new();
        for (s, (t, d)) in tuned.iter().zip(&default).enumerate() {
            let comparison = compare(&t.sample, &d.sample, BootstrapConfig::default())
                .map_err(|e| BenchError::Config(format!("comparing {method}'s runs: {e}")))?;
            differences.push(TunedDifference {
                seed: s + 1,
                final_score: comparison.differences.final_score,
            });
        }
        if !differences.is_empty() {
            tuned_minus_default.insert(method.clone(), differences);
        }
        board.write(out)?;
    }
    board.rank(&seeded)?;
    board.write(out)?;
    crate::tune::write_trials(
        out,
        &all_trials,
        &chosen,
        &floor,
        &spaces,
        &chosen_config,
        &tuned_minus_default,
    )?;
    write_plots(&board, out)?;
    write_frontier(&all_trials, &chosen, &floor, out)?;
    write_report(out)?;
    Ok(TuneOutcome {
        trials: all_trials,
        chosen,
        floor,
        board,
        differences: tuned_minus_default,
        stopped_at_checks: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The search of one method: `config.tune.budget` trials from the target, each value asked of
/// a TPE optimizer of its own (seeded by the tune seed and the method's name), the objective
/// told back. Returns the trials and the index of the chosen one.
fn search(
    run: &mut Run<'_>,
    config: &BenchConfig,
    registry: &Registry,
    method: &str,
    space: &[Dimension],
    target: &(std::path::PathBuf, String),
    floor: &Floor,
) -> Result<(Vec<Trial>, Option<usize>), BenchError> {
    let tpe_error = |e: &dyn std::fmt::Display| BenchError::Config(format!("tuning {method}: {e}"));
    let mut optimizers = space
        .iter()
        .map(|d| {
            let (low, high) = d.range();
            tpe::range(low, high)
                .map(|range| tpe::TpeOptimizer::new(tpe::parzen_estimator(), range))
                .map_err(|e| tpe_error(&e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name_seed = u64::from_str_radix(&fingerprint(&method)[..16], 16).unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(config.tune.seed ^ name_seed);
    let budget = config.tune.budget;
    let mut trials = Vec::with_capacity(budget);
    let mut best: Option<(f64, usize)> = None;
    for index in 0..budget {
        let xs = optimizers
            .iter_mut()
            .map(|o| o.ask(&mut rng).map_err(|e| tpe_error(&e)))
            .collect::<Result<Vec<f64>, _>>()?;
        let values: Vec<f64> = space.iter().zip(&xs).map(|(d, &x)| d.value(x)).collect();
        let tried = with_values(config, method, space, &values);
        let planned = Planned::new(&tried, registry, method, 0)?;
        let role = ModelRole::Method(format!("{method}-trial{index}"));
        let (dir, hash) = run.unlearned(&role, planned, &target.0, &target.1)?;
        let summary = run.evaluate(role, &dir, &hash)?;
        let (forget, retain) = (
            split_mean(&summary.scores, 0),
            split_mean(&summary.scores, 1),
        );
        let meets_floor = floor.holds(retain, summary.utility);
        let objective = floor.objective(forget, retain, summary.utility);
        for (optimizer, &x) in optimizers.iter_mut().zip(&xs) {
            optimizer.tell(x, objective).map_err(|e| tpe_error(&e))?;
        }
        let (tokens, steps, selected_step) = trained(&dir);
        let kept = selected_step.map_or(String::new(), |s| format!(", step {s} of {steps} kept"));
        run.observer.note(&format!(
            "tune {method}: trial {}/{budget}: forget {}, retain {} ({}){kept}",
            index + 1,
            show(forget),
            show(retain),
            if meets_floor {
                "meets the floor"
            } else {
                "below the floor"
            }
        ));
        if let Some(f) = forget.filter(|_| meets_floor)
            && best.is_none_or(|(b, _)| f < b)
        {
            best = Some((f, index));
        }
        trials.push(Trial {
            method: method.to_string(),
            index,
            values: space
                .iter()
                .zip(&values)
                .map(|(d, &v)| (d.key.clone(), v))
                .collect(),
            forget,
            retain,
            utility: summary.utility,
            meets_floor,
            tokens,
            steps,
            selected_step,
            seconds: summary.train_seconds + summary.eval_seconds,
        });
    }
    Ok((trials, best.map(|(_, index)| index)))
}

/// `method` under `config`, trained from the target with seeds `1..=seeds` and evaluated (rows
/// named `<name>-seed<s>`).
fn fresh(
    run: &mut Run<'_>,
    config: &BenchConfig,
    registry: &Registry,
    method: &str,
    name: &str,
    seeds: usize,
    target: &(std::path::PathBuf, String),
) -> Result<Vec<EvalSummary>, BenchError> {
    let mut summaries = Vec::with_capacity(seeds);
    for seed in 1..=seeds {
        let planned = Planned::new(config, registry, method, seed)?;
        let role = ModelRole::Method(name.to_string()).seeded(seed);
        let (dir, hash) = run.unlearned(&role, planned, &target.0, &target.1)?;
        summaries.push(run.evaluate(role, &dir, &hash)?);
    }
    Ok(summaries)
}

fn show(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.3}"))
}
