//! A multiple-choice quiz in the MMLU layout about the generated facts: the utility stand-in
//! of the embedded default, where the real MMLU cannot be downloaded.

use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Document;
use crate::problem::DataError;
use crate::record::Task;

/// The subject name of the quiz's files (`<subject>_dev.csv`, `<subject>_test.csv`).
pub const QUIZ_SUBJECT: &str = "lume_quiz";

/// One question with four options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuizItem {
    /// The question, as the document's `qa` row asks it.
    pub question: String,
    /// Options A–D; one is the document's answer, three are answers to the same question of
    /// other documents.
    pub options: [String; 4],
    /// Index (0–3) of the right option.
    pub answer: usize,
}

/// The quiz: shots from unseen documents, questions from retain documents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quiz {
    /// Few-shot examples (`dev/`), about non-member documents.
    pub dev: Vec<QuizItem>,
    /// Test questions (`test/`), about retain documents: what a model that kept its utility
    /// still knows.
    pub test: Vec<QuizItem>,
}

/// Shots kept in `dev/`.
const DEV_ITEMS: usize = 5;

impl Quiz {
    /// Builds the quiz from the retain documents (test) and unseen ones (dev); distractors are
    /// answers of the same question slot (task, index) in any generated document.
    pub(crate) fn build(
        retain: &[&Document],
        unseen: &[&Document],
        all: &[&Document],
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5155_495a);
        let mut pool: BTreeMap<(Task, usize), Vec<&str>> = BTreeMap::new();
        for doc in all {
            for (i, (_, answer)) in doc.questions.iter().enumerate() {
                let answers = pool.entry((doc.task, i)).or_default();
                if !answers.contains(&answer.as_str()) {
                    answers.push(answer);
                }
            }
        }
        let mut items = |docs: &[&Document], limit: usize| {
            let mut out = Vec::new();
            for doc in docs {
                for (i, (question, answer)) in doc.questions.iter().enumerate() {
                    if out.len() == limit {
                        return out;
                    }
                    let mut others: Vec<&str> = pool[&(doc.task, i)]
                        .iter()
                        .copied()
                        .filter(|a| a != answer)
                        .collect();
                    if others.len() < 3 {
                        continue;
                    }
                    others.shuffle(&mut rng);
                    let right = rng.random_range(0..4);
                    let mut wrong = others.into_iter();
                    let options = std::array::from_fn(|k| {
                        if k == right {
                            answer.clone()
                        } else {
                            wrong.next().unwrap_or_default().to_owned()
                        }
                    });
                    out.push(QuizItem {
                        question: question.clone(),
                        options,
                        answer: right,
                    });
                }
            }
            out
        };
        let dev = items(unseen, DEV_ITEMS);
        let test = items(retain, usize::MAX);
        Quiz { dev, test }
    }

    /// Writes `dir/dev/lume_quiz_dev.csv` and `dir/test/lume_quiz_test.csv` (Hendrycks CSV:
    /// no header, `question,A,B,C,D,answer`).
    pub fn write(&self, dir: &Path) -> Result<(), DataError> {
        for (part, items) in [("dev", &self.dev), ("test", &self.test)] {
            let folder = dir.join(part);
            let path = folder.join(format!("{QUIZ_SUBJECT}_{part}.csv"));
            let io = |source| DataError::Io {
                path: path.clone(),
                source,
            };
            std::fs::create_dir_all(&folder).map_err(io)?;
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new());
            for item in items {
                let letter = ["A", "B", "C", "D"][item.answer];
                let mut row = vec![item.question.as_str()];
                row.extend(item.options.iter().map(String::as_str));
                row.push(letter);
                writer
                    .write_record(&row)
                    .map_err(|e| io(std::io::Error::other(e)))?;
            }
            let bytes = writer
                .into_inner()
                .map_err(|e| io(std::io::Error::other(e.to_string())))?;
            std::fs::write(&path, bytes).map_err(io)?;
        }
        Ok(())
    }
}
