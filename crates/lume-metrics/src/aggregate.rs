//! Per-task means, forget inversion, the 12-term harmonic mean and the final score.

use lume_data::{Kind, Split, Task};

/// Harmonic mean as Python's `statistics.harmonic_mean`: 0 when any term is 0.
/// `None` when a term is negative or NaN, or there is no term.
///
/// ```
/// use lume_metrics::harmonic_mean;
/// assert_eq!(harmonic_mean(&[1.0, 0.5]), Some(2.0 / 3.0));
/// assert_eq!(harmonic_mean(&[1.0, 0.0]), Some(0.0));
/// ```
pub fn harmonic_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan() || *v < 0.0) {
        return None;
    }
    if values.contains(&0.0) {
        return Some(0.0);
    }
    Some(values.len() as f64 / compensated_sum(values.iter().map(|v| 1.0 / v)))
}

pub use lume_data::{compensated_sum, mean};

/// One scored row: its split, task, kind and score (ROUGE-L recall or exact match).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoredRow {
    /// Forget or retain.
    pub split: Split,
    /// Sub-task.
    pub task: Task,
    /// Regurgitation (sc) or knowledge (qa).
    pub kind: Kind,
    /// The row's score in [0, 1].
    pub score: f64,
}

/// Mean regurgitation and knowledge score of one split and task (`None` without rows).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct TaskScores {
    /// Mean ROUGE-L recall over sc rows.
    #[serde(rename = "regurgitation-score")]
    pub regurgitation: Option<f64>,
    /// Mean exact match over qa rows.
    #[serde(rename = "knowledge-score")]
    pub knowledge: Option<f64>,
}

/// The 12 numbers of protocol §3.3 and their harmonic mean.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskAggregate {
    /// `[split][task]` means, forget first.
    pub per_task: [[TaskScores; 3]; 2],
    /// Mean regurgitation over all sc rows of each split.
    pub overall_regurgitation: [Option<f64>; 2],
    /// Mean knowledge over all qa rows of each split.
    pub overall_knowledge: [Option<f64>; 2],
    /// The terms in reference order: forget tasks 1–3 (1 − regurgitation, 1 − knowledge),
    /// then retain tasks 1–3 (regurgitation, knowledge). Tasks without rows are left out.
    pub terms: Vec<f64>,
    /// Harmonic mean of the terms (0 when any is 0).
    pub harmonic_mean: Option<f64>,
}

impl TaskAggregate {
    /// `[split][task][regurgitation, knowledge]`, forget first.
    pub fn cells(&self) -> [[[Option<f64>; 2]; 3]; 2] {
        self.per_task
            .map(|split| split.map(|task| [task.regurgitation, task.knowledge]))
    }

    /// `[split][regurgitation, knowledge]` over every task.
    pub fn overall(&self) -> [[Option<f64>; 2]; 2] {
        std::array::from_fn(|s| [self.overall_regurgitation[s], self.overall_knowledge[s]])
    }

    /// Aggregates scored rows.
    pub fn from_rows(rows: &[ScoredRow]) -> Self {
        let mean_of = |pred: &dyn Fn(&ScoredRow) -> bool| {
            let v: Vec<f64> = rows.iter().filter(|r| pred(r)).map(|r| r.score).collect();
            mean(&v)
        };
        let mut per_task = [[TaskScores::default(); 3]; 2];
        let mut overall_regurgitation = [None; 2];
        let mut overall_knowledge = [None; 2];
        let mut terms = Vec::new();
        for (s, split) in Split::ALL.into_iter().enumerate() {
            overall_regurgitation[s] =
                mean_of(&|r| r.split == split && r.kind == Kind::SentenceCompletion);
            overall_knowledge[s] = mean_of(&|r| r.split == split && r.kind == Kind::Question);
            for task in Task::ALL {
                let of_kind = |kind| {
                    mean_of(&|r: &ScoredRow| r.split == split && r.task == task && r.kind == kind)
                };
                let scores = TaskScores {
                    regurgitation: of_kind(Kind::SentenceCompletion),
                    knowledge: of_kind(Kind::Question),
                };
                per_task[s][task.index()] = scores;
                for v in [scores.regurgitation, scores.knowledge]
                    .into_iter()
                    .flatten()
                {
                    terms.push(if split == Split::Forget { 1.0 - v } else { v });
                }
            }
        }
        let harmonic_mean = harmonic_mean(&terms);
        TaskAggregate {
            per_task,
            overall_regurgitation,
            overall_knowledge,
            terms,
            harmonic_mean,
        }
    }
}

/// MMLU below this disqualifies a 7B result (75% of the target model's 0.495).
pub const MMLU_GATE: f64 = 0.371;

/// The final score of protocol §3.6, with what it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FinalScore {
    /// `mean(task aggregate, MIA score, MMLU)` when all three exist: the reference's number.
    pub complete: Option<f64>,
    /// The mean over the parts that exist, clearly not the reference's number when a part is missing.
    pub partial: f64,
    /// How many of the three parts went into `partial`.
    pub parts: usize,
    /// Whether MMLU is below [`MMLU_GATE`].
    pub below_mmlu_gate: bool,
}

impl FinalScore {
    /// Combines the three parts.
    pub fn new(task_aggregate: f64, mia_score: Option<f64>, mmlu: Option<f64>) -> Self {
        let parts: Vec<f64> = std::iter::once(task_aggregate)
            .chain(mia_score)
            .chain(mmlu)
            .collect();
        let partial = mean(&parts).unwrap_or(task_aggregate);
        FinalScore {
            complete: (parts.len() == 3).then_some(partial),
            partial,
            parts: parts.len(),
            below_mmlu_gate: mmlu.is_some_and(|m| m < MMLU_GATE),
        }
    }
}
