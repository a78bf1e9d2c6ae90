//! LUME's JSONL files: `forget.jsonl`, `retain.jsonl` and the membership-inference sets.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::Value;

use crate::fields::{Located, RawField, record_from_fields, text_or_problem};
use crate::files::{MAX_TEXT_FILE, read_regular};
use crate::problem::{DataError, Position, Problem, ProblemKind};
use crate::record::{MiaDocument, Record, RecordLine, Split};
use crate::scan::Scan;

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn raw_field(obj: &serde_json::Map<String, Value>, name: &str) -> RawField {
    match obj.get(name) {
        None => RawField::Missing,
        Some(Value::String(s)) => RawField::Text(s.clone()),
        Some(other) => RawField::NotString(json_type(other)),
    }
}

fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = read_regular(path, MAX_TEXT_FILE).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        DataError::Invalid(vec![Problem::new(
            path,
            Position::File,
            None,
            ProblemKind::Unreadable(format!("not UTF-8 ({e})")),
        )])
    })
}

/// The longest JSONL line lume reads (1 MiB; LUME's longest passage is a few KB): a longer
/// one would cost tens of times its size in the tokenizer.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Calls `each` with every non-blank line's 1-based number and its JSON object;
/// lines that are not JSON objects become problems.
fn for_each_object(
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
    mut each: impl FnMut(usize, &serde_json::Map<String, Value>, &mut Vec<Problem>),
) {
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE_BYTES {
            problems.push(Problem::new(
                path,
                Position::Line(line_no),
                None,
                ProblemKind::Unreadable(format!(
                    "a line of {} bytes: lume reads lines of at most {MAX_LINE_BYTES}",
                    line.len()
                )),
            ));
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(obj)) => each(line_no, &obj, problems),
            Ok(other) => problems.push(Problem::new(
                path,
                Position::Line(line_no),
                None,
                ProblemKind::MalformedJson(format!(
                    "expected an object, found {}",
                    json_type(&other)
                )),
            )),
            Err(e) => problems.push(Problem::new(
                path,
                Position::Line(line_no),
                None,
                ProblemKind::MalformedJson(e.to_string()),
            )),
        }
    }
}

/// Reads a LUME record file, keeping every good record and every problem.
///
/// Blank lines are skipped. Extra fields are ignored.
pub fn scan_jsonl(path: &Path, split: Split) -> Result<Scan<Record>, DataError> {
    let text = read_text(path)?;
    let mut scan = Scan::default();
    for_each_object(path, &text, &mut scan.problems, |line, obj, problems| {
        let position = Position::Line(line);
        if let Some(record) =
            record_from_fields(path, position, Some(split), |f| raw_field(obj, f), problems)
        {
            scan.items.push(Located {
                value: record,
                file: path.to_path_buf(),
                position,
            });
        }
    });
    Ok(scan)
}

/// Reads a membership-inference file (`{"id", "document", …}` a line; other fields ignored).
pub fn scan_mia(path: &Path) -> Result<Scan<MiaDocument>, DataError> {
    let text = read_text(path)?;
    let mut scan = Scan::default();
    for_each_object(path, &text, &mut scan.problems, |line, obj, problems| {
        let position = Position::Line(line);
        let before = problems.len();
        let mut get = |name: &'static str| {
            text_or_problem(path, position, name, raw_field(obj, name), problems)
        };
        let (id, document) = (get("id"), get("document"));
        if document.as_deref().is_some_and(|d| d.trim().is_empty()) {
            problems.push(Problem::new(
                path,
                position,
                Some("document"),
                ProblemKind::Empty,
            ));
        }
        if problems.len() == before
            && let (Some(id), Some(document)) = (id, document)
        {
            scan.items.push(Located {
                value: MiaDocument { id, document },
                file: path.to_path_buf(),
                position,
            });
        }
    });
    scan.check_unique_by(|d| d.id.clone());
    Ok(scan)
}

/// Reads a membership-inference file, failing on the first problem list.
///
/// ```no_run
/// let members = lume_data::read_mia("data/mia/member.jsonl".as_ref())?;
/// println!("{} member documents", members.len());
/// # Ok::<(), lume_data::DataError>(())
/// ```
pub fn read_mia(path: &Path) -> Result<Vec<MiaDocument>, DataError> {
    scan_mia(path)?.into_result()
}

/// Writes records as LUME JSONL (`{"id","input","output","task"}` a line, in that key order).
pub fn write_jsonl<'a>(
    path: &Path,
    records: impl IntoIterator<Item = &'a Record>,
) -> Result<(), DataError> {
    write_lines(path, records.into_iter().map(RecordLine::from))
}

/// Writes membership-inference documents as JSONL (`{"id","document"}` a line).
pub fn write_mia<'a>(
    path: &Path,
    documents: impl IntoIterator<Item = &'a MiaDocument>,
) -> Result<(), DataError> {
    write_lines(path, documents)
}

pub(crate) fn write_lines<T: serde::Serialize>(
    path: &Path,
    items: impl IntoIterator<Item = T>,
) -> Result<(), DataError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::write(parent, e))?;
    }
    // Written beside the target then renamed, so a crash never leaves half a file.
    let tmp = path.with_extension("jsonl.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| DataError::write(&tmp, e))?;
    let mut out = BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut out, &item)
            .map_err(|e| DataError::write(&tmp, std::io::Error::other(e)))?;
        out.write_all(b"\n")
            .map_err(|e| DataError::write(&tmp, e))?;
    }
    out.flush().map_err(|e| DataError::write(&tmp, e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| DataError::write(path, e))
}
