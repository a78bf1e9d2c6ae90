//! Benchmark records and the facts parsed from their ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of LUME's three sub-tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Task {
    /// Synthetic creative short stories.
    Task1,
    /// Synthetic biographies with PII.
    Task2,
    /// Real Wikipedia biographies.
    Task3,
}

impl Task {
    /// All tasks, in benchmark order.
    pub const ALL: [Task; 3] = [Task::Task1, Task::Task2, Task::Task3];

    /// The name used in the data files (`"Task1"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Task1 => "Task1",
            Task::Task2 => "Task2",
            Task::Task3 => "Task3",
        }
    }

    /// Zero-based position in [`Task::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Task {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Task1" => Ok(Task::Task1),
            "Task2" => Ok(Task::Task2),
            "Task3" => Ok(Task::Task3),
            other => Err(format!(
                "unknown task {other:?} (expected \"Task1\", \"Task2\" or \"Task3\")"
            )),
        }
    }
}

/// What a prompt tests: regurgitation (sentence completion) or knowledge (question).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// `…sc<N>`: continue the document; scored by ROUGE-L recall.
    #[serde(rename = "sc")]
    SentenceCompletion,
    /// `…qa<N>`: answer a question; scored by exact match.
    #[serde(rename = "qa")]
    Question,
}

impl Kind {
    /// Both kinds, sentence completion first.
    pub const ALL: [Kind; 2] = [Kind::SentenceCompletion, Kind::Question];

    /// The id suffix: `"sc"` or `"qa"`.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::SentenceCompletion => "sc",
            Kind::Question => "qa",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.suffix())
    }
}

/// Which side of the unlearning problem a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Data the model must forget.
    Forget,
    /// Data the model must keep.
    Retain,
}

impl Split {
    /// Both splits, forget first.
    pub const ALL: [Split; 2] = [Split::Forget, Split::Retain];

    /// `"forget"` or `"retain"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Forget => "forget",
            Split::Retain => "retain",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "forget" => Ok(Split::Forget),
            "retain" => Ok(Split::Retain),
            other => Err(format!(
                "unknown split {other:?} (expected \"forget\" or \"retain\")"
            )),
        }
    }
}

/// A record id such as `12762334qa0`: a document id, then a [`Kind`] suffix and an index.
///
/// ```
/// use lume_data::{Kind, RecordId};
/// let id: RecordId = "\"8f24c511\"sc1".parse().unwrap();
/// assert_eq!(id.document_id(), "\"8f24c511\"");
/// assert_eq!(id.kind(), Kind::SentenceCompletion);
/// assert_eq!(id.index(), 1);
/// assert_eq!(id.to_string(), "\"8f24c511\"sc1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    raw: String,
    document_len: usize,
    kind: Kind,
    index: u32,
}

/// Why a string is not a valid [`RecordId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id does not end in `sc<N>` or `qa<N>`.
    #[error("id {0:?} does not end in sc<N> or qa<N>")]
    MissingSuffix(String),
    /// The suffix is there but nothing precedes it.
    #[error("id {0:?} has no document part before its sc<N>/qa<N> suffix")]
    EmptyDocument(String),
    /// The index does not fit in 32 bits.
    #[error("id {0:?} has an index too large to be real")]
    IndexOverflow(String),
}

impl RecordId {
    /// Builds the id `document` + `kind` + `index`.
    pub fn new(document: &str, kind: Kind, index: u32) -> Result<Self, IdError> {
        format!("{document}{}{index}", kind.suffix()).parse()
    }

    /// The whole id as written in the file.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The id of the document the record was cut from (the id without its suffix).
    pub fn document_id(&self) -> &str {
        &self.raw[..self.document_len]
    }

    /// Sentence completion or question.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The `<N>` of the suffix.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Whether the reference scorer classifies this id as we do: it reads a single trailing
    /// digit (`id[:-1].endswith("sc")`), so `…sc12` is neither kind there.
    pub fn reference_scorer_compatible(&self) -> bool {
        self.raw.len() - self.document_len == 3
    }
}

impl FromStr for RecordId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
        if digits == 0 || s.len() < digits + 2 {
            return Err(IdError::MissingSuffix(s.to_owned()));
        }
        let suffix_start = s.len() - digits - 2;
        let kind = match &s.as_bytes()[suffix_start..suffix_start + 2] {
            b"sc" => Kind::SentenceCompletion,
            b"qa" => Kind::Question,
            _ => return Err(IdError::MissingSuffix(s.to_owned())),
        };
        if suffix_start == 0 {
            return Err(IdError::EmptyDocument(s.to_owned()));
        }
        let index = s[s.len() - digits..]
            .parse()
            .map_err(|_| IdError::IndexOverflow(s.to_owned()))?;
        Ok(RecordId {
            raw: s.to_owned(),
            document_len: suffix_start,
            kind,
            index,
        })
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// One benchmark prompt with its expected answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Parsed id.
    pub id: RecordId,
    /// The prompt.
    pub input: String,
    /// The expected continuation or answer.
    pub output: String,
    /// Sub-task.
    pub task: Task,
    /// Forget or retain.
    pub split: Split,
}

impl Record {
    /// Shorthand for `self.id.kind()`.
    pub fn kind(&self) -> Kind {
        self.id.kind()
    }

    /// Shorthand for `self.id.document_id()`.
    pub fn document_id(&self) -> &str {
        self.id.document_id()
    }
}

/// The on-disk shape of a record line: `{"id", "input", "output", "task"}` in that order.
#[derive(Debug, Serialize)]
pub(crate) struct RecordLine<'a> {
    pub id: &'a str,
    pub input: &'a str,
    pub output: &'a str,
    pub task: &'a str,
}

impl<'a> From<&'a Record> for RecordLine<'a> {
    fn from(r: &'a Record) -> Self {
        RecordLine {
            id: r.id.as_str(),
            input: &r.input,
            output: &r.output,
            task: r.task.as_str(),
        }
    }
}

/// A membership-inference document: a whole text and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiaDocument {
    /// Document id (for members, the forget-set document id).
    pub id: String,
    /// The full text.
    pub document: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_id_styles_of_the_release() {
        let t1: RecordId = "\"8f24c511-a319-4a9f-80c2-ca6fac131233\"qa0"
            .parse()
            .unwrap();
        assert_eq!(t1.document_id(), "\"8f24c511-a319-4a9f-80c2-ca6fac131233\"");
        assert_eq!(t1.kind(), Kind::Question);
        let t2: RecordId = "df8d2304-fb26-4d44-9df0-a4b3f98df1b4qa4".parse().unwrap();
        assert_eq!(t2.index(), 4);
        let t3: RecordId = "12762334sc1".parse().unwrap();
        assert_eq!(t3.document_id(), "12762334");
        assert!(t3.reference_scorer_compatible());
    }

    #[test]
    fn rejects_ids_without_a_suffix() {
        for bad in ["", "sc1", "abc", "abcsc", "abcxx1", "abc1", "qa"] {
            assert!(bad.parse::<RecordId>().is_err(), "{bad:?}");
        }
        assert!(matches!(
            "sc1".parse::<RecordId>(),
            Err(IdError::EmptyDocument(_))
        ));
    }

    #[test]
    fn multi_digit_index_is_flagged_as_not_reference_compatible() {
        let id: RecordId = "docsc12".parse().unwrap();
        assert_eq!(id.index(), 12);
        assert!(!id.reference_scorer_compatible());
    }
}
