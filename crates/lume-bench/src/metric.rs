//! Metrics as plugins: a [`Metric`] reads one model's stored evaluation (its [`EvalSummary`]:
//! scored rows, generations, answer token statistics, MIA statistics; the gold model's where
//! it needs them) and says how its value is made ([`Measure`]). Every registered metric is a
//! leaderboard column, and its 95 % interval comes from the same bootstrap resamples as the
//! protocol's scores: per-row values are redrawn with the rows (within split × task × kind),
//! per-document statistics with the MIA documents (within members and non-members), a metric
//! relative to gold draws both models on the same indices, and a single value (a p-value) has
//! no interval.
//!
//! A metric of your own, registered beside the built-in ones:
//!
//! ```
//! use lume_bench::{EvalSummary, Measure, Metric, Metrics};
//! use lume_data::Split;
//!
//! /// Mean `exp(−NLL)` of retain answers: what unlearning should leave alone.
//! struct RetainProbability;
//!
//! impl Metric for RetainProbability {
//!     fn key(&self) -> &str {
//!         "retain_probability"
//!     }
//!     fn header(&self) -> &str {
//!         "retain prob."
//!     }
//!     fn measure(&self, model: &EvalSummary, _gold: Option<&EvalSummary>) -> Measure {
//!         Measure::rows(model, Split::Retain, |row| lume_metrics::probability(row.stats.as_ref()?))
//!     }
//! }
//!
//! let metrics = Metrics::builtin().with(RetainProbability);
//! assert!(metrics.iter().any(|m| m.key() == "retain_probability"));
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use lume_data::Split;
use lume_metrics::{Interval, Resamples, mean, membership_auc};
use serde::{Deserialize, Serialize};

use crate::leaderboard::{Format, Table};
use crate::summary::{EvalSummary, StoredDocument, StoredRow};

mod membership;
mod memorization;

pub use membership::{MembershipAttack, PrivLeak};
pub use memorization::{ForgetAnswers, ForgetQuality};

/// A leaderboard metric computed from stored evaluations, without new inference.
pub trait Metric: Send + Sync {
    /// Its key in `leaderboard.csv` and `leaderboard.json` (`snake_case`, unique).
    fn key(&self) -> &str;
    /// Its header in `leaderboard.md` and the report.
    fn header(&self) -> &str;
    /// How Markdown prints it.
    fn format(&self) -> Format {
        Format::Fixed3
    }
    /// The table it is shown in.
    fn table(&self) -> Table {
        Table::Memorization
    }
    /// How `model`'s value is made, from its evaluation (and the gold model's, when the board
    /// has one: the gold model's own row is measured against itself).
    fn measure(&self, model: &EvalSummary, gold: Option<&EvalSummary>) -> Measure;
}

/// How a metric's value is made from one model's evaluation, which says how the bootstrap
/// redraws it.
#[derive(Debug, Clone)]
pub enum Measure {
    /// One value per scored row, parallel to [`EvalSummary::sample`]'s rows (`None` where the
    /// metric does not apply); the metric is their mean, redrawn with the rows.
    Rows(Vec<Option<f64>>),
    /// One statistic per MIA document (parallel to the sample's members and non-members); the
    /// metric is the membership AUC, redrawn with the documents.
    Documents {
        /// Per member document.
        members: Vec<Option<f64>>,
        /// Per non-member document.
        nonmembers: Vec<Option<f64>>,
    },
    /// A single value the bootstrap cannot redraw (a test's p-value): no interval.
    Fixed(Option<f64>),
    /// A value relative to the gold model: `combine(model's, gold's)`, both measured on the
    /// same resamples (which must fit the gold model's rows too).
    AgainstGold {
        /// This model's measure.
        model: Box<Measure>,
        /// The gold model's.
        gold: Box<Measure>,
        /// The metric from the two values.
        combine: fn(f64, f64) -> f64,
    },
}

impl Measure {
    /// [`Measure::Rows`] of `value` on `model`'s rows of `split` (the other rows `None`).
    pub fn rows(
        model: &EvalSummary,
        split: Split,
        value: impl Fn(&StoredRow) -> Option<f64>,
    ) -> Measure {
        let rows = model.outputs.rows.iter();
        Measure::Rows(
            rows.map(|row| (row.split == split).then(|| value(row)).flatten())
                .collect(),
        )
    }

    /// [`Measure::Documents`] of `statistic` on `model`'s MIA documents.
    pub fn documents(
        model: &EvalSummary,
        statistic: impl Fn(&StoredDocument) -> Option<f64>,
    ) -> Measure {
        let all = |docs: &[StoredDocument]| docs.iter().map(&statistic).collect();
        Measure::Documents {
            members: all(&model.outputs.members),
            nonmembers: all(&model.outputs.nonmembers),
        }
    }

    /// The metric's value.
    fn value(&self) -> Option<f64> {
        match self {
            Measure::Rows(values) => mean(&values.iter().copied().flatten().collect::<Vec<_>>()),
            Measure::Documents {
                members,
                nonmembers,
            } => {
                let some = |v: &[Option<f64>]| v.iter().copied().flatten().collect::<Vec<_>>();
                membership_auc(&some(members), &some(nonmembers)).ok()
            }
            Measure::Fixed(value) => *value,
            Measure::AgainstGold {
                model,
                gold,
                combine,
            } => Some(combine(model.value()?, gold.value()?)),
        }
    }

    /// The value in every resample; `None` when it cannot be redrawn.
    fn draws(&self, resamples: &Resamples) -> Option<Vec<Option<f64>>> {
        match self {
            Measure::Rows(values) => {
                sized(&resamples.rows, values.len()).then(|| resamples.means(values))
            }
            Measure::Documents {
                members,
                nonmembers,
            } => (sized(&resamples.members, members.len())
                && sized(&resamples.nonmembers, nonmembers.len()))
            .then(|| resamples.aucs(members, nonmembers)),
            Measure::Fixed(_) => None,
            Measure::AgainstGold {
                model,
                gold,
                combine,
            } => {
                let (model, gold) = (model.draws(resamples)?, gold.draws(resamples)?);
                Some(
                    model
                        .iter()
                        .zip(&gold)
                        .map(|(m, g)| Some(combine((*m)?, (*g)?)))
                        .collect(),
                )
            }
        }
    }

    /// The value and, when `resamples` are given and the measure can be redrawn on them, its
    /// 95 % interval.
    pub fn evaluate(&self, resamples: Option<&Resamples>) -> (Option<f64>, Option<Interval>) {
        let value = self.value();
        let interval = value.and_then(|v| {
            let draws = self.draws(resamples?)?;
            Interval::of_some(v, &draws)
        });
        (value, interval)
    }
}

/// Whether every draw of `drawn` has `len` indices: values measured on the rows (or
/// documents) the resamples were drawn from.
fn sized(drawn: &[Vec<u32>], len: usize) -> bool {
    drawn.iter().all(|d| d.len() == len)
}

/// How a column of metric values is described in `leaderboard.json`, so a board read back
/// shows a plugin's column without the plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetricColumn {
    /// [`Metric::key`].
    pub key: String,
    /// [`Metric::header`].
    pub header: String,
    /// [`Metric::format`].
    pub format: Format,
    /// [`Metric::table`].
    pub table: Table,
}

impl MetricColumn {
    fn of(metric: &dyn Metric) -> Self {
        MetricColumn {
            key: metric.key().to_string(),
            header: metric.header().to_string(),
            format: metric.format(),
            table: metric.table(),
        }
    }
}

/// The metrics a leaderboard shows, in column order: [`Metrics::builtin`] and any registered
/// with [`Metrics::with`].
#[derive(Clone, Default)]
pub struct Metrics {
    metrics: Vec<Arc<dyn Metric>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.metrics.iter().map(|m| m.key()))
            .finish()
    }
}

impl Metrics {
    /// No metric beyond the protocol's scores.
    pub fn none() -> Self {
        Metrics::default()
    }

    /// The field's metrics: open-unlearning's probability, exact memorization and extraction
    /// strength of forget answers; the Min-K%, Min-K%++ and ZLib membership AUCs; the forget
    /// quality (KS test against gold) and MUSE's PrivLeak.
    pub fn builtin() -> Self {
        use lume_metrics::{Attack, DEFAULT_MIN_K};
        Metrics::none()
            .with(ForgetAnswers::probability())
            .with(ForgetAnswers::exact_memorization())
            .with(ForgetAnswers::extraction_strength())
            .with(MembershipAttack::new(Attack::MinK { k: DEFAULT_MIN_K }))
            .with(MembershipAttack::new(Attack::MinKPlusPlus {
                k: DEFAULT_MIN_K,
            }))
            .with(MembershipAttack::new(Attack::Zlib))
            .with(ForgetQuality)
            .with(PrivLeak)
    }

    /// These metrics and `metric` after them (replacing one with the same key, in its place).
    pub fn with(mut self, metric: impl Metric + 'static) -> Self {
        let metric: Arc<dyn Metric> = Arc::new(metric);
        match self.metrics.iter().position(|m| m.key() == metric.key()) {
            Some(at) => self.metrics[at] = metric,
            None => self.metrics.push(metric),
        }
        self
    }

    /// The metrics in column order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Metric> {
        self.metrics.iter().map(|m| m.as_ref())
    }

    /// Their columns.
    pub fn columns(&self) -> Vec<MetricColumn> {
        self.iter().map(MetricColumn::of).collect()
    }

    /// Every metric's value and interval for `model` (the intervals on `resamples`, drawn from
    /// its sample), keyed by [`Metric::key`].
    pub(crate) fn evaluate(
        &self,
        model: &EvalSummary,
        gold: Option<&EvalSummary>,
        resamples: Option<&Resamples>,
    ) -> (BTreeMap<String, Option<f64>>, BTreeMap<String, Interval>) {
        // A gold model whose rows do not fit the resamples cannot be drawn jointly.
        let joint = |measure: &Measure| match measure {
            Measure::AgainstGold { .. } => {
                gold.is_some_and(|g| resamples.is_some_and(|r| r.fit(&g.sample)))
            }
            _ => true,
        };
        let mut values = BTreeMap::new();
        let mut intervals = BTreeMap::new();
        for metric in self.iter() {
            let measure = metric.measure(model, gold);
            let resamples = resamples.filter(|_| joint(&measure));
            let (value, interval) = measure.evaluate(resamples);
            values.insert(metric.key().to_string(), value);
            if let Some(interval) = interval {
                intervals.insert(metric.key().to_string(), interval);
            }
        }
        (values, intervals)
    }
}

#[cfg(test)]
mod tests {
    use lume_data::{Kind, Task};
    use lume_metrics::{BootstrapConfig, Sample, ScoredRow};

    use super::*;

    fn sample(rows: usize, documents: usize) -> Sample {
        let row = |i: usize| ScoredRow {
            split: if i.is_multiple_of(2) {
                Split::Forget
            } else {
                Split::Retain
            },
            task: Task::Task1,
            kind: Kind::Question,
            score: 0.5,
        };
        let losses = |d: usize| (0..d).map(|i| i as f64).collect::<Vec<_>>();
        Sample {
            ids: (0..rows).map(|i| format!("r{i}")).collect(),
            rows: (0..rows).map(row).collect(),
            mia: Some((losses(documents), losses(documents))),
            ..Sample::default()
        }
    }

    fn resamples(sample: &Sample) -> Resamples {
        let config = BootstrapConfig {
            resamples: 200,
            seed: 3,
        };
        Resamples::draw(sample, config)
    }

    #[test]
    fn rows_are_redrawn_with_the_rows_and_documents_with_the_documents() {
        let sample = sample(40, 12);
        let resamples = resamples(&sample);
        let values: Vec<Option<f64>> = (0..40).map(|i| (i % 2 == 0).then_some(i as f64)).collect();
        let (value, interval) = Measure::Rows(values.clone()).evaluate(Some(&resamples));
        let want = (0..40).step_by(2).map(|i| i as f64).sum::<f64>() / 20.0;
        let interval = interval.expect("an interval");
        assert_eq!((value, interval.estimate), (Some(want), want));
        assert!(interval.low < want && want < interval.high, "{interval:?}");
        // The same draws as any other per-row value on these resamples.
        assert_eq!(
            Measure::Rows(values.clone()).draws(&resamples),
            Some(resamples.means(&values))
        );

        let members: Vec<Option<f64>> = (0..12).map(|i| Some(i as f64)).collect();
        let nonmembers: Vec<Option<f64>> = (0..12).map(|i| Some(i as f64 + 6.0)).collect();
        let documents = Measure::Documents {
            members: members.clone(),
            nonmembers: nonmembers.clone(),
        };
        let (auc, interval) = documents.evaluate(Some(&resamples));
        assert!(auc.is_some_and(|a| a > 0.5), "{auc:?}");
        assert!(interval.is_some());
        assert_eq!(
            documents.draws(&resamples),
            Some(resamples.aucs(&members, &nonmembers))
        );
    }

    #[test]
    fn values_not_aligned_with_the_resamples_and_single_values_get_no_interval() {
        let sample = sample(40, 12);
        let resamples = resamples(&sample);
        let short = Measure::Rows(vec![Some(1.0); 39]);
        assert_eq!(short.evaluate(Some(&resamples)), (Some(1.0), None));
        let fixed = Measure::Fixed(Some(0.03));
        assert_eq!(fixed.evaluate(Some(&resamples)), (Some(0.03), None));
        let documents = Measure::Documents {
            members: vec![Some(1.0); 11],
            nonmembers: vec![Some(2.0); 12],
        };
        assert!(documents.evaluate(Some(&resamples)).1.is_none());
    }

    #[test]
    fn against_gold_combines_both_models_on_the_same_draws() {
        let sample = sample(40, 12);
        let resamples = resamples(&sample);
        let values: Vec<Option<f64>> = (0..40).map(|i| Some(i as f64)).collect();
        let measure = |combine: fn(f64, f64) -> f64| Measure::AgainstGold {
            model: Box::new(Measure::Rows(values.clone())),
            gold: Box::new(Measure::Rows(values.clone())),
            combine,
        };
        // Itself against itself: the difference is 0 in every resample.
        let (value, interval) = measure(|a, g| a - g).evaluate(Some(&resamples));
        let interval = interval.expect("an interval");
        assert_eq!((value, interval.low, interval.high), (Some(0.0), 0.0, 0.0));
        let (value, interval) = measure(|a, g| a + g).evaluate(Some(&resamples));
        assert_eq!(value, Some(39.0));
        assert!(interval.is_some_and(|i| i.low < 39.0 && 39.0 < i.high));
    }

    /// A metric that always measures `value`.
    struct Constant(&'static str, f64);

    impl Metric for Constant {
        fn key(&self) -> &str {
            self.0
        }
        fn header(&self) -> &str {
            self.0
        }
        fn measure(&self, _: &EvalSummary, _: Option<&EvalSummary>) -> Measure {
            Measure::Fixed(Some(self.1))
        }
    }

    #[test]
    fn a_metric_registered_twice_replaces_the_first_in_its_place() {
        let metrics = Metrics::none()
            .with(Constant("a", 1.0))
            .with(Constant("b", 2.0))
            .with(Constant("a", 3.0));
        let keys: Vec<&str> = metrics.iter().map(|m| m.key()).collect();
        assert_eq!(keys, ["a", "b"]);
        let summary = EvalSummary {
            model: "m".into(),
            scores: [[[None; 2]; 3]; 2],
            overall: [[None; 2]; 2],
            task_aggregate: 0.0,
            mia_auc: None,
            mia_score: None,
            utility: None,
            final_score: 0.0,
            train_seconds: 0.0,
            eval_seconds: 0.0,
            loss_curve: Vec::new(),
            sample: Sample::default(),
            outputs: crate::StoredOutputs::default(),
        };
        let (values, intervals) = metrics.evaluate(&summary, None, None);
        assert_eq!(values["a"], Some(3.0));
        assert!(intervals.is_empty());
        let builtin: Vec<String> = Metrics::builtin()
            .columns()
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(
            builtin,
            [
                "probability",
                "exact_memorization",
                "extraction_strength",
                "min_k_auc",
                "min_k_plus_plus_auc",
                "zlib_auc",
                "forget_quality",
                "privleak"
            ]
        );
    }
}
