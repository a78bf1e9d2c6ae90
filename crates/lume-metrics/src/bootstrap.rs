//! Row-level uncertainty: a percentile bootstrap over the benchmark's rows, stratified so that
//! every resample keeps the 12 cells (split × task × kind) at their sizes, with the MIA
//! documents resampled within members and within non-members.
//!
//! Each resample recomputes the protocol's own numbers ([`TaskAggregate::from_rows`],
//! [`mia_auc`], [`FinalScore::new`]) on the resampled per-row scores: the interval is that of
//! exactly the reported score. MMLU is taken as it is (one number per run; its questions are
//! not resampled). Seeded: the same seed gives the same intervals on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::aggregate::{FinalScore, ScoredRow, TaskAggregate};
use crate::auc::{mia_auc, mia_score};

/// Resamples and seed of a bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapConfig {
    /// Number of resamples B.
    pub resamples: usize,
    /// Seed of the resampling.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    /// B = 1,000, seed 0.
    fn default() -> Self {
        BootstrapConfig {
            resamples: 1000,
            seed: 0,
        }
    }
}

/// A point estimate with its 95 % percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// The score on the rows as they are.
    pub estimate: f64,
    /// 2.5th percentile of the resampled scores.
    pub low: f64,
    /// 97.5th percentile of the resampled scores.
    pub high: f64,
}

impl Interval {
    fn of(estimate: f64, mut draws: Vec<f64>) -> Interval {
        draws.sort_by(f64::total_cmp);
        Interval {
            estimate,
            low: percentile(&draws, 2.5),
            high: percentile(&draws, 97.5),
        }
    }
}

/// The `q`-th percentile of sorted `values` with linear interpolation between order statistics
/// (numpy's default, `method="linear"`).
///
/// ```
/// use lume_metrics::percentile;
/// assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
/// assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 100.0), 4.0);
/// ```
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// The intervals of a run's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    /// Resamples drawn.
    pub resamples: usize,
    /// Seed used.
    pub seed: u64,
    /// `[split][task][regurgitation, knowledge]`, forget first; `None` for an empty cell.
    pub cells: [[[Option<Interval>; 2]; 3]; 2],
    /// The harmonic task aggregate.
    pub task_aggregate: Option<Interval>,
    /// MIA AUC.
    pub mia_auc: Option<Interval>,
    /// MIA score `1 − 2|AUC − 0.5|`.
    pub mia_score: Option<Interval>,
    /// The final score (the mean over the parts that exist, MMLU held fixed).
    pub final_score: Interval,
}

/// Bootstraps the scores of `rows` (per-row ROUGE-L recall or exact match), `mia` member and
/// non-member losses, and a fixed `mmlu` accuracy.
///
/// ```
/// use lume_data::{Kind, Split, Task};
/// use lume_metrics::{BootstrapConfig, ScoredRow, bootstrap};
/// let rows: Vec<ScoredRow> = (0..40)
///     .map(|i| ScoredRow { split: Split::Retain, task: Task::Task1, kind: Kind::Question,
///         score: if i % 4 == 0 { 0.0 } else { 1.0 } })
///     .collect();
/// let b = bootstrap(&rows, None, None, BootstrapConfig::default());
/// let kn = b.cells[1][0][1].unwrap();
/// assert_eq!(kn.estimate, 0.75);
/// assert!(kn.low < 0.75 && 0.75 < kn.high);
/// ```
pub fn bootstrap(
    rows: &[ScoredRow],
    mia: Option<(&[f64], &[f64])>,
    mmlu: Option<f64>,
    config: BootstrapConfig,
) -> Bootstrap {
    let cell_of = |r: &ScoredRow| {
        let s = usize::from(r.split != lume_data::Split::Forget);
        let t = lume_data::Task::ALL
            .iter()
            .position(|&t| t == r.task)
            .unwrap_or(0);
        let k = usize::from(r.kind == lume_data::Kind::Question);
        (s * 3 + t) * 2 + k
    };
    let mut strata: Vec<Vec<ScoredRow>> = vec![Vec::new(); 12];
    for r in rows {
        strata[cell_of(r)].push(*r);
    }
    let point = Scores::of(rows, mia, mmlu);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut draws: Vec<Scores> = Vec::with_capacity(config.resamples);
    let mut resampled: Vec<ScoredRow> = Vec::with_capacity(rows.len());
    for _ in 0..config.resamples {
        resampled.clear();
        for stratum in &strata {
            for _ in 0..stratum.len() {
                resampled.push(stratum[rng.random_range(0..stratum.len())]);
            }
        }
        let mia_draw = mia.map(|(m, n)| (resample(m, &mut rng), resample(n, &mut rng)));
        let mia_ref = mia_draw.as_ref().map(|(m, n)| (m.as_slice(), n.as_slice()));
        draws.push(Scores::of(&resampled, mia_ref, mmlu));
    }
    let interval = |estimate: Option<f64>, get: &dyn Fn(&Scores) -> Option<f64>| {
        let estimate = estimate?;
        Some(Interval::of(
            estimate,
            draws.iter().filter_map(get).collect(),
        ))
    };
    let cells = std::array::from_fn(|s| {
        std::array::from_fn(|t| {
            std::array::from_fn(|k| interval(point.cells[s][t][k], &|d: &Scores| d.cells[s][t][k]))
        })
    });
    Bootstrap {
        resamples: config.resamples,
        seed: config.seed,
        cells,
        task_aggregate: interval(point.task_aggregate, &|d| d.task_aggregate),
        mia_auc: interval(point.mia_auc, &|d| d.mia_auc),
        mia_score: interval(point.mia_auc.map(mia_score), &|d| d.mia_auc.map(mia_score)),
        final_score: Interval::of(
            point.final_score,
            draws.iter().map(|d| d.final_score).collect(),
        ),
    }
}

fn resample(values: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..values.len())
        .map(|_| values[rng.random_range(0..values.len())])
        .collect()
}

/// The scores of one (re)sample.
struct Scores {
    cells: [[[Option<f64>; 2]; 3]; 2],
    task_aggregate: Option<f64>,
    mia_auc: Option<f64>,
    final_score: f64,
}

impl Scores {
    fn of(rows: &[ScoredRow], mia: Option<(&[f64], &[f64])>, mmlu: Option<f64>) -> Scores {
        let aggregate = TaskAggregate::from_rows(rows);
        let mia_auc = mia.and_then(|(m, n)| mia_auc(m, n).ok());
        let cells = std::array::from_fn(|s| {
            std::array::from_fn(|t| {
                let task = aggregate.per_task[s][t];
                [task.regurgitation, task.knowledge]
            })
        });
        let final_score = FinalScore::new(
            aggregate.harmonic_mean.unwrap_or(0.0),
            mia_auc.map(mia_score),
            mmlu,
        );
        Scores {
            cells,
            task_aggregate: aggregate.harmonic_mean,
            mia_auc,
            final_score: final_score.complete.unwrap_or(final_score.partial),
        }
    }
}
