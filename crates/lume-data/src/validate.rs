//! `lume data validate`: every problem in a set of files and directories.

use std::path::{Path, PathBuf};

use crate::benchmark::{check_records, mia_files, record_files, scan_records};
use crate::jsonl::scan_mia;
use crate::problem::{DataError, Position, Problem, ProblemKind};
use crate::record::{MiaDocument, Record};
use crate::scan::Scan;

/// What validation found.
#[derive(Debug, Default)]
pub struct Validation {
    /// Records that parsed cleanly.
    pub records: Scan<Record>,
    /// Membership-inference documents that parsed cleanly.
    pub mia: Scan<MiaDocument>,
}

impl Validation {
    /// Every problem, records' first, then membership-inference files'.
    pub fn problems(&self) -> impl Iterator<Item = &Problem> {
        self.records.problems.iter().chain(&self.mia.problems)
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems().next().is_none()
    }
}

fn is_mia_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("member") || n.starts_with("nonmember"))
}

fn as_problem(path: &Path, err: DataError) -> Vec<Problem> {
    match err {
        DataError::Invalid(problems) => problems,
        DataError::Io { source, .. } => vec![Problem::new(
            path,
            Position::File,
            None,
            ProblemKind::Unreadable(source.to_string()),
        )],
        other => vec![Problem::new(
            path,
            Position::File,
            None,
            ProblemKind::Unreadable(other.full_message()),
        )],
    }
}

/// Validates files and directories together: per-line checks, then duplicate ids and documents
/// present in both splits across everything given. A directory is read for its record files and
/// for `member.jsonl`/`nonmember.jsonl` (in it or in `mia/`).
///
/// ```no_run
/// let v = lume_data::validate(&["../shared/data/lume".into()]);
/// for p in v.problems() {
///     eprintln!("{p}");
/// }
/// ```
pub fn validate(paths: &[PathBuf]) -> Validation {
    let mut v = Validation::default();
    for path in paths {
        let read_records = |p: &Path, v: &mut Validation| match scan_records(p) {
            Ok(scan) => v.records.extend(scan),
            Err(e) => v.records.problems.extend(as_problem(p, e)),
        };
        let read_mia = |p: &Path, v: &mut Validation| match scan_mia(p) {
            Ok(scan) => v.mia.extend(scan),
            Err(e) => v.mia.problems.extend(as_problem(p, e)),
        };
        if path.is_dir() {
            let has_records = record_files(path).is_ok();
            let mia = mia_files(path).ok();
            if has_records {
                read_records(path, &mut v);
            }
            if let Some((member, nonmember)) = &mia {
                read_mia(member, &mut v);
                read_mia(nonmember, &mut v);
            }
            if !has_records && mia.is_none() {
                v.records.problems.push(Problem::new(
                    path,
                    Position::File,
                    None,
                    ProblemKind::Unreadable(
                        "no record files and no member.jsonl/nonmember.jsonl here".into(),
                    ),
                ));
            }
        } else if is_mia_file(path) {
            read_mia(path, &mut v);
        } else {
            read_records(path, &mut v);
        }
    }
    check_records(&mut v.records);
    v.mia.check_unique_by(|d| d.id.clone());
    v
}
