//! Validation problems, each tied to the file, line (or parquet row) and field it came from.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a file a problem sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// The file as a whole.
    File,
    /// A 1-based line of a text file.
    Line(usize),
    /// A 0-based row of a parquet file (as pandas and `datasets` number them).
    Row(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::File => Ok(()),
            Position::Line(n) => write!(f, ":{n}"),
            Position::Row(n) => write!(f, " row {n}"),
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemKind {
    /// The line is not a JSON object.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// A required field is absent.
    #[error("missing field")]
    MissingField,
    /// A field is present but not a string.
    #[error("expected a string, found {0}")]
    NotAString(&'static str),
    /// The task is not Task1/Task2/Task3.
    #[error("unknown task {0:?} (expected \"Task1\", \"Task2\" or \"Task3\")")]
    UnknownTask(String),
    /// The split column is not forget/retain.
    #[error("unknown split {0:?} (expected \"forget\" or \"retain\")")]
    UnknownSplit(String),
    /// The id has no `sc<N>`/`qa<N>` suffix.
    #[error("{0}")]
    BadId(String),
    /// The index has several digits, which the reference scorer does not read.
    #[error("id {0:?} has a multi-digit index: the reference scorer reads one trailing digit")]
    MultiDigitIndex(String),
    /// The same id appears twice.
    #[error("duplicate id {id:?}, first seen at {first}")]
    DuplicateId {
        /// The repeated id.
        id: String,
        /// Where it was first seen.
        first: String,
    },
    /// A document is both in the forget and in the retain split.
    #[error("document {document:?} is in both forget and retain (also at {other})")]
    DocumentInBothSplits {
        /// The shared document id.
        document: String,
        /// Where the other split has it.
        other: String,
    },
    /// A field that must hold text is empty.
    #[error("empty text")]
    Empty,
    /// The file could not be read at all.
    #[error("cannot read: {0}")]
    Unreadable(String),
    /// The file name does not say which split it holds.
    #[error(
        "cannot tell the split from the file name (expected it to start with forget or retain)"
    )]
    UnknownSplitFile,
}

/// One problem found in a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// Line, row or the whole file.
    pub position: Position,
    /// The JSON field or parquet column, when one is to blame.
    pub field: Option<&'static str>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl Problem {
    pub(crate) fn new(
        file: &Path,
        position: Position,
        field: Option<&'static str>,
        kind: ProblemKind,
    ) -> Self {
        Problem {
            file: file.to_path_buf(),
            position,
            field,
            kind,
        }
    }

    /// `file:line` or `file row N`, as used in messages.
    pub fn location(&self) -> String {
        format!("{}{}", self.file.display(), self.position)
    }

    /// The 1-based line, when the problem sits on a line.
    pub fn line(&self) -> Option<usize> {
        match self.position {
            Position::Line(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location())?;
        if let Some(field) = self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The error of a loader: I/O failures, or the list of every problem found.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file was read but holds problems; all of them are listed.
    #[error("{} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
    /// A directory does not hold the expected files.
    #[error("{}: {message}", path.display())]
    Layout {
        /// The directory or file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn write(path: &Path, source: std::io::Error) -> Self {
        DataError::Write {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The message with its causes, `: `-separated (what `anyhow`'s `{:#}` shows).
    pub fn full_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message += &format!(": {cause}");
            source = cause.source();
        }
        message
    }

    /// The problems, when the error is [`DataError::Invalid`].
    pub fn problems(&self) -> &[Problem] {
        match self {
            DataError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
