//! Paired comparison of two evaluations of the same rows: both are resampled with the same
//! indices, so the distribution of the difference of a score carries only what differs
//! between the two models, not the luck of which rows were drawn.

use serde::{Deserialize, Serialize};

use crate::bootstrap::{BootstrapConfig, Resamples, Sample, Scored, Scores, cell};

/// One score of A against B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// A's score.
    pub a: f64,
    /// B's score.
    pub b: f64,
    /// `a − b`.
    pub difference: f64,
    /// 2.5th percentile of the paired resampled differences.
    pub low: f64,
    /// 97.5th percentile of the paired resampled differences.
    pub high: f64,
    /// Two-sided bootstrap p-value of "no difference" (see [`p_value`]).
    pub p_value: f64,
}

/// Two-sided bootstrap p-value of a zero difference: twice the share of resampled differences
/// on either side of zero (the smaller side), with the add-one correction, at most 1:
/// `min(1, 2 · (1 + min(#{d ≤ 0}, #{d ≥ 0})) / (1 + B))`. Identical evaluations give 1.
///
/// ```
/// use lume_metrics::p_value;
/// assert_eq!(p_value(&[0.0; 100]), 1.0);
/// assert_eq!(p_value(&[0.1; 99]), 0.02);
/// ```
pub fn p_value(differences: &[f64]) -> f64 {
    let below = differences.iter().filter(|&&d| d <= 0.0).count();
    let above = differences.iter().filter(|&&d| d >= 0.0).count();
    let side = below.min(above) as f64;
    (2.0 * (1.0 + side) / (1.0 + differences.len() as f64)).min(1.0)
}

/// Holm's step-down adjustment of `p_values` (in their order): the i-th smallest is
/// multiplied by `m − i` and kept at least as large as the ones before it.
///
/// ```
/// use lume_metrics::holm;
/// assert_eq!(holm(&[0.01, 0.04, 0.03]), vec![0.03, 0.06, 0.06]);
/// ```
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

impl Difference {
    /// The difference of two points and of their paired draws.
    pub fn of(a: f64, b: f64, draws: &[(f64, f64)]) -> Difference {
        let mut d: Vec<f64> = draws.iter().map(|(x, y)| x - y).collect();
        let p_value = p_value(&d);
        d.sort_by(f64::total_cmp);
        Difference {
            a,
            b,
            difference: a - b,
            low: crate::percentile(&d, 2.5),
            high: crate::percentile(&d, 97.5),
            p_value,
        }
    }
}

/// A's scores against B's, each with the interval and p-value of the difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Resamples drawn.
    pub resamples: usize,
    /// Seed used.
    pub seed: u64,
    /// The differences.
    #[serde(flatten)]
    pub differences: Scored<Difference>,
}

/// Why two evaluations cannot be compared row for row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompareError {
    /// The evaluations have different numbers of rows or MIA documents.
    #[error("A has {a} {what}, B has {b}: not evaluations of the same rows")]
    Sizes {
        /// Rows or MIA documents.
        what: &'static str,
        /// A's count.
        a: usize,
        /// B's count.
        b: usize,
    },
    /// Row `index` is a different row in A and B.
    #[error("row {index} is `{a}` in A but `{b}` in B: not evaluations of the same rows")]
    Row {
        /// Position in id order.
        index: usize,
        /// A's id (or cell).
        a: String,
        /// B's id (or cell).
        b: String,
    },
    /// One has MIA losses and the other none.
    #[error("only {0} has MIA losses")]
    MiaOnlyIn(&'static str),
}

/// The paired bootstrap comparison of `a` against `b` (rows matched by position; their ids,
/// when both have them, and their cells must agree).
///
/// ```
/// use lume_data::{Kind, Split, Task};
/// use lume_metrics::{BootstrapConfig, Sample, ScoredRow, compare};
/// let sample = |score: f64| Sample {
///     rows: (0..30).map(|i| ScoredRow { split: Split::Retain, task: Task::Task1,
///         kind: Kind::Question, score: if i % 3 == 0 { 0.0 } else { score } }).collect(),
///     ..Sample::default()
/// };
/// let same = compare(&sample(1.0), &sample(1.0), BootstrapConfig::default())?;
/// assert_eq!((same.differences.final_score.difference, same.differences.final_score.p_value), (0.0, 1.0));
/// let better = compare(&sample(1.0), &sample(0.5), BootstrapConfig::default())?;
/// assert!(better.differences.final_score.low > 0.0 && better.differences.final_score.p_value < 0.01);
/// # Ok::<(), lume_metrics::CompareError>(())
/// ```
pub fn compare(
    a: &Sample,
    b: &Sample,
    config: BootstrapConfig,
) -> Result<Comparison, CompareError> {
    paired(a, b)?;
    let resamples = Resamples::draw(a, config);
    let (da, db) = (resamples.scores(a), resamples.scores(b));
    let (pa, pb) = (Scores::of_sample(a), Scores::of_sample(b));
    Ok(Comparison {
        resamples: resamples.len(),
        seed: resamples.seed,
        differences: difference(&pa, &pb, &da, &db),
    })
}

/// Field by field, the difference of two points and their paired draws.
fn difference(pa: &Scores, pb: &Scores, da: &[Scores], db: &[Scores]) -> Scored<Difference> {
    let both = |x: Option<f64>, y: Option<f64>| x.zip(y);
    let field = |point: Option<(f64, f64)>, get: &dyn Fn(&Scores) -> Option<f64>| {
        let (x, y) = point?;
        let draws: Vec<(f64, f64)> = da
            .iter()
            .zip(db)
            .filter_map(|(u, v)| get(u).zip(get(v)))
            .collect();
        Some(Difference::of(x, y, &draws))
    };
    Scored {
        cells: std::array::from_fn(|s| {
            std::array::from_fn(|t| {
                std::array::from_fn(|k| {
                    field(both(pa.cells[s][t][k], pb.cells[s][t][k]), &|d| {
                        d.cells[s][t][k]
                    })
                })
            })
        }),
        overall: std::array::from_fn(|s| {
            std::array::from_fn(|k| {
                field(both(pa.overall[s][k], pb.overall[s][k]), &|d| {
                    d.overall[s][k]
                })
            })
        }),
        split_means: std::array::from_fn(|s| {
            field(both(pa.split_means[s], pb.split_means[s]), &|d| {
                d.split_means[s]
            })
        }),
        task_aggregate: field(both(pa.task_aggregate, pb.task_aggregate), &|d| {
            d.task_aggregate
        }),
        mia_auc: field(both(pa.mia_auc, pb.mia_auc), &|d| d.mia_auc),
        mia_score: field(both(pa.mia_score, pb.mia_score), &|d| d.mia_score),
        mmlu: field(both(pa.mmlu, pb.mmlu), &|d| d.mmlu),
        final_score: {
            let draws: Vec<(f64, f64)> = da
                .iter()
                .zip(db)
                .map(|(u, v)| (u.final_score, v.final_score))
                .collect();
            Difference::of(pa.final_score, pb.final_score, &draws)
        },
    }
}

/// Checks that `a` and `b` are evaluations of the same rows and MIA documents.
pub fn paired(a: &Sample, b: &Sample) -> Result<(), CompareError> {
    let sizes = |what, x: usize, y: usize| {
        if x == y {
            Ok(())
        } else {
            Err(CompareError::Sizes { what, a: x, b: y })
        }
    };
    sizes("rows", a.rows.len(), b.rows.len())?;
    if !a.mmlu_questions.is_empty() && !b.mmlu_questions.is_empty() {
        sizes(
            "MMLU questions",
            a.mmlu_questions.len(),
            b.mmlu_questions.len(),
        )?;
    }
    let both_ids = a.ids.len() == a.rows.len() && b.ids.len() == b.rows.len();
    for (index, (x, y)) in a.rows.iter().zip(&b.rows).enumerate() {
        if both_ids && a.ids[index] != b.ids[index] {
            return Err(CompareError::Row {
                index,
                a: a.ids[index].clone(),
                b: b.ids[index].clone(),
            });
        }
        if cell(x) != cell(y) {
            let name = |r: &crate::ScoredRow| format!("{} {} {}", r.split, r.task, r.kind);
            return Err(CompareError::Row {
                index,
                a: name(x),
                b: name(y),
            });
        }
    }
    match (&a.mia, &b.mia) {
        (Some((am, an)), Some((bm, bn))) => {
            sizes("MIA members", am.len(), bm.len())?;
            sizes("MIA non-members", an.len(), bn.len())
        }
        (None, None) => Ok(()),
        (Some(_), None) => Err(CompareError::MiaOnlyIn("A")),
        (None, Some(_)) => Err(CompareError::MiaOnlyIn("B")),
    }
}
