//! Equal-budget tuning (`lume tune`): every method gets the same number of unlearning runs,
//! searched with TPE over its space, judged by one objective under one floor, and the chosen
//! setting is re-run with fresh seeds for the reported leaderboard.
//!
//! - **Objective**: the forget score (mean of the six forget cells), lower is better.
//! - **Floor**: the retain score (mean of the six retain cells) at least `retain_floor` of the
//!   target's and, with real MMLU, utility at least `utility_floor` of the target's (SemEval's
//!   gate). A method with no trial above the floor has no chosen setting.
//! - **Space**: the learning rate (log scale, a decade either side of the configured one), the
//!   epochs (half to twice), and every positive number among the method's hyperparameters
//!   (log scale, a quarter to four times its value) — so a plugin method is tuned over its own
//!   hyperparameters too. `[tune.space.<method>]` replaces a range or adds one:
//!   `beta = [0.05, 1.0]`, `"trainer.learning_rate" = [1e-5, 1e-3]`.
//! - **Without optimism**: the search runs with seed 0; the chosen setting and the default are
//!   re-run with seeds `1..=seeds`, and those runs make the leaderboard.

use std::collections::BTreeMap;
use std::path::Path;

use lume_unlearn::Registry;
use serde::{Deserialize, Serialize};

use crate::config::BenchConfig;
use crate::error::{BenchError, write_json};

/// Steps between checkpoint selection's evaluations by default: a few per epoch at the
/// embedded default's scale (a few dozen forget rows in batches of 4).
pub(crate) const DEFAULT_SELECT_EVERY: usize = 8;

/// The `[tune]` table of a [`BenchConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TuneConfig {
    /// Unlearning runs of the search, the same for every method.
    pub budget: usize,
    /// Fresh seeds of the chosen setting and of the default, for the leaderboard.
    pub seeds: usize,
    /// The retain score must reach this fraction of the target's.
    pub retain_floor: f64,
    /// With real MMLU, utility must reach this fraction of the target's.
    pub utility_floor: f64,
    /// Seed of the search.
    pub seed: u64,
    /// Checkpoint selection inside every tuned run (the trials and the chosen setting's
    /// seeds): every this many steps, score the forget and retain examples teacher-forced and
    /// keep the step with the lowest forget score whose retain score is at least
    /// `retain_floor` of the target's ([`lume_unlearn::Selection`]); 0: keep the last step.
    pub select_every: usize,
    /// Ranges by method and key (`[tune.space.npo] beta = [0.05, 1.0]`), over the declared
    /// ones.
    pub space: BTreeMap<String, BTreeMap<String, [f64; 2]>>,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            budget: 8,
            seeds: 3,
            retain_floor: 0.9,
            utility_floor: 0.75,
            seed: 0,
            select_every: DEFAULT_SELECT_EVERY,
            space: BTreeMap::new(),
        }
    }
}

/// How a dimension is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Uniform in the logarithm (rates, weights).
    Log,
    /// Whole numbers, uniform (epochs).
    Integer,
}

/// One hyperparameter searched: `trainer.learning_rate`, `trainer.epochs`, or a method's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    /// The key in the method's table (`trainer.` keys in its `trainer` table).
    pub key: String,
    /// Smallest value.
    pub low: f64,
    /// Largest value.
    pub high: f64,
    /// How it is searched.
    pub scale: Scale,
}

impl Dimension {
    /// The search coordinate's range (the logarithm for [`Scale::Log`], `[low, high + 1)` for
    /// integers).
    pub(crate) fn range(&self) -> (f64, f64) {
        match self.scale {
            Scale::Log => (self.low.ln(), self.high.ln()),
            Scale::Integer => (self.low, self.high + 1.0),
        }
    }

    /// The value of search coordinate `x`.
    pub(crate) fn value(&self, x: f64) -> f64 {
        match self.scale {
            Scale::Log => x.exp().clamp(self.low, self.high),
            Scale::Integer => x.floor().clamp(self.low, self.high),
        }
    }
}

/// The space of `method` under `config`: the declared ranges around its configured values,
/// then `config.tune.space`'s.
pub fn search_space(
    config: &BenchConfig,
    registry: &Registry,
    method: &str,
) -> Result<Vec<Dimension>, BenchError> {
    let run = config.method_run(method)?;
    let factory = registry.get(method)?;
    let mut values = match factory.defaults() {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    values.extend(run.method_overrides()?);
    let lr = run.trainer.learning_rate;
    let epochs = run.trainer.epochs as f64;
    let mut space = vec![
        Dimension {
            key: "trainer.learning_rate".into(),
            low: lr / 10.0,
            high: lr * 10.0,
            scale: Scale::Log,
        },
        Dimension {
            key: "trainer.epochs".into(),
            low: (epochs / 2.0).ceil().max(1.0),
            high: (epochs * 2.0).max(1.0),
            scale: Scale::Integer,
        },
    ];
    for (key, value) in &values {
        // Seeds are not hyperparameters; integers (layers, sizes) are structure.
        if key.contains("seed") || !value.is_f64() {
            continue;
        }
        if let Some(v) = value.as_f64().filter(|v| *v > 0.0 && v.is_finite()) {
            space.push(Dimension {
                key: key.clone(),
                low: v / 4.0,
                high: v * 4.0,
                scale: Scale::Log,
            });
        }
    }
    for (key, [low, high]) in config.tune.space.get(method).into_iter().flatten() {
        if !(low.is_finite() && high.is_finite() && *low > 0.0 && low <= high) {
            return Err(BenchError::Config(format!(
                "tune.space.{method}.{key}: [{low}, {high}] is not a range of positive numbers"
            )));
        }
        let scale = if key == "trainer.epochs" {
            Scale::Integer
        } else {
            Scale::Log
        };
        let dimension = Dimension {
            key: key.clone(),
            low: *low,
            high: *high,
            scale,
        };
        match space.iter_mut().find(|d| d.key == *key) {
            Some(d) => *d = dimension,
            None => space.push(dimension),
        }
    }
    Ok(space)
}

/// `config` with `method`'s table set to `values` (by [`Dimension::key`]), and checkpoint
/// selection on when `config.tune.select_every` asks for it.
pub(crate) fn with_values(
    config: &BenchConfig,
    method: &str,
    space: &[Dimension],
    values: &[f64],
) -> BenchConfig {
    let mut config = config.clone();
    // The table of `lume_unlearn::Selection`.
    let select = (config.tune.select_every > 0).then(|| {
        toml::Value::Table(toml::Table::from_iter([
            (
                "every".to_string(),
                toml::Value::Integer(config.tune.select_every as i64),
            ),
            (
                "retain_floor".to_string(),
                toml::Value::Float(config.tune.retain_floor),
            ),
        ]))
    });
    let table = config.method.entry(method.to_string()).or_default();
    if let Some(select) = select
        && let Some(trainer) = table
            .entry("trainer")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
    {
        trainer.insert("select".into(), select);
    }
    for (dimension, &value) in space.iter().zip(values) {
        let toml_value = match dimension.scale {
            Scale::Integer => toml::Value::Integer(value as i64),
            Scale::Log => toml::Value::Float(value),
        };
        match dimension.key.strip_prefix("trainer.") {
            Some(key) => {
                let trainer = table
                    .entry("trainer")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let Some(trainer) = trainer.as_table_mut() {
                    trainer.insert(key.to_string(), toml_value);
                }
            }
            None => {
                table.insert(dimension.key.clone(), toml_value);
            }
        }
    }
    config
}

/// One unlearning run of the search and what it scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The method.
    pub method: String,
    /// Its place in the method's search (0-based).
    pub index: usize,
    /// The values tried, by key.
    pub values: BTreeMap<String, f64>,
    /// Mean of the six forget cells.
    pub forget: Option<f64>,
    /// Mean of the six retain cells.
    pub retain: Option<f64>,
    /// MMLU (or the quiz).
    pub utility: Option<f64>,
    /// Whether the floor holds.
    pub meets_floor: bool,
    /// Training steps' real tokens (from `train_history.json`).
    pub tokens: u64,
    /// Optimizer steps the run took.
    #[serde(default)]
    pub steps: usize,
    /// The step whose weights checkpoint selection kept (`None`: the last).
    #[serde(default)]
    pub selected_step: Option<usize>,
    /// Training plus evaluation time.
    pub seconds: f64,
}

/// The floor a trial must meet, from the target's scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// Least retain score.
    pub retain: f64,
    /// Least utility, where real MMLU is given.
    pub utility: Option<f64>,
}

impl Floor {
    /// Whether `retain` and `utility` meet it.
    pub fn holds(&self, retain: Option<f64>, utility: Option<f64>) -> bool {
        retain.is_some_and(|r| r >= self.retain)
            && self
                .utility
                .is_none_or(|least| utility.is_some_and(|u| u >= least))
    }

    /// What the search minimises: the forget score above the floor, more than any such score
    /// (1 plus the shortfalls) below it.
    pub(crate) fn objective(
        &self,
        forget: Option<f64>,
        retain: Option<f64>,
        utility: Option<f64>,
    ) -> f64 {
        if self.holds(retain, utility) {
            return forget.unwrap_or(1.0);
        }
        let short = |least: Option<f64>, value: Option<f64>| match (least, value) {
            (Some(least), Some(v)) => (least - v).max(0.0),
            (Some(_), None) => 1.0,
            (None, _) => 0.0,
        };
        1.0 + 1e-6 + short(Some(self.retain), retain) + short(self.utility, utility)
    }
}

/// The paired bootstrap difference of the tuned setting against the default on one seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TunedDifference {
    /// The seed both ran with.
    pub seed: usize,
    /// Final score, tuned − default, with its 95 % interval and p-value.
    pub final_score: lume_metrics::Difference,
}

/// Writes `tune/trials.csv`, `tune/trials.json` and `tune/chosen.toml` (the chosen settings as
/// a configuration `lume bench --config` reads) into `out`.
pub(crate) fn write_trials(
    out: &Path,
    trials: &[Trial],
    chosen: &BTreeMap<String, Option<usize>>,
    floor: &Floor,
    spaces: &BTreeMap<String, Vec<Dimension>>,
    chosen_config: &toml::Table,
    differences: &BTreeMap<String, Vec<TunedDifference>>,
) -> Result<(), BenchError> {
    let dir = out.join("tune");
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let path = dir.join("trials.csv");
    let csv_error = |source| BenchError::Csv {
        path: path.clone(),
        source,
    };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_error)?;
    writer
        .write_record([
            "method",
            "trial",
            "values",
            "forget",
            "retain",
            "utility",
            "meets_floor",
            "chosen",
            "kept_step",
            "steps",
            "tokens",
            "seconds",
        ])
        .map_err(csv_error)?;
    let show = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for trial in trials {
        let values: Vec<String> = trial
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let is_chosen = chosen.get(&trial.method) == Some(&Some(trial.index));
        writer
            .write_record([
                trial.method.clone(),
                trial.index.to_string(),
                values.join(" "),
                show(trial.forget),
                show(trial.retain),
                show(trial.utility),
                trial.meets_floor.to_string(),
                is_chosen.to_string(),
                trial.selected_step.map_or(String::new(), |s| s.to_string()),
                trial.steps.to_string(),
                trial.tokens.to_string(),
                format!("{:.1}", trial.seconds),
            ])
            .map_err(csv_error)?;
    }
    writer.flush().map_err(BenchError::io(&path))?;
    write_json(
        &dir.join("trials.json"),
        &serde_json::json!({
            "floor": floor,
            "spaces": spaces,
            "trials": trials,
            "chosen": chosen,
            "tuned_minus_default": differences,
            "note": "The search ran with seed 0; the leaderboard's rows are fresh seeds of the chosen and default settings, not the runs the search picked.",
        }),
    )?;
    let text = format!(
        "# The settings `lume tune` chose (lowest forget score above the floor); use with\n\
         # `lume bench --config tune/chosen.toml`.\n{}",
        toml::to_string_pretty(chosen_config)
            .map_err(|e| BenchError::Config(format!("tune/chosen.toml: {e}")))?
    );
    let path = dir.join("chosen.toml");
    std::fs::write(&path, text).map_err(BenchError::io(&path))
}

/// What the training run in `dir` did, from its `train_history.json`: real tokens, steps,
/// and the step checkpoint selection kept (zeros and `None` when unknown).
pub(crate) fn trained(dir: &Path) -> (u64, usize, Option<usize>) {
    let json = std::fs::read_to_string(dir.join("train_history.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let Some(json) = json else {
        return (0, 0, None);
    };
    let steps = json["steps"].as_array().map_or(&[][..], Vec::as_slice);
    let tokens = steps.iter().filter_map(|s| s["tokens"].as_u64()).sum();
    let selected = json["selected_step"].as_u64().map(|s| s as usize);
    (tokens, steps.len(), selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_covers_rate_epochs_and_positive_hyperparameters_and_the_config_overrides_it() {
        let mut config = BenchConfig::default();
        config
            .tune
            .space
            .insert("npo".into(), BTreeMap::from([("beta".into(), [0.05, 1.0])]));
        let space = search_space(&config, &Registry::builtin(), "npo").unwrap();
        let keys: Vec<&str> = space.iter().map(|d| d.key.as_str()).collect();
        assert!(
            keys.starts_with(&["trainer.learning_rate", "trainer.epochs"]),
            "{keys:?}"
        );
        let beta = space.iter().find(|d| d.key == "beta").unwrap();
        assert_eq!((beta.low, beta.high, beta.scale), (0.05, 1.0, Scale::Log));
        let lr = &space[0];
        let want = config.unlearn.learning_rate;
        assert!((lr.low - want / 10.0).abs() < 1e-15 && (lr.high - want * 10.0).abs() < 1e-12);
        assert!(!keys.iter().any(|k| k.contains("seed")));

        let bad = {
            let mut c = config.clone();
            c.tune
                .space
                .insert("npo".into(), BTreeMap::from([("beta".into(), [1.0, 0.1])]));
            search_space(&c, &Registry::builtin(), "npo")
                .unwrap_err()
                .to_string()
        };
        assert!(bad.contains("tune.space.npo.beta"), "{bad}");
    }

    #[test]
    fn values_land_in_the_method_table_and_round_trip_through_its_run() {
        let config = BenchConfig::default();
        let space = search_space(&config, &Registry::builtin(), "npo").unwrap();
        let mut values: Vec<f64> = space.iter().map(|d| d.value(d.range().0)).collect();
        values[0] = 3e-4;
        values[1] = 7.0;
        let tuned = with_values(&config, "npo", &space, &values);
        let run = tuned.method_run("npo").unwrap();
        assert_eq!(run.trainer.learning_rate, 3e-4);
        assert_eq!(run.trainer.epochs, 7);
        for (d, v) in space.iter().zip(&values).skip(2) {
            assert_eq!(run.method_overrides().unwrap()[&d.key].as_f64(), Some(*v));
        }
    }

    #[test]
    fn the_objective_ranks_every_trial_above_the_floor_before_any_below_it() {
        let floor = Floor {
            retain: 0.8,
            utility: Some(0.3),
        };
        assert!(floor.holds(Some(0.8), Some(0.3)));
        assert!(!floor.holds(Some(0.79), Some(0.9)));
        assert!(!floor.holds(Some(0.9), None));
        let above = floor.objective(Some(1.0), Some(0.8), Some(0.3));
        let below = floor.objective(Some(0.0), Some(0.79), Some(0.3));
        let further = floor.objective(Some(0.0), Some(0.5), Some(0.3));
        let no_utility = floor.objective(Some(0.0), Some(0.9), Some(0.1));
        assert!(
            above < below && below < further,
            "{above} {below} {further}"
        );
        assert!(above < no_utility, "{no_utility}");
        for d in [
            Dimension {
                key: "x".into(),
                low: 1e-5,
                high: 1e-3,
                scale: Scale::Log,
            },
            Dimension {
                key: "e".into(),
                low: 2.0,
                high: 10.0,
                scale: Scale::Integer,
            },
        ] {
            let (a, b) = d.range();
            for i in 0..=100 {
                let v = d.value(a + (b - a) * f64::from(i) / 100.0);
                assert!(d.low <= v && v <= d.high, "{v}");
            }
        }
    }
}
