//! The leaderboard: one row per model with the protocol's scores and the field's extra
//! metrics, the memorization checks, and its Markdown, CSV and JSON forms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use lume_metrics::{
    BootstrapConfig, Interval, Resamples, Scored, Seeded, Standing, bootstrap_with, rank,
};
use serde::{Deserialize, Serialize};

use crate::config::ChecksConfig;
use crate::error::{BenchError, write_json};
use crate::metric::{MetricColumn, Metrics};
use crate::probes::ProbeResults;
use crate::summary::EvalSummary;

mod columns;
pub(crate) use columns::split_mean;
pub use columns::{Column, Format, Table};

/// Which model a row is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRole {
    /// Fine-tuned on forget + retain.
    Target,
    /// Fine-tuned on retain only.
    Gold,
    /// The target after the named method.
    Method(String),
    /// Another seed (`seed ≥ 1`) of a role: `npo-seed2`, `target-seed1`.
    Seeded(Box<ModelRole>, usize, String),
}

impl ModelRole {
    /// The row's name: `target`, `gold` or the method's.
    pub fn name(&self) -> &str {
        match self {
            ModelRole::Target => "target",
            ModelRole::Gold => "gold",
            ModelRole::Method(name) => name,
            ModelRole::Seeded(_, _, name) => name,
        }
    }

    /// This role under seed `seed`: itself for seed 0.
    pub fn seeded(self, seed: usize) -> ModelRole {
        if seed == 0 {
            return self;
        }
        let name = format!("{}-seed{seed}", self.name());
        ModelRole::Seeded(Box::new(self), seed, name)
    }
}

/// One memorization check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Check {
    /// What is checked.
    pub what: String,
    /// The measured value.
    pub value: Option<f64>,
    /// `>= 0.9` or `<= 0.5`.
    pub bound: String,
    /// Whether it holds.
    pub ok: bool,
}

/// The checks that make a benchmark run meaningful.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    /// The checks of `target` and `gold` against the bounds of `config`.
    pub fn new(target: &EvalSummary, gold: &EvalSummary, config: &ChecksConfig) -> Self {
        let mut checks = Vec::new();
        for (s, split) in ["forget", "retain"].into_iter().enumerate() {
            for (k, (kind, min)) in [
                ("regurgitation", config.min_regurgitation),
                ("knowledge", config.min_knowledge),
            ]
            .into_iter()
            .enumerate()
            {
                let value = target.overall[s][k];
                checks.push(Check {
                    what: format!("target {split} {kind}"),
                    value,
                    bound: format!(">= {min:.2}"),
                    ok: value.is_some_and(|v| v >= min),
                });
            }
        }
        let value = gold.overall[0][1];
        checks.push(Check {
            what: "gold forget knowledge".into(),
            value,
            bound: format!("<= {:.2}", config.max_gold_forget_knowledge),
            ok: value.is_some_and(|v| v <= config.max_gold_forget_knowledge),
        });
        Checks(checks)
    }

    /// Whether every check holds.
    pub fn passed(&self) -> bool {
        self.0.iter().all(|c| c.ok)
    }

    /// One line per check, marked PASS or FAIL.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|c| {
                format!(
                    "{} {} = {} (must be {})",
                    if c.ok { "PASS" } else { "FAIL" },
                    c.what,
                    Format::Fixed3.show(c.value),
                    c.bound
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A leaderboard row: the evaluation plus every registered metric's value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Row {
    /// The model's evaluation.
    #[serde(flatten)]
    pub summary: EvalSummary,
    /// Each [`Metric`](crate::Metric)'s value by key (`None` where it has none).
    #[serde(flatten)]
    pub metrics: BTreeMap<String, Option<f64>>,
    /// Training plus evaluation time.
    pub wall_seconds: f64,
    /// Utility as a percentage of the target's (SemEval disqualifies below
    /// [`UTILITY_GATE_PCT`]).
    #[serde(default)]
    pub utility_of_target_pct: Option<f64>,
    /// 95 % intervals of every score from the row bootstrap (when the summary has its rows).
    pub intervals: Option<Scored<Interval>>,
    /// 95 % intervals of the metrics, from the same resamples, by key (a metric that cannot
    /// be redrawn has none).
    #[serde(
        default,
        alias = "memorization_intervals",
        deserialize_with = "some_intervals"
    )]
    pub metric_intervals: BTreeMap<String, Interval>,
    /// A method's standing among the methods over its seeds (see [`Leaderboard::rank`]).
    pub standing: Option<Standing>,
    /// The probes' outcomes (see [`Leaderboard::set_probes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbeResults>,
}

/// The intervals by key, leaving out the `null`s a board written before metrics were
/// plugins holds.
fn some_intervals<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Interval>, D::Error> {
    let all = BTreeMap::<String, Option<Interval>>::deserialize(deserializer)?;
    Ok(all.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

fn builtin_columns() -> Vec<MetricColumn> {
    Metrics::builtin().columns()
}

/// SemEval-2025's utility gate: MMLU at least this percentage of the original model's.
pub const UTILITY_GATE_PCT: f64 = 75.0;

/// What the short column headers stand for.
pub const COLUMN_LEGEND: &str = "Columns: F = forget, R = retain; 1–3 = Task1 (stories), Task2 (synthetic PII biographies), Task3 (real-style biographies); reg = regurgitation, kn = knowledge.";

/// Every row, the checks, and what the numbers mean.
#[derive(Debug, Clone)]
pub struct Leaderboard {
    /// One row per model, in the order they were pushed.
    pub rows: Vec<Row>,
    /// The memorization checks of target and gold.
    pub checks: Checks,
    synthetic: bool,
    quiz: bool,
    metrics: Metrics,
    metric_columns: Vec<MetricColumn>,
}

impl Leaderboard {
    /// An empty board with a column for each of `metrics`; `synthetic` and `quiz` say what
    /// its notes must explain.
    pub fn new(synthetic: bool, quiz: bool, checks: Checks, metrics: &Metrics) -> Self {
        Leaderboard {
            rows: Vec::new(),
            checks,
            synthetic,
            quiz,
            metric_columns: metrics.columns(),
            metrics: metrics.clone(),
        }
    }

    /// Adds (or replaces) the row of `summary`, each metric measured against `gold` where it
    /// needs the gold model.
    pub fn push(&mut self, summary: &EvalSummary, gold: Option<&EvalSummary>) {
        let sample = &summary.sample;
        let resamples =
            (!sample.rows.is_empty()).then(|| Resamples::draw(sample, BootstrapConfig::default()));
        let intervals = resamples
            .as_ref()
            .map(|resamples| bootstrap_with(sample, resamples).intervals);
        let (metrics, metric_intervals) = self.metrics.evaluate(summary, gold, resamples.as_ref());
        let row = Row {
            summary: summary.clone(),
            metrics,
            wall_seconds: summary.train_seconds + summary.eval_seconds,
            utility_of_target_pct: None,
            intervals,
            metric_intervals,
            standing: None,
            probes: None,
        };
        self.rows.retain(|r| r.summary.model != summary.model);
        self.rows.push(row);
        let target = self
            .rows
            .iter()
            .find(|r| r.summary.model == ModelRole::Target.name())
            .and_then(|r| r.summary.utility)
            .filter(|&u| u > 0.0);
        for row in &mut self.rows {
            row.utility_of_target_pct = target.zip(row.summary.utility).map(|(t, u)| 100.0 * u / t);
        }
    }

    /// Ranks `methods` (each with its evaluations under every seed, on the same rows) by mean
    /// final score and records each one's [`Standing`] on its row.
    pub fn rank(&mut self, methods: &[Seeded]) -> Result<(), BenchError> {
        let standings = rank(methods, BootstrapConfig::default())
            .map_err(|e| BenchError::Config(format!("ranking the methods: {e}")))?;
        for standing in standings {
            if let Some(row) = self
                .rows
                .iter_mut()
                .find(|r| r.summary.model == standing.name)
            {
                row.standing = Some(standing);
            }
        }
        Ok(())
    }

    /// Records the probes' outcomes of `model` on its row.
    pub fn set_probes(&mut self, model: &str, results: ProbeResults) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.summary.model == model) {
            row.probes = Some(results);
        }
    }

    /// Whether any row has probe results.
    pub fn probed(&self) -> bool {
        self.rows.iter().any(|r| r.probes.is_some())
    }

    /// The notes that explain the numbers (also at the end of `leaderboard.md`).
    pub fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "Task scores: regurgitation = ROUGE-L recall on sentence completions, knowledge = exact match on questions; forget scores should fall, retain scores stay.".to_string(),
            "Task aggregate: harmonic mean of the 12 (forget ones as 1 − v). MIA score = 1 − 2|AUC − 0.5|. Final = mean of task aggregate, MIA score and utility.".to_string(),
            "Uncertainty: 95 % percentile intervals of the final score from 1,000 bootstrap resamples of the rows (stratified by split × task × kind, MIA documents within members and non-members, MMLU questions when their outcomes are recorded, otherwise MMLU fixed), and, with several seeds, over the seeds too. Methods are ranked by (mean) final score; `tied with best` marks those whose paired difference to the best is not significant at 5 % after Holm's correction.".to_string(),
            "Forget quality: KS p-value of forget-answer NLLs against the gold (retain-only) model; PrivLeak (MUSE, as open-unlearning): ((1 − AUC) − (1 − AUC_gold)) / (1 − AUC_gold) × 100 on the Min-K% AUCs, 0 ideal, strongly negative while the forget set is still memorized. Extraction strength: 1 − k/|y| as open-unlearning (1/|y| when even the last token is wrong); Min-K%++: σ² floored at 1e-6.".to_string(),
        ];
        if self.probed() {
            notes.push("Probes: forget/retain = mean of the six forget (retain) cell scores. Relearning: the unlearned model fine-tuned a few steps (constant rate) on a share of the forget rows, the held-out rest scored; recovered % = (after − unlearned) / (target − unlearned) × 100 on those rows; the retain control relearns on as many retain rows. Quantization: per-group symmetric round-to-nearest of the blocks' projections (int8/int4, groups of 128 inputs unless named), or bf16; forget on every forget row. Requests: the forget set in folds unlearned one after the other, scored on the folds seen.".to_string());
        }
        if self.rows.iter().any(|r| r.utility_of_target_pct.is_some()) {
            notes.push(format!("Utility % of target: SemEval-2025's gate disqualifies a model whose MMLU falls below {UTILITY_GATE_PCT:.0} % of the original's."));
        }
        if self.quiz {
            notes.push("Utility is the synthetic multiple-choice quiz about retain facts (MMLU layout, 5-shot), a stand-in for MMLU, which cannot be downloaded here; pass --mmlu DIR for the real one.".to_string());
        }
        if self.synthetic {
            notes.push("Data: the embedded synthetic LUME-style benchmark (lume-data's generator), not the LUME release.".to_string());
        }
        notes
    }

    /// The tables this board shows and their columns: scores, memorization and privacy,
    /// uncertainty, and the probes when they ran; a column no row has a value for (seeds in a
    /// one-seed run, a probe not run) is left out of the last two.
    pub(crate) fn layout<'c>(&self, columns: &'c [Column]) -> Vec<(Table, Vec<&'c Column>)> {
        let mut tables = vec![Table::Scores, Table::Memorization, Table::Uncertainty];
        if self.probed() {
            tables.push(Table::Probes);
        }
        tables
            .into_iter()
            .map(|table| {
                let has_values = |c: &Column| {
                    matches!(table, Table::Scores | Table::Memorization)
                        || self.rows.iter().any(|r| (c.value)(r).is_some())
                };
                let shown = columns
                    .iter()
                    .filter(|c| c.tables.contains(&table) && has_values(c))
                    .collect();
                (table, shown)
            })
            .collect()
    }

    /// Every column, in CSV order: the 12 task scores, the protocol's aggregates, the
    /// metrics, time, uncertainty and the probes.
    pub fn columns(&self) -> Vec<Column> {
        columns::columns(&self.metric_columns)
    }

    /// The Markdown tables (scores, then memorization and privacy).
    pub fn markdown_table(&self) -> String {
        let columns = self.columns();
        let mut md = String::new();
        for (i, (_, shown)) in self.layout(&columns).into_iter().enumerate() {
            if i > 0 {
                md.push('\n');
            }
            let headers: Vec<&str> = shown.iter().map(|c| c.header.as_str()).collect();
            let _ = writeln!(md, "| model | {} |", headers.join(" | "));
            let _ = writeln!(md, "|---{}", "|---:".repeat(shown.len()) + "|");
            for row in &self.rows {
                let cells: Vec<String> = shown
                    .iter()
                    .map(|c| c.format.show((c.value)(row)))
                    .collect();
                let _ = writeln!(md, "| {} | {} |", row.summary.model, cells.join(" | "));
            }
        }
        md
    }

    /// Writes `leaderboard.md`, `leaderboard.csv` and `leaderboard.json` into `out`.
    pub fn write(&self, out: &Path) -> Result<(), BenchError> {
        let mut md = String::from("# LUME leaderboard\n\n");
        md.push_str(&self.markdown_table());
        md.push_str("\n## Checks\n\n");
        for line in self.checks.describe().lines() {
            let _ = writeln!(md, "- {line}");
        }
        md.push_str("\n## Notes\n\n");
        for note in self.notes() {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md, "\n{COLUMN_LEGEND}");
        let path = out.join("leaderboard.md");
        std::fs::write(&path, md).map_err(BenchError::io(&path))?;

        let columns = self.columns();
        let path = out.join("leaderboard.csv");
        let csv_error = |source| BenchError::Csv {
            path: path.clone(),
            source,
        };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_error)?;
        let header = std::iter::once("model").chain(columns.iter().map(|c| c.key.as_str()));
        writer.write_record(header).map_err(csv_error)?;
        for row in &self.rows {
            let cells = columns
                .iter()
                .map(|c| (c.value)(row).map_or(String::new(), |x| x.to_string()));
            let record: Vec<String> = std::iter::once(row.summary.model.clone())
                .chain(cells)
                .collect();
            writer.write_record(&record).map_err(csv_error)?;
        }
        writer.flush().map_err(BenchError::io(&path))?;

        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut value = serde_json::to_value(row).unwrap_or_default();
                if let Some(object) = value.as_object_mut() {
                    object.remove("sample");
                    object.remove("outputs");
                    object.remove("loss_curve");
                }
                value
            })
            .collect();
        write_json(
            &out.join("leaderboard.json"),
            &serde_json::json!({
                "rows": rows,
                "metrics": self.metric_columns,
                "checks": self.checks,
                "checks_passed": self.checks.passed(),
                "notes": self.notes(),
                "synthetic": self.synthetic,
                "quiz": self.quiz,
            }),
        )
    }

    /// The board `write` left in `out/leaderboard.json` (without what that file leaves out:
    /// per-row samples and outputs, loss curves; rows pushed into it get no metric).
    pub fn read(out: &Path) -> Result<Self, BenchError> {
        #[derive(Deserialize)]
        struct Written {
            rows: Vec<Row>,
            // A board written before metrics were plugins has the built-in ones.
            #[serde(default = "builtin_columns")]
            metrics: Vec<MetricColumn>,
            checks: Checks,
            #[serde(default)]
            synthetic: bool,
            #[serde(default)]
            quiz: bool,
        }
        let path = out.join("leaderboard.json");
        let text = std::fs::read_to_string(&path).map_err(BenchError::io(&path))?;
        let written: Written = serde_json::from_str(&text)
            .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
        Ok(Leaderboard {
            rows: written.rows,
            checks: written.checks,
            synthetic: written.synthetic,
            quiz: written.quiz,
            metrics: Metrics::none(),
            metric_columns: written.metrics,
        })
    }
}
