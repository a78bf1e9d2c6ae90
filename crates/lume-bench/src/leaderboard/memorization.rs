//! The field's memorization metrics of one evaluation (open-unlearning's probability, exact
//! memorization, extraction strength, and the Min-K%, Min-K%++ and ZLib membership AUCs), and
//! their intervals: the per-row and per-document values are kept beside the protocol's
//! [`Sample`], so the row bootstrap redraws them with the very indices it redraws the
//! protocol's scores with.

use std::collections::HashMap;

use lume_data::{MiaDocument, MiaSet, Split};
use lume_metrics::{
    Attack, DEFAULT_MIN_K, InferenceOutputs, Interval, Resamples, Sample, TokenStats,
    exact_memorization, extraction_strength, mean, membership_auc, privleak, probability,
};
use serde::{Deserialize, Serialize};

/// The per-row metrics, in [`Memorization`] order.
const ROW_METRICS: [fn(&TokenStats) -> Option<f64>; 3] =
    [probability, exact_memorization, extraction_strength];

/// The membership attacks, in [`Memorization`] order.
const ATTACKS: [Attack; 3] = [
    Attack::MinK { k: DEFAULT_MIN_K },
    Attack::MinKPlusPlus { k: DEFAULT_MIN_K },
    Attack::Zlib,
];

/// Each metric's leaderboard key (its field's name) and header, in [`Memorization`] order.
pub(crate) const MEMORIZATION_COLUMNS: [(&str, &str); 6] = [
    ("probability", "probability"),
    ("exact_memorization", "exact mem."),
    ("extraction_strength", "extraction"),
    ("min_k_auc", "Min-K% AUC"),
    ("min_k_plus_plus_auc", "Min-K%++ AUC"),
    ("zlib_auc", "ZLib AUC"),
];

/// The memorization metrics of one model (each `None` where it could not be computed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memorization<T> {
    /// Mean `exp(−NLL)` of forget answers.
    pub probability: Option<T>,
    /// Mean exact memorization of forget answers.
    pub exact_memorization: Option<T>,
    /// Mean extraction strength of forget answers.
    pub extraction_strength: Option<T>,
    /// Min-K% (k = 0.4) membership AUC.
    pub min_k_auc: Option<T>,
    /// Min-K%++ membership AUC.
    pub min_k_plus_plus_auc: Option<T>,
    /// ZLib membership AUC.
    pub zlib_auc: Option<T>,
}

impl<T> Default for Memorization<T> {
    fn default() -> Self {
        Memorization {
            probability: None,
            exact_memorization: None,
            extraction_strength: None,
            min_k_auc: None,
            min_k_plus_plus_auc: None,
            zlib_auc: None,
        }
    }
}

impl<T: Copy> Memorization<T> {
    fn from_parts(rows: [Option<T>; 3], aucs: [Option<T>; 3]) -> Self {
        Memorization {
            probability: rows[0],
            exact_memorization: rows[1],
            extraction_strength: rows[2],
            min_k_auc: aucs[0],
            min_k_plus_plus_auc: aucs[1],
            zlib_auc: aucs[2],
        }
    }

    /// The six metrics in field order.
    pub fn parts(&self) -> [Option<T>; 6] {
        [
            self.probability,
            self.exact_memorization,
            self.extraction_strength,
            self.min_k_auc,
            self.min_k_plus_plus_auc,
            self.zlib_auc,
        ]
    }
}

/// The 95 % intervals of the memorization metrics, and of PrivLeak against the gold model
/// (the two models' Min-K% AUCs drawn on the same documents).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemorizationIntervals {
    /// The metrics' intervals.
    #[serde(flatten)]
    pub metrics: Memorization<Interval>,
    /// PrivLeak's interval.
    pub privleak: Option<Interval>,
}

/// What the memorization metrics are computed from, aligned with the protocol's sample:
/// `rows[i]` holds the three per-row metrics of the sample's row `i` (`None` on retain rows),
/// `members[j]` and `nonmembers[j]` the three attack statistics of the sample's MIA
/// document `j`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemorizationSample {
    /// Per scored row.
    pub rows: Vec<[Option<f64>; 3]>,
    /// Per member document.
    pub members: Vec<[Option<f64>; 3]>,
    /// Per non-member document.
    pub nonmembers: Vec<[Option<f64>; 3]>,
}

impl MemorizationSample {
    /// The metrics of `outputs` (with the MIA documents `mia`) and their values aligned with
    /// `sample` (rows matched by id; documents in order, as the reference layout keeps them).
    pub fn new(
        outputs: &InferenceOutputs,
        mia: Option<&MiaSet>,
        sample: &Sample,
    ) -> (Memorization<f64>, Self) {
        let forget: HashMap<&str, &TokenStats> = outputs
            .forget
            .iter()
            .map(|r| r.id.as_str())
            .zip(&outputs.forget_stats)
            .collect();
        let rows = sample
            .ids
            .iter()
            .zip(&sample.rows)
            .map(|(id, row)| {
                let stats = (row.split == Split::Forget)
                    .then(|| forget.get(id.as_str()).copied())
                    .flatten();
                ROW_METRICS.map(|metric| stats.and_then(metric))
            })
            .collect();
        let statistics = |stats: &[TokenStats], docs: &[MiaDocument]| -> Vec<[Option<f64>; 3]> {
            stats
                .iter()
                .zip(docs)
                .map(|(s, doc)| ATTACKS.map(|attack| attack.statistic(s, &doc.document)))
                .collect()
        };
        let (members, nonmembers) = match mia {
            Some(mia) => (
                statistics(&outputs.member_stats, &mia.members),
                statistics(&outputs.nonmember_stats, &mia.nonmembers),
            ),
            None => (Vec::new(), Vec::new()),
        };
        let point_rows = ROW_METRICS.map(|metric| {
            let v: Vec<f64> = outputs.forget_stats.iter().filter_map(metric).collect();
            mean(&v)
        });
        let point_aucs = std::array::from_fn(|a| {
            let column = |docs: &[[Option<f64>; 3]]| -> Vec<f64> {
                docs.iter().filter_map(|d| d[a]).collect()
            };
            mia?;
            membership_auc(&column(&members), &column(&nonmembers)).ok()
        });
        let sample = MemorizationSample {
            rows,
            members,
            nonmembers,
        };
        (Memorization::from_parts(point_rows, point_aucs), sample)
    }

    /// Whether these values are aligned with `sample`.
    fn fits(&self, sample: &Sample) -> bool {
        let (m, n) = sample
            .mia
            .as_ref()
            .map_or((0, 0), |(m, n)| (m.len(), n.len()));
        self.rows.len() == sample.rows.len()
            && (self.members.is_empty() || (self.members.len(), self.nonmembers.len()) == (m, n))
    }

    /// Metric `part`'s value (in [`Memorization`] order) in every resample.
    fn draws(&self, part: usize, resamples: &Resamples) -> Vec<Option<f64>> {
        let column = |values: &[[Option<f64>; 3]], i: usize| -> Vec<Option<f64>> {
            values.iter().map(|v| v[i]).collect()
        };
        match part {
            0..3 => resamples.means(&column(&self.rows, part)),
            _ if self.members.is_empty() => vec![None; resamples.len()],
            _ => resamples.aucs(
                &column(&self.members, part - 3),
                &column(&self.nonmembers, part - 3),
            ),
        }
    }
}

/// The intervals of `point` (the metrics of the model whose values are `values`, aligned with
/// `sample`) over `resamples`, with PrivLeak's when the gold model's values are given and fit
/// the same resamples. `None` when the values are not aligned with `sample` (a summary cached
/// before they were kept).
pub fn memorization_intervals(
    point: &Memorization<f64>,
    values: &MemorizationSample,
    sample: &Sample,
    resamples: &Resamples,
    gold: Option<(&Memorization<f64>, &MemorizationSample, &Sample)>,
) -> Option<MemorizationIntervals> {
    if !values.fits(sample) {
        return None;
    }
    const MIN_K: usize = 3;
    let parts = point.parts();
    let draws: [Vec<Option<f64>>; 6] = std::array::from_fn(|i| match parts[i] {
        Some(_) => values.draws(i, resamples),
        None => Vec::new(),
    });
    let interval = |i: usize| parts[i].and_then(|p| Interval::of_some(p, &draws[i]));
    let metrics = Memorization::from_parts(
        [interval(0), interval(1), interval(2)],
        [interval(3), interval(4), interval(5)],
    );
    let privleak = gold.and_then(|(gold_point, gold_values, gold_sample)| {
        let (a, g) = (point.min_k_auc?, gold_point.min_k_auc?);
        if !gold_values.fits(gold_sample) || !resamples.fit(gold_sample) {
            return None;
        }
        let gold_draws = gold_values.draws(MIN_K, resamples);
        let leaks: Vec<Option<f64>> = draws[MIN_K]
            .iter()
            .zip(&gold_draws)
            .map(|(a, g)| Some(privleak((*a)?, (*g)?)))
            .collect();
        Interval::of_some(privleak(a, g), &leaks)
    });
    Some(MemorizationIntervals { metrics, privleak })
}
