//! Methods run under several seeds, ranked with their uncertainty: each method's final score is
//! the mean over its seeds, its interval resamples both the rows (the same indices for every
//! method and seed) and the seeds, and a method is tied with the best when the paired
//! difference is not significant after Holm's correction.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bootstrap::{BootstrapConfig, Resamples, Sample, Scores};
use crate::compare::{CompareError, holm, p_value, paired};

/// Family-wise level of the ties.
pub const TIE_LEVEL: f64 = 0.05;

/// (z₀.₉₇₅ + z₀.₈₀): a two-sided test at 5 % with 80 % power.
const DETECTION: f64 = 1.959_964 + 0.841_621;

/// A method's evaluations of the same rows, one per seed.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The method.
    pub name: String,
    /// One evaluation per seed.
    pub samples: Vec<Sample>,
}

/// Where a method stands among the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Standing {
    /// The method.
    pub name: String,
    /// Seeds evaluated.
    pub seeds: usize,
    /// Final score of each seed.
    pub per_seed: Vec<f64>,
    /// Mean final score over the seeds.
    pub mean: f64,
    /// Sample standard deviation of the final score over the seeds (0 with one seed).
    pub seed_sd: f64,
    /// 2.5th percentile of the mean, rows and seeds resampled.
    pub low: f64,
    /// 97.5th percentile of the mean, rows and seeds resampled.
    pub high: f64,
    /// The smallest difference of means from a method of the same spread that this many rows
    /// and seeds detect (5 % two-sided, 80 % power): `2.80 · √2 · (high − low) / 3.92`.
    pub min_detectable: f64,
    /// 1 for the best mean.
    pub rank: usize,
    /// Holm-adjusted p-value of the difference to the best (`None` for the best).
    pub p_vs_best: Option<f64>,
    /// Whether the difference to the best is not significant at [`TIE_LEVEL`] (the best too).
    pub tied_with_best: bool,
}

/// One method's standing (rank and ties still unset) and its resampled mean final scores.
fn standing(method: &Seeded, resamples: &Resamples, rng: &mut ChaCha8Rng) -> (Standing, Vec<f64>) {
    let per_seed: Vec<f64> = method
        .samples
        .iter()
        .map(|s| Scores::of_sample(s).final_score)
        .collect();
    let draws: Vec<Vec<f64>> = method
        .samples
        .iter()
        .map(|s| resamples.scores(s).iter().map(|d| d.final_score).collect())
        .collect();
    let n = draws.len();
    let resampled: Vec<f64> = (0..resamples.len())
        .map(|b| match n {
            0 => f64::NAN,
            1 => draws[0][b],
            _ => {
                (0..n)
                    .map(|_| draws[rng.random_range(0..n)][b])
                    .sum::<f64>()
                    / n as f64
            }
        })
        .collect();
    let mean = per_seed.iter().sum::<f64>() / n.max(1) as f64;
    let seed_sd = if n > 1 {
        (per_seed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    let interval = crate::Interval::of(mean, resampled.clone());
    let standing = Standing {
        name: method.name.clone(),
        seeds: n,
        per_seed,
        mean,
        seed_sd,
        low: interval.low,
        high: interval.high,
        min_detectable: DETECTION * std::f64::consts::SQRT_2 * (interval.high - interval.low)
            / (2.0 * 1.959_964),
        rank: 0,
        p_vs_best: None,
        tied_with_best: true,
    };
    (standing, resampled)
}

/// Ranks `methods` by mean final score over their seeds (see the module docs).
///
/// ```
/// use lume_data::{Kind, Split, Task};
/// use lume_metrics::{BootstrapConfig, Sample, ScoredRow, Seeded, rank};
/// let sample = |hit: usize| Sample {
///     rows: (0..60).map(|i| ScoredRow { split: Split::Retain, task: Task::Task1,
///         kind: Kind::Question, score: f64::from(u8::from(i % 10 < hit)) }).collect(),
///     ..Sample::default()
/// };
/// let methods = [
///     Seeded { name: "a".into(), samples: vec![sample(9), sample(8)] },
///     Seeded { name: "b".into(), samples: vec![sample(3), sample(2)] },
/// ];
/// let standings = rank(&methods, BootstrapConfig::default())?;
/// assert_eq!((standings[0].rank, standings[1].rank), (1, 2));
/// assert!(!standings[1].tied_with_best);
/// # Ok::<(), lume_metrics::CompareError>(())
/// ```
pub fn rank(methods: &[Seeded], config: BootstrapConfig) -> Result<Vec<Standing>, CompareError> {
    let Some(first) = methods.iter().find_map(|m| m.samples.first()) else {
        return Ok(Vec::new());
    };
    for sample in methods.iter().flat_map(|m| &m.samples) {
        paired(first, sample)?;
    }
    let resamples = Resamples::draw(first, config);
    // Row draws shared by all; the seeds of each method drawn on their own.
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_5eed);
    let (mut standings, means): (Vec<Standing>, Vec<Vec<f64>>) = methods
        .iter()
        .map(|method| standing(method, &resamples, &mut rng))
        .unzip();
    let mut order: Vec<usize> = (0..standings.len()).collect();
    order.sort_by(|&a, &b| standings[b].mean.total_cmp(&standings[a].mean));
    for (r, &i) in order.iter().enumerate() {
        standings[i].rank = r + 1;
    }
    let best = order[0];
    let others: Vec<usize> = order[1..].to_vec();
    let raw: Vec<f64> = others
        .iter()
        .map(|&m| {
            let d: Vec<f64> = means[best]
                .iter()
                .zip(&means[m])
                .map(|(x, y)| x - y)
                .collect();
            p_value(&d)
        })
        .collect();
    for (&m, p) in others.iter().zip(holm(&raw)) {
        standings[m].p_vs_best = Some(p);
        standings[m].tied_with_best = p >= TIE_LEVEL;
    }
    Ok(standings)
}
