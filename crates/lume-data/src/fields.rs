//! Turning the raw fields of one line or row into a [`Record`], collecting every problem.

use std::path::Path;

use crate::problem::{Position, Problem, ProblemKind};
use crate::record::{Record, RecordId, Split, Task};

/// A field as found in a JSON object or a parquet row.
pub(crate) enum RawField {
    Missing,
    NotString(&'static str),
    Text(String),
}

/// Where a record came from, for later cross-checks (duplicates, overlapping documents).
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Its file.
    pub file: std::path::PathBuf,
    /// Its line or row.
    pub position: Position,
}

impl<T> Located<T> {
    /// `file:line` or `file row N`.
    pub fn location(&self) -> String {
        format!("{}{}", self.file.display(), self.position)
    }
}

/// The text of a raw field, or the problem it has (missing, or not a string).
pub(crate) fn text_or_problem(
    file: &Path,
    position: Position,
    name: &'static str,
    raw: RawField,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let kind = match raw {
        RawField::Text(s) => return Some(s),
        RawField::Missing => ProblemKind::MissingField,
        RawField::NotString(found) => ProblemKind::NotAString(found),
    };
    problems.push(Problem::new(file, position, Some(name), kind));
    None
}

/// Builds a record from raw fields; `split` is `None` when the row itself carries one.
pub(crate) fn record_from_fields(
    file: &Path,
    position: Position,
    split: Option<Split>,
    mut field: impl FnMut(&'static str) -> RawField,
    problems: &mut Vec<Problem>,
) -> Option<Record> {
    let before = problems.len();
    let mut text = |name: &'static str, problems: &mut Vec<Problem>| {
        text_or_problem(file, position, name, field(name), problems)
    };
    let id = text("id", problems);
    let input = text("input", problems);
    let output = text("output", problems);
    let task = text("task", problems);
    let split = match split {
        Some(s) => Some(s),
        None => text("split", problems).and_then(|s| match s.parse() {
            Ok(split) => Some(split),
            Err(_) => {
                problems.push(Problem::new(
                    file,
                    position,
                    Some("split"),
                    ProblemKind::UnknownSplit(s),
                ));
                None
            }
        }),
    };
    let problem = |field, kind| Problem::new(file, position, Some(field), kind);

    let id = id.and_then(|raw| match raw.parse::<RecordId>() {
        Ok(id) => {
            if !id.reference_scorer_compatible() {
                problems.push(problem("id", ProblemKind::MultiDigitIndex(raw)));
            }
            Some(id)
        }
        Err(e) => {
            problems.push(problem("id", ProblemKind::BadId(e.to_string())));
            None
        }
    });
    let task = task.and_then(|t| match t.parse::<Task>() {
        Ok(task) => Some(task),
        Err(_) => {
            problems.push(problem("task", ProblemKind::UnknownTask(t)));
            None
        }
    });
    for (name, value) in [("input", &input), ("output", &output)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            problems.push(problem(name, ProblemKind::Empty));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(Record {
        id: id?,
        input: input?,
        output: output?,
        task: task?,
        split: split?,
    })
}
