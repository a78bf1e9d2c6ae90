//! The drill-down's data: every benchmark row with what each model generated for it, its
//! score and the words ROUGE-L still matches in the expected answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lume_data::{Kind, Split, Task};
use lume_metrics::{InferenceRow, RougeScorer, exact_match, read_inference_csv, shards};
use serde::Serialize;

use crate::error::BenchError;

/// One benchmark row as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// Record id.
    pub id: String,
    /// Forget or retain.
    pub split: Split,
    /// Sub-task.
    pub task: Task,
    /// Regurgitation (`sc`) or knowledge (`qa`).
    pub kind: Kind,
    /// The prompt.
    pub prompt: String,
    /// The expected answer.
    pub expected: String,
    /// One entry per model that has this row, in the report's model order.
    pub generations: Vec<Generation>,
}

/// What one model generated for a row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    /// Index into the report's models.
    pub model: usize,
    /// The generation cut into alternating pieces: even indices as generated, odd ones the
    /// words ROUGE-L matches in the expected answer (joined, they are the generation).
    pub pieces: Vec<String>,
    /// ROUGE-L recall (regurgitation) or exact match (knowledge).
    pub score: f64,
}

/// Whether `dir` holds inference outputs (`forget_*.csv`).
pub(crate) fn has_outputs(dir: &Path) -> bool {
    shards(dir, "forget").is_ok_and(|files| !files.is_empty())
}

/// The rows of every `(model, folder)` pair, by split then id; the models that had outputs.
pub(crate) fn gather(
    found: &[(String, PathBuf)],
) -> Result<(Vec<String>, Vec<ReportRow>), BenchError> {
    let scorer = RougeScorer::default();
    let mut rows: BTreeMap<(Split, String), ReportRow> = BTreeMap::new();
    let mut models = Vec::new();
    for (model, dir) in found {
        let index = models.len();
        models.push(model.clone());
        for (split, prefix) in [(Split::Forget, "forget"), (Split::Retain, "retain")] {
            for file in shards(dir, prefix)? {
                for row in read_inference_csv(&file)? {
                    let Some(kind) = row.kind() else { continue };
                    let generation = generation(&scorer, index, kind, &row);
                    rows.entry((split, row.id.clone()))
                        .or_insert_with(|| ReportRow {
                            id: row.id,
                            split,
                            task: row.task,
                            kind,
                            prompt: row.input,
                            expected: row.expected_output,
                            generations: Vec::new(),
                        })
                        .generations
                        .push(generation);
                }
            }
        }
    }
    Ok((models, rows.into_values().collect()))
}

/// The protocol's score of `row` (ROUGE-L recall or exact match, as the aggregate counts it)
/// and its generation cut at the recalled words.
fn generation(scorer: &RougeScorer, model: usize, kind: Kind, row: &InferenceRow) -> Generation {
    let (expected, output) = (&row.expected_output, &row.model_output);
    let score = match kind {
        Kind::SentenceCompletion => scorer.rouge_l(expected, output).recall,
        Kind::Question => exact_match(expected, output),
    };
    Generation {
        model,
        pieces: cut(output, &scorer.recalled_words(expected, output)),
        score,
    }
}

/// `text` cut at `marked` (ordered, disjoint byte ranges) into alternating plain and marked
/// pieces, plain first and last.
fn cut(text: &str, marked: &[std::ops::Range<usize>]) -> Vec<String> {
    let mut pieces = Vec::with_capacity(2 * marked.len() + 1);
    let mut at = 0;
    for range in marked {
        pieces.push(text[at..range.start].to_string());
        pieces.push(text[range.clone()].to_string());
        at = range.end;
    }
    pieces.push(text[at..].to_string());
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_alternate_and_join_to_the_generation() {
        let scorer = RougeScorer::default();
        let text = "A cat, running home!";
        let pieces = cut(
            text,
            &scorer.recalled_words("the cats were running home", text),
        );
        assert_eq!(pieces, ["A ", "cat", ", ", "running", " ", "home", "!"]);
        assert_eq!(pieces.concat(), text);
        assert_eq!(cut("no match", &[]), ["no match"]);
    }
}
