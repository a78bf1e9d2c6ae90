//! [`EvalSummary`]: what one model's evaluation gives the leaderboard, cached on disk, and the
//! stored outputs its [metrics](crate::Metric) read.

use std::collections::HashMap;
use std::path::Path;

use lume_data::{Kind, MiaDocument, MiaSet, Split, Task, TokenStats};
use lume_metrics::{InferenceRow, Sample, ScoreReport};
use serde::{Deserialize, Serialize};

use crate::evaluation::Evaluation;
use crate::leaderboard::ModelRole;

/// The layout of [`EvalSummary`] on disk: a cached summary of another layout is redone, not
/// misread. Raise it whenever a field changes meaning.
pub(crate) const SUMMARY_VERSION: u32 = 2;

/// What one model's evaluation gives the leaderboard (cached in `bench_eval.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalSummary {
    /// `target`, `gold` or the method's name.
    pub model: String,
    /// `[split][task][regurgitation, knowledge]`, forget first.
    pub scores: [[[Option<f64>; 2]; 3]; 2],
    /// `[split][regurgitation, knowledge]` over all tasks.
    pub overall: [[Option<f64>; 2]; 2],
    /// Harmonic mean of the 12 terms (forget ones as 1 − v).
    pub task_aggregate: f64,
    /// MIA AUC on losses.
    pub mia_auc: Option<f64>,
    /// `1 − 2|AUC − 0.5|`.
    pub mia_score: Option<f64>,
    /// MMLU (or quiz) accuracy.
    pub utility: Option<f64>,
    /// Mean of task aggregate, MIA score and utility (over the parts that exist).
    pub final_score: f64,
    /// Training time, from the run's `train_history.json` (0 for a given checkpoint).
    pub train_seconds: f64,
    /// Evaluation time.
    pub eval_seconds: f64,
    /// `(step, total loss)` of the training run (not in `leaderboard.json`).
    #[serde(default)]
    pub loss_curve: Vec<(usize, f64)>,
    /// Per-row scores and MIA losses, what the intervals resample (not in `leaderboard.json`).
    #[serde(default)]
    pub sample: Sample,
    /// Generations and token statistics of every scored row and MIA document, what the
    /// metrics read (not in `leaderboard.json`).
    #[serde(default)]
    pub outputs: StoredOutputs,
}

/// What inference left of one model's evaluation for the metrics: `rows[i]` is the sample's
/// row `i` (when the evaluation's rows are known), `members[j]` and `nonmembers[j]` its MIA
/// documents in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredOutputs {
    /// Per scored row.
    pub rows: Vec<StoredRow>,
    /// Per member document.
    pub members: Vec<StoredDocument>,
    /// Per non-member document.
    pub nonmembers: Vec<StoredDocument>,
}

/// One scored row as inference left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRow {
    /// Record id.
    pub id: String,
    /// Forget or retain.
    pub split: Split,
    /// Sub-task.
    pub task: Task,
    /// Regurgitation (sentence completion) or knowledge (question).
    pub kind: Kind,
    /// The expected answer.
    pub expected: String,
    /// The model's generation.
    pub generation: String,
    /// The answer's mean NLL under teacher forcing.
    pub nll: Option<f64>,
    /// The answer's token statistics.
    pub stats: Option<TokenStats>,
}

/// One MIA document as inference left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Document id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Its token statistics.
    pub stats: Option<TokenStats>,
}

impl StoredOutputs {
    /// The outputs of `evaluation` (with the MIA documents `mia`) aligned with `sample`: rows
    /// matched by id, documents in order as the reference layout keeps them.
    fn new(evaluation: &Evaluation, mia: Option<&MiaSet>, sample: &Sample) -> Self {
        let outputs = &evaluation.outputs;
        let forget = by_id(&outputs.forget, &outputs.forget_stats);
        let retain = by_id(&outputs.retain, &outputs.retain_stats);
        let rows = sample
            .ids
            .iter()
            .zip(&sample.rows)
            .filter_map(|(id, scored)| {
                let found = match scored.split {
                    Split::Forget => &forget,
                    Split::Retain => &retain,
                };
                let &(row, stats) = found.get(id.as_str())?;
                Some(StoredRow {
                    id: id.clone(),
                    split: scored.split,
                    task: scored.task,
                    kind: scored.kind,
                    expected: row.expected_output.clone(),
                    generation: row.model_output.clone(),
                    nll: row.nll,
                    stats: stats.cloned(),
                })
            })
            .collect::<Vec<_>>();
        // Rows that cannot all be matched are not aligned with the sample: none are kept.
        let rows = if rows.len() == sample.rows.len() {
            rows
        } else {
            Vec::new()
        };
        let documents = |docs: &[MiaDocument], stats: &[TokenStats]| -> Vec<StoredDocument> {
            docs.iter()
                .enumerate()
                .map(|(i, d)| StoredDocument {
                    id: d.id.clone(),
                    text: d.document.clone(),
                    stats: stats.get(i).cloned(),
                })
                .collect()
        };
        let (members, nonmembers) = match mia {
            Some(mia) => (
                documents(&mia.members, &outputs.member_stats),
                documents(&mia.nonmembers, &outputs.nonmember_stats),
            ),
            None => (Vec::new(), Vec::new()),
        };
        StoredOutputs {
            rows,
            members,
            nonmembers,
        }
    }
}

/// Each row of `rows` (with its token statistics, parallel to it) by id.
fn by_id<'a>(
    rows: &'a [InferenceRow],
    stats: &'a [TokenStats],
) -> HashMap<&'a str, (&'a InferenceRow, Option<&'a TokenStats>)> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), (r, stats.get(i))))
        .collect()
}

impl EvalSummary {
    /// The summary of `evaluation` of the model in `dir` (its training history read from
    /// there), which took `eval_seconds`.
    pub fn new(
        role: ModelRole,
        evaluation: &Evaluation,
        mia: Option<&MiaSet>,
        eval_seconds: f64,
        dir: &Path,
    ) -> Self {
        let (train_seconds, loss_curve) = read_history(dir);
        let scored = EvalSummary::scored(role.name(), &evaluation.report);
        EvalSummary {
            outputs: StoredOutputs::new(evaluation, mia, &scored.sample),
            train_seconds,
            eval_seconds,
            loss_curve,
            ..scored
        }
    }

    /// The protocol's scores of `report` (an evaluation scored from its files, which keep no
    /// token statistics: no outputs for the metrics, no times).
    pub fn scored(model: &str, report: &ScoreReport) -> Self {
        let aggregate = &report.aggregate;
        let final_score = report.final_score();
        EvalSummary {
            model: model.to_string(),
            scores: aggregate.cells(),
            overall: aggregate.overall(),
            task_aggregate: aggregate.harmonic_mean.unwrap_or(0.0),
            mia_auc: report.mia_auc,
            mia_score: report.mia_final_score(),
            utility: report.mmlu_average,
            final_score: final_score.complete.unwrap_or(final_score.partial),
            train_seconds: 0.0,
            eval_seconds: 0.0,
            loss_curve: Vec::new(),
            sample: report.sample(),
            outputs: StoredOutputs::default(),
        }
    }
}

/// Training time and loss curve of the run that wrote `dir`, when it was ours.
fn read_history(dir: &Path) -> (f64, Vec<(usize, f64)>) {
    let Ok(text) = std::fs::read_to_string(dir.join("train_history.json")) else {
        return (0.0, Vec::new());
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (0.0, Vec::new());
    };
    let seconds = json["wall_seconds"].as_f64().unwrap_or(0.0);
    let curve = json["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i + 1, s["loss"]["total"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default();
    (seconds, curve)
}
