//! MMLU (protocol §3.5): the Hendrycks CSV layout, k-shot prompts, and accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::language_model::LanguageModel;

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The question text.
    pub question: String,
    /// Choices A–D.
    pub choices: [String; 4],
    /// Index of the right choice (0 = A).
    pub answer: usize,
}

/// The questions of one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `abstract_algebra`, …
    pub name: String,
    /// Few-shot examples (`dev/<subject>_dev.csv`).
    pub dev: Vec<Question>,
    /// Questions to answer (`test/<subject>_test.csv`).
    pub test: Vec<Question>,
}

/// Problems with MMLU files or the model.
#[derive(Debug, thiserror::Error)]
pub enum MmluError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV row is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The directory holds no subject.
    #[error("{}: no test/<subject>_test.csv file", .0.display())]
    Empty(PathBuf),
    /// The model failed.
    #[error("model: {0}")]
    Model(Box<dyn std::error::Error + Send + Sync>),
}

const LETTERS: [&str; 4] = ["A", "B", "C", "D"];

fn read_questions(path: &Path) -> Result<Vec<Question>, MmluError> {
    let file = lume_data::open_regular(path).map_err(|source| MmluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file);
    let mut out = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| MmluError::Row {
            path: path.to_path_buf(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let bad = |message: String| MmluError::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        if row.len() != 6 {
            return Err(bad(format!(
                "expected 6 columns (question,A,B,C,D,answer), found {}",
                row.len()
            )));
        }
        let answer = LETTERS
            .iter()
            .position(|l| *l == row[5].trim())
            .ok_or_else(|| bad(format!("answer {:?} is not A, B, C or D", &row[5])))?;
        out.push(Question {
            question: row[0].to_owned(),
            choices: [1, 2, 3, 4].map(|i| row[i].to_owned()),
            answer,
        });
    }
    Ok(out)
}

/// Reads every subject of a Hendrycks-layout directory (`dev/`, `test/`), sorted by name.
pub fn read_mmlu(dir: &Path) -> Result<Vec<Subject>, MmluError> {
    let test_dir = dir.join("test");
    let entries = std::fs::read_dir(&test_dir).map_err(|source| MmluError::Io {
        path: test_dir.clone(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix("_test.csv")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(MmluError::Empty(dir.to_path_buf()));
    }
    names
        .into_iter()
        .map(|name| {
            let dev_path = dir.join("dev").join(format!("{name}_dev.csv"));
            let dev = if dev_path.exists() {
                read_questions(&dev_path)?
            } else {
                Vec::new()
            };
            let test = read_questions(&test_dir.join(format!("{name}_test.csv")))?;
            Ok(Subject { name, dev, test })
        })
        .collect()
}

/// One question as the reference formats it; `with_answer` appends ` X\n\n`.
pub fn format_question(q: &Question, with_answer: bool) -> String {
    let mut s = q.question.clone();
    for (letter, choice) in LETTERS.iter().zip(&q.choices) {
        s += &format!("\n{letter}. {choice}");
    }
    s += "\nAnswer:";
    if with_answer {
        s += &format!(" {}\n\n", LETTERS[q.answer]);
    }
    s
}

/// The instruction line; the subject's words each get a leading space, hence the double
/// space after "about", as in the reference code.
///
/// ```
/// assert_eq!(
///     lume_metrics::mmlu_header("high_school_physics"),
///     "The following are multiple choice questions (with answers) about  high school physics.\n\n"
/// );
/// ```
pub fn mmlu_header(subject: &str) -> String {
    let words: String = subject.split('_').map(|w| format!(" {w}")).collect();
    format!("The following are multiple choice questions (with answers) about {words}.\n\n")
}

/// A k-shot prompt: header, the first `k` dev examples with answers, the question.
pub fn mmlu_prompt(subject: &Subject, k: usize, question: &Question) -> String {
    let mut prompt = mmlu_header(&subject.name);
    for shot in subject.dev.iter().take(k) {
        prompt += &format_question(shot, true);
    }
    prompt + &format_question(question, false)
}

/// Accuracy per subject and overall.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MmluReport {
    /// Micro accuracy over all questions (the reference's `average_acc`).
    pub average_acc: f64,
    /// Per subject: accuracy.
    pub subjects: BTreeMap<String, f64>,
    /// Questions answered.
    pub questions: usize,
    /// Shots asked for.
    pub shots: usize,
}

/// Runs the k-shot evaluation. Shots are dropped while the prompt is longer than the model's
/// context; the prediction is the argmax of the logits of `" A"`…`" D"`.
pub fn evaluate_mmlu<M: LanguageModel>(
    model: &mut M,
    subjects: &[Subject],
    shots: usize,
) -> Result<MmluReport, MmluError> {
    let model_error = |e: M::Error| MmluError::Model(Box::new(e));
    let continuations: Vec<String> = LETTERS.iter().map(|l| format!(" {l}")).collect();
    let continuations: Vec<&str> = continuations.iter().map(String::as_str).collect();
    let (mut correct_all, mut total_all) = (0usize, 0usize);
    let mut per_subject = BTreeMap::new();
    for subject in subjects {
        let mut correct = 0;
        for q in &subject.test {
            let mut k = shots.min(subject.dev.len());
            let mut prompt = mmlu_prompt(subject, k, q);
            while k > 0
                && model.count_tokens(&prompt).map_err(model_error)? > model.context_length()
            {
                k -= 1;
                prompt = mmlu_prompt(subject, k, q);
            }
            let logits = model
                .continuation_logits(&prompt, &continuations)
                .map_err(model_error)?;
            let predicted = logits
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, &l)| {
                    if l > best.1 { (i, l) } else { best }
                })
                .0;
            correct += usize::from(predicted == q.answer);
        }
        if !subject.test.is_empty() {
            per_subject.insert(
                subject.name.clone(),
                correct as f64 / subject.test.len() as f64,
            );
        }
        correct_all += correct;
        total_all += subject.test.len();
    }
    Ok(MmluReport {
        average_acc: if total_all == 0 {
            0.0
        } else {
            correct_all as f64 / total_all as f64
        },
        subjects: per_subject,
        questions: total_all,
        shots,
    })
}
