//! Row-level uncertainty: a percentile bootstrap over the benchmark's rows, stratified so that
//! every resample keeps the 12 cells (split × task × kind) at their sizes, with the MIA
//! documents resampled within members and within non-members.
//!
//! Each resample recomputes the protocol's own numbers ([`TaskAggregate::from_rows`],
//! [`mia_auc`], [`FinalScore::new`]) on the resampled per-row scores: the interval is that of
//! exactly the reported score. MMLU's questions are resampled too when their outcomes are known
//! (lume's own MMLU runs record them); a bare accuracy (the reference's `mmlu_metrics.json`) is
//! held fixed and gets no interval. Seeded: the same seed gives the same intervals on every
//! machine.
//!
//! The resample indices are a value of their own ([`Resamples`]): two evaluations of the same
//! rows resampled with the same indices give a paired comparison ([`compare`](crate::compare)),
//! and the indices can be written out for an independent implementation to use.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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

/// Everything a bootstrap resamples: one evaluation's per-row scores, its MIA losses, and its
/// MMLU questions' outcomes (or its accuracy alone, held fixed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Row ids, parallel to `rows` (empty when unknown); a paired comparison checks them.
    pub ids: Vec<String>,
    /// Per-row scores.
    pub rows: Vec<ScoredRow>,
    /// Member and non-member MIA losses.
    pub mia: Option<(Vec<f64>, Vec<f64>)>,
    /// MMLU accuracy.
    pub mmlu: Option<f64>,
    /// Each MMLU question's outcome (`true`: right), whose mean is `mmlu`; empty when only the
    /// accuracy is known.
    #[serde(default)]
    pub mmlu_questions: Vec<bool>,
}

impl Sample {
    fn mia(&self) -> Option<(&[f64], &[f64])> {
        self.mia.as_ref().map(|(m, n)| (m.as_slice(), n.as_slice()))
    }

    fn mia_sizes(&self) -> Option<(usize, usize)> {
        self.mia.as_ref().map(|(m, n)| (m.len(), n.len()))
    }

    /// The MMLU accuracy of the questions `drawn` (all of them when `None`), when the
    /// questions are known.
    fn mmlu_of(&self, drawn: Option<&[u32]>) -> Option<f64> {
        if self.mmlu_questions.is_empty() {
            return None;
        }
        let right = match drawn {
            Some(d) => d
                .iter()
                .filter(|&&i| self.mmlu_questions[i as usize])
                .count(),
            None => self.mmlu_questions.iter().filter(|&&r| r).count(),
        };
        let n = drawn.map_or(self.mmlu_questions.len(), <[u32]>::len);
        Some(right as f64 / n as f64)
    }
}

/// The indices of B stratified resamples: `rows[b]` lists, stratum after stratum (the 12
/// cells in [`cell`] order), the row indices drawn with replacement within each cell;
/// `members[b]` and `nonmembers[b]` the MIA documents drawn within each group (empty without
/// MIA), `questions[b]` the MMLU questions (empty without their outcomes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resamples {
    /// Seed they were drawn with.
    pub seed: u64,
    /// Row indices of each resample.
    pub rows: Vec<Vec<u32>>,
    /// Member indices of each resample.
    pub members: Vec<Vec<u32>>,
    /// Non-member indices of each resample.
    pub nonmembers: Vec<Vec<u32>>,
    /// MMLU question indices of each resample (drawn from a stream of their own, so the rows'
    /// and documents' draws are those of a sample without them).
    #[serde(default)]
    pub questions: Vec<Vec<u32>>,
}

/// The random stream of the MMLU questions' draws.
const QUESTION_STREAM: u64 = 1;

/// The cell of a row, `(split · 3 + task) · 2 + kind`, forget and sentence completion first.
pub fn cell(row: &ScoredRow) -> usize {
    let s = usize::from(row.split != lume_data::Split::Forget);
    let t = row.task.index();
    let k = usize::from(row.kind == lume_data::Kind::Question);
    (s * 3 + t) * 2 + k
}

impl Resamples {
    /// Draws `config.resamples` stratified resamples of `sample`'s rows and MIA documents.
    pub fn draw(sample: &Sample, config: BootstrapConfig) -> Resamples {
        let mut strata: Vec<Vec<u32>> = vec![Vec::new(); 12];
        for (i, r) in sample.rows.iter().enumerate() {
            strata[cell(r)].push(i as u32);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let pick = |n: usize, rng: &mut ChaCha8Rng| rng.random_range(0..n) as u32;
        let (mut rows, mut members, mut nonmembers) = (Vec::new(), Vec::new(), Vec::new());
        let mut question_rng = ChaCha8Rng::seed_from_u64(config.seed);
        question_rng.set_stream(QUESTION_STREAM);
        let q = sample.mmlu_questions.len();
        let questions = (0..config.resamples)
            .map(|_| (0..q).map(|_| pick(q, &mut question_rng)).collect())
            .collect();
        for _ in 0..config.resamples {
            let mut drawn = Vec::with_capacity(sample.rows.len());
            for stratum in &strata {
                for _ in 0..stratum.len() {
                    drawn.push(stratum[pick(stratum.len(), &mut rng) as usize]);
                }
            }
            rows.push(drawn);
            let (m, n) = sample.mia_sizes().unwrap_or((0, 0));
            members.push((0..m).map(|_| pick(m, &mut rng)).collect());
            nonmembers.push((0..n).map(|_| pick(n, &mut rng)).collect());
        }
        Resamples {
            seed: config.seed,
            rows,
            members,
            nonmembers,
            questions,
        }
    }

    /// Number of resamples B.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no resample.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The scores of every resample of `sample`.
    ///
    /// # Panics
    /// When an index is out of `sample`'s range: the resamples were drawn for other rows.
    pub fn scores(&self, sample: &Sample) -> Vec<Scores> {
        let mut rows = Vec::with_capacity(sample.rows.len());
        (0..self.len())
            .map(|b| {
                rows.clear();
                rows.extend(self.rows[b].iter().map(|&i| sample.rows[i as usize]));
                let mia = sample.mia().map(|(m, n)| {
                    let take = |v: &[f64], idx: &[u32]| -> Vec<f64> {
                        idx.iter().map(|&i| v[i as usize]).collect()
                    };
                    (take(m, &self.members[b]), take(n, &self.nonmembers[b]))
                });
                let mia = mia.as_ref().map(|(m, n)| (m.as_slice(), n.as_slice()));
                let drawn = sample.mmlu_of(self.questions.get(b).map(Vec::as_slice));
                let mut scores = Scores::of(&rows, mia, drawn.or(sample.mmlu));
                scores.mmlu = drawn;
                scores
            })
            .collect()
    }

    /// The mean of per-row `values` (parallel to the sample's rows; `None` where a row has
    /// none) in each resample, `None` where a resample drew no value: the draws of a metric
    /// outside the protocol's scores, on the same rows as theirs.
    pub fn means(&self, values: &[Option<f64>]) -> Vec<Option<f64>> {
        self.rows
            .iter()
            .map(|drawn| {
                let v: Vec<f64> = drawn
                    .iter()
                    .filter_map(|&i| values.get(i as usize).copied().flatten())
                    .collect();
                crate::mean(&v)
            })
            .collect()
    }

    /// The membership AUC of per-document statistics (parallel to the sample's members and
    /// non-members; `None` where a document has none) in each resample, on the same documents
    /// as the loss AUC's draws.
    pub fn aucs(&self, members: &[Option<f64>], nonmembers: &[Option<f64>]) -> Vec<Option<f64>> {
        let take = |values: &[Option<f64>], drawn: &[u32]| -> Vec<f64> {
            drawn
                .iter()
                .filter_map(|&i| values.get(i as usize).copied().flatten())
                .collect()
        };
        self.members
            .iter()
            .zip(&self.nonmembers)
            .map(|(m, n)| mia_auc(&take(members, m), &take(nonmembers, n)).ok())
            .collect()
    }

    /// Whether these resamples fit `sample` (same rows per cell, same MIA group sizes).
    pub fn fit(&self, sample: &Sample) -> bool {
        let mut sizes = [0usize; 12];
        sample.rows.iter().for_each(|r| sizes[cell(r)] += 1);
        let (m, n) = sample.mia_sizes().unwrap_or((0, 0));
        let rows_fit = |drawn: &Vec<u32>| {
            drawn.len() == sample.rows.len() && {
                let mut at = 0;
                sizes.iter().enumerate().all(|(c, &len)| {
                    let ok = drawn[at..at + len]
                        .iter()
                        .all(|&i| sample.rows.get(i as usize).is_some_and(|r| cell(r) == c));
                    at += len;
                    ok
                })
            }
        };
        let group_fit = |drawn: &[Vec<u32>], len: usize| {
            drawn
                .iter()
                .all(|d| d.len() == len && d.iter().all(|&i| (i as usize) < len))
        };
        self.rows.iter().all(rows_fit)
            && self.members.len() == self.len()
            && self.nonmembers.len() == self.len()
            && group_fit(&self.members, m)
            && group_fit(&self.nonmembers, n)
            && (sample.mmlu_questions.is_empty()
                || (self.questions.len() == self.len()
                    && group_fit(&self.questions, sample.mmlu_questions.len())))
    }
}

/// A point estimate with its 95 % percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The score on the rows as they are.
    pub estimate: f64,
    /// 2.5th percentile of the resampled scores.
    pub low: f64,
    /// 97.5th percentile of the resampled scores.
    pub high: f64,
}

impl Interval {
    /// The interval of the draws that have a value, around `estimate`; `None` when none has.
    pub fn of_some(estimate: f64, draws: &[Option<f64>]) -> Option<Interval> {
        let draws: Vec<f64> = draws.iter().copied().flatten().collect();
        (!draws.is_empty()).then(|| Interval::of(estimate, draws))
    }

    /// The interval of `draws` around `estimate`.
    pub fn of(estimate: f64, mut draws: Vec<f64>) -> Interval {
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

/// Every score the bootstrap reports, in one shape for intervals ([`Bootstrap`]) and paired
/// differences ([`Comparison`](crate::Comparison)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored<T> {
    /// `[split][task][regurgitation, knowledge]`, forget first; `None` for an empty cell.
    pub cells: [[[Option<T>; 2]; 3]; 2],
    /// `[split][regurgitation, knowledge]` over every task.
    pub overall: [[Option<T>; 2]; 2],
    /// `[split]`: the mean of its six task scores (the trade-off plot's axes).
    pub split_means: [Option<T>; 2],
    /// The harmonic task aggregate.
    pub task_aggregate: Option<T>,
    /// MIA AUC.
    pub mia_auc: Option<T>,
    /// MIA score `1 − 2|AUC − 0.5|`.
    pub mia_score: Option<T>,
    /// MMLU accuracy, when its questions' outcomes are known (otherwise it has no interval).
    #[serde(default = "none")]
    pub mmlu: Option<T>,
    /// The final score (the mean over the parts that exist; MMLU held fixed when its questions
    /// are not known).
    pub final_score: T,
}

/// Files written before a field existed read it as absent.
fn none<T>() -> Option<T> {
    None
}

/// The scores of one (re)sample.
pub type Scores = Scored<f64>;

impl Scores {
    /// The protocol's scores of `rows`, `mia` losses and `mmlu`.
    pub fn of(rows: &[ScoredRow], mia: Option<(&[f64], &[f64])>, mmlu: Option<f64>) -> Scores {
        let aggregate = TaskAggregate::from_rows(rows);
        let mia_auc = mia.and_then(|(m, n)| mia_auc(m, n).ok());
        let (cells, overall) = (aggregate.cells(), aggregate.overall());
        let final_score = FinalScore::new(
            aggregate.harmonic_mean.unwrap_or(0.0),
            mia_auc.map(mia_score),
            mmlu,
        );
        let split_means = std::array::from_fn(|s: usize| {
            let v: Vec<f64> = cells[s].iter().flatten().flatten().copied().collect();
            crate::mean(&v)
        });
        Scores {
            cells,
            overall,
            split_means,
            task_aggregate: aggregate.harmonic_mean,
            mia_auc,
            mia_score: mia_auc.map(mia_score),
            mmlu: None,
            final_score: final_score.complete.unwrap_or(final_score.partial),
        }
    }

    /// The scores of `sample` as it is.
    pub fn of_sample(sample: &Sample) -> Scores {
        let mut scores = Scores::of(&sample.rows, sample.mia(), sample.mmlu);
        scores.mmlu = sample.mmlu_of(None);
        scores
    }

    /// Builds a `Scored<T>` from this point and the matching score of every draw, `None`
    /// where the point has none.
    pub(crate) fn map<T>(&self, draws: &[Scores], f: &dyn Fn(f64, Vec<f64>) -> T) -> Scored<T> {
        let field = |point: Option<f64>, get: &dyn Fn(&Scores) -> Option<f64>| {
            point.map(|p| f(p, draws.iter().filter_map(get).collect()))
        };
        Scored {
            cells: std::array::from_fn(|s| {
                std::array::from_fn(|t| {
                    std::array::from_fn(|k| field(self.cells[s][t][k], &|d| d.cells[s][t][k]))
                })
            }),
            overall: std::array::from_fn(|s| {
                std::array::from_fn(|k| field(self.overall[s][k], &|d| d.overall[s][k]))
            }),
            split_means: std::array::from_fn(|s| field(self.split_means[s], &|d| d.split_means[s])),
            task_aggregate: field(self.task_aggregate, &|d| d.task_aggregate),
            mia_auc: field(self.mia_auc, &|d| d.mia_auc),
            mia_score: field(self.mia_score, &|d| d.mia_score),
            mmlu: field(self.mmlu, &|d| d.mmlu),
            final_score: f(
                self.final_score,
                draws.iter().map(|d| d.final_score).collect(),
            ),
        }
    }
}

/// The intervals of a run's scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bootstrap {
    /// Resamples drawn.
    pub resamples: usize,
    /// Seed used.
    pub seed: u64,
    /// The intervals.
    #[serde(flatten)]
    pub intervals: Scored<Interval>,
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
/// let kn = b.intervals.cells[1][0][1].unwrap();
/// assert_eq!(kn.estimate, 0.75);
/// assert!(kn.low < 0.75 && 0.75 < kn.high);
/// ```
pub fn bootstrap(
    rows: &[ScoredRow],
    mia: Option<(&[f64], &[f64])>,
    mmlu: Option<f64>,
    config: BootstrapConfig,
) -> Bootstrap {
    let sample = Sample {
        ids: Vec::new(),
        rows: rows.to_vec(),
        mia: mia.map(|(m, n)| (m.to_vec(), n.to_vec())),
        mmlu,
        mmlu_questions: Vec::new(),
    };
    bootstrap_with(&sample, &Resamples::draw(&sample, config))
}

/// The intervals of `sample`'s scores over the given resamples.
///
/// # Panics
/// When `resamples` were drawn for other rows (see [`Resamples::fit`]).
pub fn bootstrap_with(sample: &Sample, resamples: &Resamples) -> Bootstrap {
    let draws = resamples.scores(sample);
    Bootstrap {
        resamples: resamples.len(),
        seed: resamples.seed,
        intervals: Scores::of_sample(sample).map(&draws, &Interval::of),
    }
}
