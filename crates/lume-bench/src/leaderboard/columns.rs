//! The leaderboard's table of columns: one entry per metric (key, header, Markdown table,
//! format, value), in CSV order.

use lume_data::Task;
use lume_metrics::{Interval, Scored, Standing, mean};
use serde::{Deserialize, Serialize};

use super::Row;
use crate::metric::MetricColumn;
use crate::probes::{Point, Relearning};

/// Which Markdown table a column is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// The protocol's scores.
    Scores,
    /// Memorization, privacy and cost.
    Memorization,
    /// Intervals, seeds and the ranking.
    Uncertainty,
    /// Relearning, quantization and successive requests (when probes ran).
    Probes,
}

impl Table {
    /// What the table shows, as a heading.
    pub fn title(self) -> &'static str {
        match self {
            Table::Scores => "The protocol's scores",
            Table::Memorization => "Memorization, privacy and time",
            Table::Uncertainty => "Uncertainty and ranking",
            Table::Probes => "Probes: relearning, quantization, requests",
        }
    }

    /// This table as a one-element static slice (a column's `tables`).
    fn as_static(self) -> &'static Table {
        match self {
            Table::Scores => &Table::Scores,
            Table::Memorization => &Table::Memorization,
            Table::Uncertainty => &Table::Uncertainty,
            Table::Probes => &Table::Probes,
        }
    }

    /// A name for the table in HTML (`scores`, `memorization`, …).
    pub fn id(self) -> &'static str {
        match self {
            Table::Scores => "scores",
            Table::Memorization => "memorization",
            Table::Uncertainty => "uncertainty",
            Table::Probes => "probes",
        }
    }
}

/// How a column's value is printed in Markdown (CSV and JSON keep every digit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Three decimals.
    Fixed3,
    /// One decimal.
    Fixed1,
    /// No decimal.
    Fixed0,
    /// Scientific, two decimals (p-values).
    Scientific2,
    /// `tied` for 1, nothing for 0.
    Mark,
}

impl Format {
    /// `value` as this format prints it, `–` when there is none.
    pub fn show(self, value: Option<f64>) -> String {
        match (self, value) {
            (_, None) => "–".to_string(),
            (Format::Fixed3, Some(x)) => format!("{x:.3}"),
            (Format::Fixed1, Some(x)) => format!("{x:.1}"),
            (Format::Fixed0, Some(x)) => format!("{x:.0}"),
            (Format::Scientific2, Some(x)) => format!("{x:.2e}"),
            (Format::Mark, Some(x)) => if x > 0.5 { "tied" } else { "" }.to_string(),
        }
    }
}

/// How a column reads its value from a row.
pub type ColumnValue = dyn Fn(&Row) -> Option<f64>;

/// How a column reads its value's 95 % interval from a row.
pub type ColumnInterval = dyn Fn(&Row) -> Option<Interval>;

/// One column of the leaderboard: its CSV key, its Markdown header, where and how it is
/// printed, and how a row gives its value ([`Leaderboard::columns`](super::Leaderboard::columns)
/// lists them; a new metric is a [`Metric`](crate::Metric), not a column).
pub struct Column {
    /// Key in `leaderboard.csv`.
    pub key: String,
    /// Header in `leaderboard.md`.
    pub header: String,
    /// The Markdown tables it is in.
    pub tables: &'static [Table],
    /// How Markdown prints it.
    pub format: Format,
    /// Its value in a row.
    pub value: Box<ColumnValue>,
    /// Its row-bootstrap interval in a row, for the scores the bootstrap covers.
    pub interval: Option<Box<ColumnInterval>>,
}

impl Column {
    fn new(
        key: &str,
        header: &str,
        tables: &'static [Table],
        format: Format,
        value: impl Fn(&Row) -> Option<f64> + 'static,
    ) -> Self {
        Column {
            key: key.to_string(),
            header: header.to_string(),
            tables,
            format,
            value: Box::new(value),
            interval: None,
        }
    }

    fn with_row_interval(mut self, interval: impl Fn(&Row) -> Option<Interval> + 'static) -> Self {
        self.interval = Some(Box::new(interval));
        self
    }

    fn with_interval(
        self,
        interval: impl Fn(&Scored<Interval>) -> Option<Interval> + 'static,
    ) -> Self {
        self.with_row_interval(move |r| interval(r.intervals.as_ref()?))
    }
}

/// The registered metrics' columns, each with its interval from the same resamples.
fn metric_columns(metrics: &[MetricColumn]) -> Vec<Column> {
    metrics
        .iter()
        .map(|metric| {
            let (key, interval_key) = (metric.key.clone(), metric.key.clone());
            let column = Column {
                key: metric.key.clone(),
                header: metric.header.clone(),
                tables: std::slice::from_ref(metric.table.as_static()),
                format: metric.format,
                value: Box::new(move |r: &Row| r.metrics.get(&key).copied().flatten()),
                interval: None,
            };
            column.with_row_interval(move |r| r.metric_intervals.get(&interval_key).copied())
        })
        .collect()
}

/// The 12 task scores: split × task × kind, forget first.
fn task_columns() -> Vec<Column> {
    let mut columns = Vec::new();
    for (s, split) in ["forget", "retain"].into_iter().enumerate() {
        for (t, task) in Task::ALL.into_iter().enumerate() {
            for (k, kind) in ["regurgitation", "knowledge"].into_iter().enumerate() {
                let key = format!("{split}_{task}_{kind}").to_lowercase();
                let header = format!(
                    "{}{} {}",
                    &split[..1].to_uppercase(),
                    t + 1,
                    ["reg", "kn"][k]
                );
                columns.push(
                    Column::new(
                        &key,
                        &header,
                        &[Table::Scores],
                        Format::Fixed3,
                        move |r: &Row| r.summary.scores[s][t][k],
                    )
                    .with_interval(move |i| i.cells[s][t][k]),
                );
            }
        }
    }
    columns
}

/// Every column, in CSV order: the 12 task scores, the protocol's aggregates, the metrics,
/// time, uncertainty and the probes.
pub(crate) fn columns(metrics: &[MetricColumn]) -> Vec<Column> {
    use Format::{Fixed0, Fixed3};
    use Table::{Memorization, Scores, Uncertainty};
    let mut columns = task_columns();
    columns.extend([
        Column::new("task_aggregate", "task agg.", &[Scores], Fixed3, |r| {
            Some(r.summary.task_aggregate)
        })
        .with_interval(|i| i.task_aggregate),
        Column::new("mia_auc", "MIA AUC", &[Scores], Fixed3, |r| {
            r.summary.mia_auc
        })
        .with_interval(|i| i.mia_auc),
        Column::new("mia_score", "MIA score", &[Scores], Fixed3, |r| {
            r.summary.mia_score
        })
        .with_interval(|i| i.mia_score),
        Column::new("utility", "utility", &[Scores], Fixed3, |r| {
            r.summary.utility
        })
        .with_interval(|i| i.mmlu),
        Column::new(
            "utility_of_target_pct",
            "utility % of target",
            &[Scores],
            Fixed0,
            |r| r.utility_of_target_pct,
        ),
        Column::new(
            "final_score",
            "final",
            &[Scores, Uncertainty],
            Fixed3,
            |r| Some(r.summary.final_score),
        )
        .with_interval(|i| Some(i.final_score)),
    ]);
    columns.extend(metric_columns(metrics));
    columns.push(Column::new(
        "wall_seconds",
        "time (s)",
        &[Memorization],
        Fixed0,
        |r| Some(r.wall_seconds),
    ));
    columns.extend(uncertainty_columns());
    columns.extend(probe_columns());
    columns
}

/// What the probes measured: forget scores after relearning, in fewer bits, after successive
/// requests (the curves are in the plots and `leaderboard.json`).
fn probe_columns() -> Vec<Column> {
    use Format::{Fixed0, Fixed3};
    use Table::Probes;
    let split = |s: usize| move |r: &Row| split_mean(&r.summary.scores, s);
    vec![
        Column::new("forget_score", "forget", &[Probes], Fixed3, split(0)),
        Column::new("retain_score", "retain", &[Probes], Fixed3, split(1)),
        Column::new(
            "relearn_held_out_forget",
            "held-out forget",
            &[Probes],
            Fixed3,
            |r| relearn(r)?.unlearned.forget,
        ),
        Column::new(
            "relearn_forget_after",
            "forget after relearn",
            &[Probes],
            Fixed3,
            |r| relearn(r)?.after_forget.forget,
        ),
        Column::new(
            "relearn_recovered_pct",
            "recovered %",
            &[Probes],
            Fixed0,
            |r| {
                let relearn = relearn(r)?;
                relearn.recovered(&relearn.after_forget).map(|x| 100.0 * x)
            },
        ),
        Column::new(
            "relearn_control_recovered_pct",
            "recovered % (retain control)",
            &[Probes],
            Fixed0,
            |r| {
                let relearn = relearn(r)?;
                relearn.recovered(&relearn.after_retain).map(|x| 100.0 * x)
            },
        ),
        Column::new("forget_bf16", "forget @bf16", &[Probes], Fixed3, |r| {
            at(r, 16)?.forget
        }),
        Column::new("forget_8bit", "forget @8-bit", &[Probes], Fixed3, |r| {
            at(r, 8)?.forget
        }),
        Column::new("forget_4bit", "forget @4-bit", &[Probes], Fixed3, |r| {
            at(r, 4)?.forget
        }),
        Column::new("retain_4bit", "retain @4-bit", &[Probes], Fixed3, |r| {
            at(r, 4)?.retain
        }),
        Column::new(
            "requests_forget",
            "forget after requests",
            &[Probes],
            Fixed3,
            |r| last_request(r)?.forget,
        ),
        Column::new(
            "requests_retain",
            "retain after requests",
            &[Probes],
            Fixed3,
            |r| last_request(r)?.retain,
        ),
    ]
}

fn relearn(r: &Row) -> Option<&Relearning> {
    r.probes.as_ref()?.relearn.as_ref()
}

/// The scores in the first weight format of `bits` bits.
fn at(r: &Row, bits: u32) -> Option<&Point> {
    let probes = r.probes.as_ref()?;
    probes
        .quantization
        .iter()
        .find(|q| q.format.bits() == bits)
        .map(|q| &q.point)
}

fn last_request(r: &Row) -> Option<&Point> {
    r.probes.as_ref()?.requests.last()
}

/// Mean of the six forget (or retain) scores of a row.
pub(crate) fn split_mean(scores: &[[[Option<f64>; 2]; 3]; 2], split: usize) -> Option<f64> {
    let v: Vec<f64> = scores[split].iter().flatten().flatten().copied().collect();
    mean(&v)
}

/// The final score's interval (over rows and seeds when there are seeds), the seeds, and the
/// ranking of the methods.
fn uncertainty_columns() -> Vec<Column> {
    use Format::{Fixed0, Fixed3, Mark};
    use Table::Uncertainty;
    fn seeded(r: &Row) -> Option<&Standing> {
        r.standing.as_ref().filter(|s| s.seeds > 1)
    }
    fn row_interval(r: &Row) -> Option<Interval> {
        r.intervals.as_ref().map(|i| i.final_score)
    }
    vec![
        Column::new("seeds", "seeds", &[Uncertainty], Fixed0, |r| {
            seeded(r).map(|s| s.seeds as f64)
        }),
        Column::new(
            "final_seed_mean",
            "mean of seeds",
            &[Uncertainty],
            Fixed3,
            |r| seeded(r).map(|s| s.mean),
        ),
        Column::new("final_seed_sd", "seed sd", &[Uncertainty], Fixed3, |r| {
            seeded(r).map(|s| s.seed_sd)
        }),
        Column::new("final_low", "95 % low", &[Uncertainty], Fixed3, |r| {
            seeded(r).map(|s| s.low).or(row_interval(r).map(|i| i.low))
        }),
        Column::new("final_high", "95 % high", &[Uncertainty], Fixed3, |r| {
            seeded(r)
                .map(|s| s.high)
                .or(row_interval(r).map(|i| i.high))
        }),
        Column::new("rank", "rank", &[Uncertainty], Fixed0, |r| {
            r.standing.as_ref().map(|s| s.rank as f64)
        }),
        Column::new("p_vs_best", "p vs best", &[Uncertainty], Fixed3, |r| {
            r.standing.as_ref().and_then(|s| s.p_vs_best)
        }),
        Column::new(
            "tied_with_best",
            "tied with best",
            &[Uncertainty],
            Mark,
            |r| {
                r.standing
                    .as_ref()
                    .map(|s| f64::from(u8::from(s.tied_with_best)))
            },
        ),
    ]
}
