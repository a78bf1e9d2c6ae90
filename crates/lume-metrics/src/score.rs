//! `lume score`: the reference evaluator's inference layout in, its `evaluation_results.json` out.

use std::path::{Path, PathBuf};

use lume_data::{Kind, Split, Task};
use serde_json::{Value, json};

use crate::aggregate::{FinalScore, ScoredRow, TaskAggregate, mean};
use crate::auc::{mia_auc, mia_score};
use crate::exact_match::exact_match;
use crate::rouge::RougeScorer;

/// A problem with the files being scored, naming file, line and column.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV file is malformed or a value is wrong.
    #[error("{}:{line}: column `{column}`: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The column to blame.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// Files the layout needs are absent.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
}

/// One row of `forget_*.csv` / `retain_*.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceRow {
    /// Record id.
    pub id: String,
    /// Sub-task.
    pub task: Task,
    /// Prompt.
    pub input: String,
    /// Expected answer, as pandas would hand it to the reference (`"nan"` for an NA cell).
    pub expected_output: String,
    /// Generated answer, likewise.
    pub model_output: String,
    /// Answer NLL, when present.
    pub nll: Option<f64>,
}

impl InferenceRow {
    /// A record with a model's answer to it.
    pub fn from_record(record: &lume_data::Record, model_output: String, nll: Option<f64>) -> Self {
        InferenceRow {
            id: record.id.to_string(),
            task: record.task,
            input: record.input.clone(),
            expected_output: record.output.clone(),
            model_output,
            nll,
        }
    }

    /// The reference's classification: `id[:-1].endswith("sc")` / `("qa")`.
    pub fn kind(&self) -> Option<Kind> {
        let mut chars = self.id.chars();
        chars.next_back()?;
        let head = chars.as_str();
        if head.ends_with("sc") {
            Some(Kind::SentenceCompletion)
        } else if head.ends_with("qa") {
            Some(Kind::Question)
        } else {
            None
        }
    }
}

/// The strings pandas' `read_csv` turns into NaN by default; the reference then scores `str(nan)`.
const PANDAS_NA: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

fn as_pandas_text(s: &str) -> String {
    if PANDAS_NA.contains(&s) {
        "nan".to_owned()
    } else {
        s.to_owned()
    }
}

struct CsvTable {
    path: PathBuf,
    headers: csv::StringRecord,
    rows: Vec<csv::StringRecord>,
}

impl CsvTable {
    fn read(path: &Path) -> Result<Self, ScoreError> {
        let csv_error = |e: csv::Error| ScoreError::Csv {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            column: String::new(),
            message: e.to_string(),
        };
        let file = lume_data::open_regular(path).map_err(|source| ScoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(file);
        let headers = reader.headers().map_err(csv_error)?.clone();
        let rows = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .map_err(csv_error)?;
        Ok(CsvTable {
            path: path.to_path_buf(),
            headers,
            rows,
        })
    }

    fn column(&self, name: &str) -> Result<usize, ScoreError> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ScoreError::Csv {
                path: self.path.clone(),
                line: 1,
                column: name.to_owned(),
                message: "missing column".into(),
            })
    }

    fn error(&self, row: &csv::StringRecord, column: &str, message: String) -> ScoreError {
        ScoreError::Csv {
            path: self.path.clone(),
            line: row.position().map_or(0, |p| p.line()),
            column: column.to_owned(),
            message,
        }
    }

    fn float(
        &self,
        row: &csv::StringRecord,
        index: usize,
        column: &str,
    ) -> Result<f64, ScoreError> {
        let raw = row.get(index).unwrap_or("");
        let value: f64 = raw
            .trim()
            .parse()
            .map_err(|_| self.error(row, column, format!("{raw:?} is not a number")))?;
        if value.is_nan() {
            return Err(self.error(row, column, "NaN loss".into()));
        }
        Ok(value)
    }
}

/// Reads one `forget_*.csv` or `retain_*.csv`.
pub fn read_inference_csv(path: &Path) -> Result<Vec<InferenceRow>, ScoreError> {
    let table = CsvTable::read(path)?;
    let [id, task, input, expected, output] =
        ["id", "task", "input", "expected_output", "model_output"].map(|c| table.column(c));
    let (id, task, input, expected, output) = (id?, task?, input?, expected?, output?);
    let nll = table.column("nll").ok();
    table
        .rows
        .iter()
        .map(|row| {
            let get = |i: usize| row.get(i).unwrap_or("");
            let task = get(task)
                .parse::<Task>()
                .map_err(|e| table.error(row, "task", e))?;
            Ok(InferenceRow {
                id: get(id).to_owned(),
                task,
                input: get(input).to_owned(),
                expected_output: as_pandas_text(get(expected)),
                model_output: as_pandas_text(get(output)),
                nll: nll
                    .filter(|&i| !get(i).trim().is_empty())
                    .map(|i| table.float(row, i, "nll"))
                    .transpose()?,
            })
        })
        .collect()
}

/// Reads one `mia_results/{member,nonmember}_*.csv`: the `nll` column.
pub fn read_mia_csv(path: &Path) -> Result<Vec<f64>, ScoreError> {
    let table = CsvTable::read(path)?;
    let nll = table.column("nll")?;
    table
        .rows
        .iter()
        .map(|row| table.float(row, nll, "nll"))
        .collect()
}

/// `dir/<prefix>_*.csv`, sorted.
pub fn shards(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, ScoreError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScoreError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{prefix}_")) && n.ends_with(".csv"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Everything `lume score` computes.
#[derive(Debug, Clone)]
pub struct ScoreReport {
    /// Scored rows (sc and qa only).
    pub rows: Vec<ScoredRow>,
    /// The id of each scored row.
    pub ids: Vec<String>,
    /// ROUGE-1 recall of each sc row, `[split]`.
    pub rouge1_recall: [Vec<f64>; 2],
    /// ROUGE-L F1 of each sc row, `[split]`.
    pub rouge_l_f1: [Vec<f64>; 2],
    /// The task aggregate.
    pub aggregate: TaskAggregate,
    /// MIA AUC (`mia_loss_acc`), when MIA files are present.
    pub mia_auc: Option<f64>,
    /// The member and non-member losses the AUC was computed from.
    pub mia_losses: Option<(Vec<f64>, Vec<f64>)>,
    /// MMLU micro accuracy, when given.
    pub mmlu_average: Option<f64>,
    /// Each MMLU question's outcome, when the MMLU result records them (for its interval).
    pub mmlu_questions: Vec<bool>,
}

impl ScoreReport {
    /// Scores inference rows of both splits.
    pub fn from_rows(
        forget: &[InferenceRow],
        retain: &[InferenceRow],
        mia: Option<(&[f64], &[f64])>,
        mmlu_average: Option<f64>,
    ) -> Result<Self, crate::AucError> {
        let scorer = RougeScorer::default();
        let mut rows = Vec::new();
        let mut ids = Vec::new();
        let mut rouge1_recall = [Vec::new(), Vec::new()];
        let mut rouge_l_f1 = [Vec::new(), Vec::new()];
        for (s, (split, split_rows)) in [(Split::Forget, forget), (Split::Retain, retain)]
            .into_iter()
            .enumerate()
        {
            for row in split_rows {
                let Some(kind) = row.kind() else { continue };
                let score = match kind {
                    Kind::SentenceCompletion => {
                        let l = scorer.rouge_l(&row.expected_output, &row.model_output);
                        let one = scorer.rouge_1(&row.expected_output, &row.model_output);
                        rouge1_recall[s].push(one.recall);
                        rouge_l_f1[s].push(l.fmeasure);
                        l.recall
                    }
                    Kind::Question => exact_match(&row.expected_output, &row.model_output),
                };
                ids.push(row.id.clone());
                rows.push(ScoredRow {
                    split,
                    task: row.task,
                    kind,
                    score,
                });
            }
        }
        let mia_auc = mia.map(|(m, n)| mia_auc(m, n)).transpose()?;
        Ok(ScoreReport {
            aggregate: TaskAggregate::from_rows(&rows),
            rows,
            ids,
            rouge1_recall,
            rouge_l_f1,
            mia_auc,
            mia_losses: mia.map(|(m, n)| (m.to_vec(), n.to_vec())),
            mmlu_average,
            mmlu_questions: Vec::new(),
        })
    }

    /// Percentile intervals of every score, from a bootstrap over this report's rows and MIA
    /// documents (see [`bootstrap`](crate::bootstrap)).
    pub fn bootstrap(&self, config: crate::BootstrapConfig) -> crate::Bootstrap {
        let sample = self.sample();
        crate::bootstrap_with(&sample, &crate::Resamples::draw(&sample, config))
    }

    /// What a bootstrap resamples: the per-row scores with their ids, the MIA losses, MMLU.
    pub fn sample(&self) -> crate::Sample {
        crate::Sample {
            ids: self.ids.clone(),
            rows: self.rows.clone(),
            mia: self.mia_losses.clone(),
            mmlu: self.mmlu_average,
            mmlu_questions: self.mmlu_questions.clone(),
        }
    }

    /// The MIA score `1 − 2|AUC − 0.5|`.
    pub fn mia_final_score(&self) -> Option<f64> {
        self.mia_auc.map(mia_score)
    }

    /// The final score and its parts.
    pub fn final_score(&self) -> FinalScore {
        FinalScore::new(
            self.aggregate.harmonic_mean.unwrap_or(0.0),
            self.mia_final_score(),
            self.mmlu_average,
        )
    }

    /// The reference's `evaluation_results.json`, key for key, plus our extras under `"lume"`.
    pub fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (s, split) in Split::ALL.into_iter().enumerate() {
            let mut set = serde_json::Map::new();
            set.insert(
                "overall-regurgitation-score".into(),
                json!(self.aggregate.overall_regurgitation[s]),
            );
            set.insert(
                "overall-knowledge-score".into(),
                json!(self.aggregate.overall_knowledge[s]),
            );
            for task in Task::ALL {
                let scores = self.aggregate.per_task[s][task.index()];
                if scores.regurgitation.is_some() || scores.knowledge.is_some() {
                    set.insert(task.to_string(), json!(scores));
                }
            }
            out.insert(format!("{split}-set"), set.into());
        }
        if let Some(auc) = self.mia_auc {
            out.insert("mia_loss_acc".into(), json!(auc));
        }
        if let Some(mmlu) = self.mmlu_average {
            out.insert("mmlu_average".into(), json!(mmlu));
        }
        out.insert("aggregated-terms".into(), json!(self.aggregate.terms));
        out.insert(
            "harmonic-mean-task-aggregate".into(),
            json!(self.aggregate.harmonic_mean),
        );
        let final_score = self.final_score();
        out.insert(
            "aggregate-score".into(),
            json!(final_score.complete.unwrap_or(-1.0)),
        );
        if let (Some(mia), Some(_)) = (self.mia_final_score(), self.mmlu_average) {
            out.insert("mia_final_score".into(), json!(mia));
        }
        let extra = |s: usize| {
            json!({
                "overall-rouge1-recall": mean(&self.rouge1_recall[s]),
                "overall-rougeL-f1": mean(&self.rouge_l_f1[s]),
            })
        };
        out.insert(
            "lume".into(),
            json!({
                "forget-set": extra(0),
                "retain-set": extra(1),
                "mia_final_score": self.mia_final_score(),
                "final-score-over-available-parts": final_score.partial,
                "final-score-parts": final_score.parts,
                "mmlu-below-gate": final_score.below_mmlu_gate,
                "scored-rows": self.rows.len(),
            }),
        );
        out.into()
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let f = |v: Option<f64>| v.map_or("   -  ".to_owned(), |v| format!("{v:.4}"));
        let mut s = format!(
            "{:<8} {:<6} {:>14} {:>10}\n",
            "split", "task", "regurgitation", "knowledge"
        );
        for (i, split) in Split::ALL.into_iter().enumerate() {
            for task in Task::ALL {
                let t = self.aggregate.per_task[i][task.index()];
                s += &format!(
                    "{:<8} {:<6} {:>14} {:>10}\n",
                    split.as_str(),
                    task.as_str(),
                    f(t.regurgitation),
                    f(t.knowledge)
                );
            }
        }
        let fs = self.final_score();
        s += &format!(
            "task aggregate (harmonic mean of 12): {}\n",
            f(self.aggregate.harmonic_mean)
        );
        s += &format!(
            "MIA AUC: {}   MIA score: {}\n",
            f(self.mia_auc),
            f(self.mia_final_score())
        );
        s += &format!(
            "MMLU: {}{}\n",
            f(self.mmlu_average),
            if fs.below_mmlu_gate {
                "  (below the 0.371 gate)"
            } else {
                ""
            }
        );
        match fs.complete {
            Some(v) => s += &format!("final score: {v:.4}"),
            None => {
                s += &format!(
                    "final score: incomplete ({} of 3 parts; mean of those: {:.4})",
                    fs.parts, fs.partial
                )
            }
        }
        s
    }
}

mod outputs;
pub use outputs::{Irregularities, Outputs};

/// Reads the inference outputs of a directory in the reference layout.
pub fn read_outputs(dir: &Path) -> Result<Outputs, ScoreError> {
    // Rows in id order, whichever shard they came from: any split of the rows into shards
    // gives the same sums in the same order, so the same numbers to the last bit.
    let mut files = Vec::new();
    let mut by_id = |prefix: &str| -> Result<Vec<InferenceRow>, ScoreError> {
        let mut rows = read_shards(dir, prefix, read_inference_csv, &mut files)?;
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(rows)
    };
    let forget = by_id("forget")?;
    let retain = by_id("retain")?;
    let mia_dir = dir.join("mia_results");
    let mia = if mia_dir.is_dir() {
        Some((
            read_shards(&mia_dir, "member", read_mia_csv, &mut files)?,
            read_shards(&mia_dir, "nonmember", read_mia_csv, &mut files)?,
        ))
    } else {
        None
    };
    Ok(Outputs {
        forget,
        retain,
        mia,
        files,
    })
}

/// Scores a directory in the reference layout; `mmlu_metrics` is a JSON file with `average_acc`.
///
/// ```no_run
/// let report = lume_metrics::score_dir("out".as_ref(), None)?;
/// println!("{}", report.table());
/// # Ok::<(), lume_metrics::ScoreError>(())
/// ```
pub fn score_dir(dir: &Path, mmlu_metrics: Option<&Path>) -> Result<ScoreReport, ScoreError> {
    let mmlu = mmlu_metrics.map(read_mmlu_metrics).transpose()?;
    read_outputs(dir)?.score(dir, mmlu)
}

/// Every `dir/<prefix>_*.csv` shard read and concatenated; none at all is an error.
fn read_shards<T>(
    dir: &Path,
    prefix: &str,
    read: impl Fn(&Path) -> Result<Vec<T>, ScoreError>,
    read_files: &mut Vec<(PathBuf, usize)>,
) -> Result<Vec<T>, ScoreError> {
    let files = shards(dir, prefix)?;
    if files.is_empty() {
        return Err(ScoreError::Layout {
            path: dir.to_path_buf(),
            message: format!("no {prefix}_*.csv file"),
        });
    }
    let mut all = Vec::new();
    for f in files {
        let rows = read(&f)?;
        read_files.push((f, rows.len()));
        all.extend(rows);
    }
    Ok(all)
}

/// An MMLU result: the accuracy, and each question's outcome when the file records them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MmluAccuracy {
    /// `average_acc`.
    pub average: f64,
    /// `lume.correct` read as booleans (empty in the reference's own files).
    pub questions: Vec<bool>,
}

/// The `average_acc` of an MMLU result file, and the outcomes lume records beside it
/// (`lume.correct`, which must agree with `average_acc`).
pub fn read_mmlu_metrics(path: &Path) -> Result<MmluAccuracy, ScoreError> {
    let text = lume_data::read_regular_string(path).map_err(|source| ScoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ScoreError::Csv {
        path: path.to_path_buf(),
        line: e.line() as u64,
        column: String::new(),
        message: format!("not JSON: {e}"),
    })?;
    let layout = |message: String| ScoreError::Layout {
        path: path.to_path_buf(),
        message,
    };
    let average = value["average_acc"]
        .as_f64()
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| layout("no numeric `average_acc` in [0, 1]".into()))?;
    let questions = match value["lume"]["correct"].as_str() {
        None => Vec::new(),
        Some(text) => {
            let outcomes = crate::MmluOutcomes {
                correct: text.to_owned(),
            };
            let questions = outcomes.to_bools().ok_or_else(|| {
                layout("`lume.correct` holds a character other than 0 and 1".into())
            })?;
            let right = questions.iter().filter(|&&r| r).count() as f64;
            if !questions.is_empty() && (right / questions.len() as f64 - average).abs() > 1e-9 {
                return Err(layout(format!(
                    "`lume.correct` ({} of {} right) disagrees with `average_acc` = {average}",
                    right,
                    questions.len()
                )));
            }
            questions
        }
    };
    Ok(MmluAccuracy { average, questions })
}
