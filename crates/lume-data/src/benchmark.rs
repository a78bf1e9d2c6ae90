//! A whole benchmark: finding its files, reading them, and the checks that span files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::jsonl::{scan_jsonl, scan_mia};
use crate::parquet::scan_parquet;
use crate::problem::{DataError, Position, Problem, ProblemKind};
use crate::record::{Kind, MiaDocument, Record, Split, Task};
use crate::scan::Scan;

/// The forget and retain records of a benchmark, validated.
///
/// ```no_run
/// use lume_data::{Benchmark, Split};
/// let bench = Benchmark::load("../shared/data/lume".as_ref())?;
/// println!("{} forget rows", bench.split(Split::Forget).count());
/// # Ok::<(), lume_data::DataError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Benchmark {
    /// All records, forget and retain, in file order.
    pub records: Vec<Record>,
}

impl Benchmark {
    /// Loads a directory (`forget*.jsonl`, `retain*.jsonl` and/or `*.parquet`) or a single file,
    /// and fails with every problem found, including cross-file ones.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        Self::load_all(&[path.to_path_buf()])
    }

    /// Like [`Benchmark::load`] over several paths read as one benchmark.
    pub fn load_all(paths: &[PathBuf]) -> Result<Self, DataError> {
        let mut scan = Scan::default();
        for path in paths {
            scan.extend(scan_records(path)?);
        }
        check_records(&mut scan);
        Ok(Benchmark {
            records: scan.into_result()?,
        })
    }

    /// The records of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.split == split)
    }

    /// The records of one split, task and kind.
    pub fn select(&self, split: Split, task: Task, kind: Kind) -> impl Iterator<Item = &Record> {
        self.records
            .iter()
            .filter(move |r| r.split == split && r.task == task && r.kind() == kind)
    }
}

/// The files of a benchmark directory that hold records, in a stable order.
pub fn record_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Not `is_file`: a FIFO or device under a data name is refused when read, not skipped.
        .filter(|p| !p.is_dir() && (split_of_file(p).is_some() || is_parquet(p)))
        .filter(|p| is_parquet(p) || has_extension(p, "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::Layout {
            path: dir.to_path_buf(),
            message: "no forget*.jsonl, retain*.jsonl or *.parquet file here".into(),
        });
    }
    Ok(files)
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

fn is_parquet(path: &Path) -> bool {
    has_extension(path, "parquet")
}

/// The split a JSONL file holds, read from its name (`forget…` or `retain…`).
pub fn split_of_file(path: &Path) -> Option<Split> {
    let name = path.file_name()?.to_str()?;
    if name.starts_with("forget") {
        Some(Split::Forget)
    } else if name.starts_with("retain") {
        Some(Split::Retain)
    } else {
        None
    }
}

/// Reads records from a file or a directory without stopping at problems (no cross-file checks).
pub fn scan_records(path: &Path) -> Result<Scan<Record>, DataError> {
    if path.is_dir() {
        let mut scan = Scan::default();
        for file in record_files(path)? {
            scan.extend(scan_records(&file)?);
        }
        return Ok(scan);
    }
    if !path.exists() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    if is_parquet(path) {
        return scan_parquet(path);
    }
    match split_of_file(path) {
        Some(split) => scan_jsonl(path, split),
        None => Ok(Scan {
            items: Vec::new(),
            problems: vec![Problem::new(
                path,
                Position::File,
                None,
                ProblemKind::UnknownSplitFile,
            )],
        }),
    }
}

/// The checks that span records: duplicate ids, and documents in both splits.
pub fn check_records(scan: &mut Scan<Record>) {
    scan.check_unique_by(|r| r.id.as_str().to_owned());
    let mut first_in_split: HashMap<(&str, Split), usize> = HashMap::new();
    for (i, item) in scan.items.iter().enumerate() {
        first_in_split
            .entry((item.value.document_id(), item.value.split))
            .or_insert(i);
    }
    let mut overlap = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for item in &scan.items {
        let r = &item.value;
        if r.split != Split::Retain || !reported.insert(r.document_id()) {
            continue;
        }
        if let Some(&j) = first_in_split.get(&(r.document_id(), Split::Forget)) {
            overlap.push(Problem::new(
                &item.file,
                item.position,
                Some("id"),
                ProblemKind::DocumentInBothSplits {
                    document: r.document_id().to_owned(),
                    other: scan.items[j].location(),
                },
            ));
        }
    }
    scan.problems.extend(overlap);
}

/// Members and non-members for the membership-inference score.
#[derive(Debug, Clone, Default)]
pub struct MiaSet {
    /// Documents the model was trained on (forget-set documents).
    pub members: Vec<MiaDocument>,
    /// Comparable documents the model never saw.
    pub nonmembers: Vec<MiaDocument>,
}

impl MiaSet {
    /// Loads `member.jsonl` and `nonmember.jsonl` from `dir` (or from `dir/mia`).
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        let (member, nonmember) = mia_files(dir)?;
        let mut members = scan_mia(&member)?;
        let nonmembers = scan_mia(&nonmember)?;
        let boundary = members.items.len();
        members.extend(nonmembers);
        members.check_unique_by(|d| d.id.clone());
        let mut docs = members.into_result()?;
        let nonmembers = docs.split_off(boundary);
        Ok(MiaSet {
            members: docs,
            nonmembers,
        })
    }
}

/// The member and non-member files of a directory, looking in `dir` then in `dir/mia`.
pub fn mia_files(dir: &Path) -> Result<(PathBuf, PathBuf), DataError> {
    for base in [dir.to_path_buf(), dir.join("mia")] {
        let (m, n) = (base.join("member.jsonl"), base.join("nonmember.jsonl"));
        // `exists`, not `is_file`: a FIFO there is refused when read, not passed over.
        if m.exists() && n.exists() {
            return Ok((m, n));
        }
    }
    Err(DataError::Layout {
        path: dir.to_path_buf(),
        message: "no member.jsonl and nonmember.jsonl here or in mia/".into(),
    })
}
