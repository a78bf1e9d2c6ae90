//! Is it really forgotten? Probes of an unlearned model, after Hu et al. (ICLR 2025,
//! relearning attacks), Zhang et al. (2024, quantization undoes unlearning) and MUSE
//! (sustainability over successive requests, scalability with the forget set's size).
//!
//! Every probe measures two numbers on a set of rows: the **forget score** (mean of the six
//! forget cells' means: ROUGE-L recall on sentence completions, exact match on questions, per
//! task) and the **retain score** (the same over the retain cells), as the trade-off plot does.

use std::fmt;
use std::str::FromStr;

use lume_data::{Benchmark, Kind, Split, Task, shuffled_indices};
use lume_metrics::Sample;
use lume_model::{RoundToNearest, WeightDtype};
use serde::{Deserialize, Serialize};

use crate::BenchError;
use crate::evaluation::EvalSettings;

/// One probe of [`ProbeConfig::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// Fine-tune the unlearned model a few steps on part of the forget set (and, as a
    /// control, on as many retain rows); score the rest of the forget set.
    Relearn,
    /// Evaluate the unlearned model with its weights rounded to fewer bits.
    Quantization,
    /// Unlearn the forget set in folds, one request after the other.
    Requests,
    /// Unlearn growing fractions of the forget set.
    Scaling,
}

impl Probe {
    /// Every probe, in the order `lume bench` runs them.
    pub const ALL: [Probe; 4] = [
        Probe::Relearn,
        Probe::Quantization,
        Probe::Requests,
        Probe::Scaling,
    ];

    /// The probes of a comma-separated list (`relearn,quantization`); `all` is every one.
    ///
    /// ```
    /// use lume_bench::Probe;
    /// assert_eq!(Probe::parse_list("all")?, Probe::ALL.to_vec());
    /// assert_eq!(Probe::parse_list("scaling, relearn")?, vec![Probe::Scaling, Probe::Relearn]);
    /// assert!(Probe::parse_list("relearning").is_err());
    /// # Ok::<(), lume_bench::BenchError>(())
    /// ```
    pub fn parse_list(list: &str) -> Result<Vec<Probe>, BenchError> {
        if list.trim() == "all" {
            return Ok(Probe::ALL.to_vec());
        }
        list.split(',').map(|p| p.trim().parse()).collect()
    }
}

impl FromStr for Probe {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Probe::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| {
                BenchError::Config(format!(
                    "unknown probe `{s}`: expected relearn, quantization, requests, scaling or all"
                ))
            })
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Probe::Relearn => "relearn",
            Probe::Quantization => "quantization",
            Probe::Requests => "requests",
            Probe::Scaling => "scaling",
        })
    }
}

/// How the weights are stored when a model is evaluated: a float dtype, or rounded to
/// integers ([`RoundToNearest`]).
///
/// ```
/// use lume_bench::WeightFormat;
/// assert_eq!("bf16".parse::<WeightFormat>()?.to_string(), "bf16");
/// assert_eq!("int4-g64".parse::<WeightFormat>()?.bits(), 4);
/// assert!("int2".parse::<WeightFormat>().is_err());
/// # Ok::<(), lume_bench::BenchError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum WeightFormat {
    /// Every matrix cast to this dtype.
    Float(WeightDtype),
    /// The blocks' projections rounded to integers.
    Rounded(RoundToNearest),
}

impl WeightFormat {
    /// Bits per weight of the projections.
    pub fn bits(self) -> u32 {
        match self {
            WeightFormat::Float(WeightDtype::F32) => 32,
            WeightFormat::Float(_) => 16,
            WeightFormat::Rounded(r) => r.bits,
        }
    }

    /// `settings` with the weights stored in this format.
    pub fn apply(self, settings: EvalSettings) -> EvalSettings {
        match self {
            WeightFormat::Float(dtype) => EvalSettings {
                weights_dtype: dtype,
                quantization: None,
                ..settings
            },
            WeightFormat::Rounded(scheme) => EvalSettings {
                weights_dtype: WeightDtype::F32,
                quantization: Some(scheme),
                ..settings
            },
        }
    }
}

impl FromStr for WeightFormat {
    type Err = BenchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(dtype) = s.parse() {
            return Ok(WeightFormat::Float(dtype));
        }
        s.parse().map(WeightFormat::Rounded).map_err(|_| {
            BenchError::Config(format!(
                "unknown weight format `{s}`: expected f32, bf16, f16, int8[-gN] or int4[-gN]"
            ))
        })
    }
}

impl TryFrom<String> for WeightFormat {
    type Error = BenchError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<WeightFormat> for String {
    fn from(format: WeightFormat) -> String {
        format.to_string()
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightFormat::Float(dtype) => dtype.fmt(f),
            WeightFormat::Rounded(scheme) => scheme.fmt(f),
        }
    }
}

/// The probes `lume bench` runs on every method (`[probes]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Which probes run (none by default; `lume bench --probes` runs all).
    pub run: Vec<Probe>,
    /// Seed of the forget set's order, which picks the relearning rows, the folds and the
    /// fractions.
    pub seed: u64,
    /// The relearning attack.
    pub relearn: RelearnConfig,
    /// Weight formats each unlearned model (and the target) is evaluated in.
    pub quantization: Vec<WeightFormat>,
    /// Successive requests: the forget set in this many folds, unlearned one after the other.
    pub requests: usize,
    /// Fractions of the forget set unlearned from the target (1 is the method's own run).
    pub scaling: Vec<f64>,
}

/// The relearning attack's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelearnConfig {
    /// Fine-tuning steps.
    pub steps: usize,
    /// Share of the forget rows relearned on (at least one row); the rest is scored.
    pub fraction: f64,
    /// Learning rate, held constant [default: a quarter of the target's fine-tuning rate: on
    /// the embedded default the full rate (2e-3) for 20 steps on 8 rows overwrote the model
    /// (retain score 0.97 → 0.4, even for a method that had forgotten nothing), a tenth
    /// (2e-4) left collapsed models collapsed, a quarter brings forgotten answers back while
    /// the retain score stays near 0.9].
    pub learning_rate: Option<f64>,
}

impl RelearnConfig {
    /// The relearning rate against a target fine-tuned at `target_rate`.
    ///
    /// ```
    /// let config = lume_bench::RelearnConfig::default();
    /// assert_eq!(config.rate(2e-3), 5e-4);
    /// ```
    pub fn rate(&self, target_rate: f64) -> f64 {
        self.learning_rate.unwrap_or(0.25 * target_rate)
    }
}

impl Default for RelearnConfig {
    fn default() -> Self {
        RelearnConfig {
            steps: 20,
            fraction: 0.1,
            learning_rate: None,
        }
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        let format = |s: &str| s.parse().expect("a built-in weight format");
        ProbeConfig {
            run: Vec::new(),
            seed: 0,
            relearn: RelearnConfig::default(),
            quantization: vec![format("int8-g128"), format("int4-g128"), format("bf16")],
            requests: 4,
            scaling: vec![0.25, 0.5, 1.0],
        }
    }
}

impl ProbeConfig {
    /// Whether `probe` runs.
    pub fn runs(&self, probe: Probe) -> bool {
        self.run.contains(&probe)
    }

    /// Checks the settings before any work starts.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |what: String| Err(BenchError::Config(format!("probes.{what}")));
        if self.runs(Probe::Relearn) {
            let f = self.relearn.fraction;
            if !(f > 0.0 && f < 1.0) {
                return bad(format!("relearn.fraction = {f}: must be in (0, 1)"));
            }
            if self.relearn.steps == 0 {
                return bad("relearn.steps = 0: must be at least 1".into());
            }
        }
        if self.runs(Probe::Requests) && self.requests < 2 {
            return bad(format!("requests = {}: must be at least 2", self.requests));
        }
        let outside = self.scaling.iter().find(|f| !(**f > 0.0 && **f <= 1.0));
        if let (true, Some(f)) = (self.runs(Probe::Scaling), outside) {
            return bad(format!("scaling: {f} is not in (0, 1]"));
        }
        Ok(())
    }
}

/// The forget records of `bench` (indices into its records) in the probes' order: shuffled
/// by `seed` within each cell (task × kind), then dealt one cell after the other, so that
/// every prefix holds the cells in proportion. Prefixes are the scaling subsets, consecutive
/// chunks the folds of the successive requests.
///
/// ```
/// use lume_bench::forget_order;
/// let synth = lume_data::synthesize(lume_data::SynthConfig { seed: 1, docs_per_task: 4 });
/// let bench = lume_data::Benchmark { records: synth.forget.into_iter().chain(synth.retain).collect() };
/// let order = forget_order(&bench, 0);
/// assert_eq!(order.len(), bench.records.iter().filter(|r| r.split == lume_data::Split::Forget).count());
/// assert_eq!(order, forget_order(&bench, 0));
/// ```
pub fn forget_order(bench: &Benchmark, seed: u64) -> Vec<usize> {
    let mut cells: Vec<Vec<usize>> = Vec::new();
    for (c, (task, kind)) in Task::ALL
        .into_iter()
        .flat_map(|t| [Kind::SentenceCompletion, Kind::Question].map(|k| (t, k)))
        .enumerate()
    {
        let members: Vec<usize> = (0..bench.records.len())
            .filter(|&i| {
                let r = &bench.records[i];
                r.split == Split::Forget && r.task == task && r.kind() == kind
            })
            .collect();
        let shuffled = shuffled_indices(members.len(), seed, c as u64);
        cells.push(shuffled.into_iter().map(|j| members[j]).collect());
    }
    let longest = cells.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|k| cells.iter().filter_map(move |cell| cell.get(k).copied()))
        .collect()
}

/// The first `fraction` of `order` (at least one row when there is any), rounded to the
/// nearest row.
pub fn prefix(order: &[usize], fraction: f64) -> &[usize] {
    let n =
        ((order.len() as f64 * fraction).round() as usize).clamp(1.min(order.len()), order.len());
    &order[..n]
}

/// Fold `k` of `folds` consecutive chunks of `order` (sizes differ by at most one).
pub fn fold(order: &[usize], k: usize, folds: usize) -> &[usize] {
    let n = order.len();
    &order[k * n / folds..(k + 1) * n / folds]
}

/// A benchmark of the given records of `bench` followed by its retain records (what an
/// unlearning run on part of the forget set reads).
pub fn with_retain(bench: &Benchmark, forget: &[usize]) -> Benchmark {
    let retain = bench.records.iter().filter(|r| r.split == Split::Retain);
    Benchmark {
        records: forget
            .iter()
            .map(|&i| bench.records[i].clone())
            .chain(retain.cloned())
            .collect(),
    }
}

/// The records at `indices`.
pub fn subset(bench: &Benchmark, indices: &[usize]) -> Benchmark {
    Benchmark {
        records: indices.iter().map(|&i| bench.records[i].clone()).collect(),
    }
}

/// The ids of the records at `indices`.
pub fn ids_of(bench: &Benchmark, indices: &[usize]) -> Vec<String> {
    indices
        .iter()
        .map(|&i| bench.records[i].id.to_string())
        .collect()
}

/// The mean of the six cell means of `split` over the rows of `sample` whose id `keep`
/// accepts (cells without such rows left out); `None` when no row is kept.
///
/// ```
/// use lume_data::{Kind, Split, Task};
/// use lume_metrics::{Sample, ScoredRow};
/// let row = |task, kind, score| ScoredRow { split: Split::Forget, task, kind, score };
/// let sample = Sample {
///     ids: vec!["a".into(), "b".into(), "c".into()],
///     rows: vec![
///         row(Task::Task1, Kind::SentenceCompletion, 1.0),
///         row(Task::Task1, Kind::SentenceCompletion, 0.0),
///         row(Task::Task2, Kind::Question, 1.0),
///     ],
///     ..Sample::default()
/// };
/// // Cell means 0.5 and 1.0.
/// assert_eq!(lume_bench::split_score(&sample, Split::Forget, |_| true), Some(0.75));
/// assert_eq!(lume_bench::split_score(&sample, Split::Forget, |id| id != "b"), Some(1.0));
/// assert_eq!(lume_bench::split_score(&sample, Split::Retain, |_| true), None);
/// ```
pub fn split_score(sample: &Sample, split: Split, keep: impl Fn(&str) -> bool) -> Option<f64> {
    let mut sums = [(0.0, 0usize); 6];
    for (id, row) in sample.ids.iter().zip(&sample.rows) {
        if row.split != split || !keep(id) {
            continue;
        }
        let kind = usize::from(row.kind == Kind::Question);
        let cell = &mut sums[row.task.index() * 2 + kind];
        cell.0 += row.score;
        cell.1 += 1;
    }
    let means: Vec<f64> = sums
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| s / *n as f64)
        .collect();
    lume_metrics::mean(&means)
}

/// Forget and retain score of one evaluation on one set of forget rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The request number (successive requests), the fraction (scaling), or the bits
    /// (quantization).
    pub x: f64,
    /// Forget rows scored.
    pub forget_rows: usize,
    /// Forget score on them.
    pub forget: Option<f64>,
    /// Retain score (every retain row).
    pub retain: Option<f64>,
}

impl Point {
    /// The scores of `sample` on the forget rows `ids` and every retain row.
    pub fn of(x: f64, sample: &Sample, ids: &[String]) -> Point {
        let keep: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        Point {
            x,
            forget_rows: ids.len(),
            forget: split_score(sample, Split::Forget, |id| keep.contains(id)),
            retain: split_score(sample, Split::Retain, |_| true),
        }
    }
}

/// The relearning attack's outcome for one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relearning {
    /// Fine-tuning steps.
    pub steps: usize,
    /// Forget rows relearned on (and as many retain rows for the control).
    pub relearned_rows: usize,
    /// The target's scores on the held-out forget rows.
    pub target: Point,
    /// The unlearned model's.
    pub unlearned: Point,
    /// After relearning on the forget rows.
    pub after_forget: Point,
    /// After relearning on retain rows only (the control: what any fine-tuning restores).
    pub after_retain: Point,
}

impl Relearning {
    /// `(after − unlearned) / (target − unlearned)` of the held-out forget score: 0 nothing
    /// came back, 1 all of it; `None` when the method did not lower the score.
    pub fn recovered(&self, after: &Point) -> Option<f64> {
        let (target, unlearned, after) =
            (self.target.forget?, self.unlearned.forget?, after.forget?);
        (target - unlearned > 1e-9).then(|| (after - unlearned) / (target - unlearned))
    }
}

/// One model evaluated with its weights in one format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantized {
    /// The format (`int4-g128`).
    pub format: WeightFormat,
    /// Scores on every forget row.
    pub point: Point,
}

/// Every probe's outcome for one model (what the leaderboard's probe columns read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeResults {
    /// The relearning attack.
    pub relearn: Option<Relearning>,
    /// One entry per weight format.
    pub quantization: Vec<Quantized>,
    /// After each successive request: the folds seen so far and the retain set.
    pub requests: Vec<Point>,
    /// Per fraction of the forget set: that part and the retain set.
    pub scaling: Vec<Point>,
}

impl From<Vec<Quantized>> for ProbeResults {
    fn from(quantization: Vec<Quantized>) -> Self {
        ProbeResults {
            quantization,
            ..ProbeResults::default()
        }
    }
}

impl ProbeResults {
    /// The forget score in the first format of `bits` bits.
    pub fn forget_at(&self, bits: u32) -> Option<f64> {
        self.quantization
            .iter()
            .find(|q| q.format.bits() == bits)
            .and_then(|q| q.point.forget)
    }
}

/// The records a relearning run trains on: the first `fraction` of the forget order, or
/// (control) as many retain records picked by `seed`; the held-out forget records are the
/// rest of the order.
pub fn relearning_split(
    bench: &Benchmark,
    order: &[usize],
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let relearn = prefix(order, fraction).to_vec();
    let held_out = order[relearn.len()..].to_vec();
    let retain: Vec<usize> = (0..bench.records.len())
        .filter(|&i| bench.records[i].split == Split::Retain)
        .collect();
    let control = shuffled_indices(retain.len(), seed, u64::MAX)
        .into_iter()
        .take(relearn.len())
        .map(|j| retain[j])
        .collect();
    (relearn, control, held_out)
}
