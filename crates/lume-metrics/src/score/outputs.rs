//! A folder's inference outputs as read, and what the reference scorer would do with them
//! without a word.

use std::path::{Path, PathBuf};

use super::{InferenceRow, ScoreError, ScoreReport};

/// The inference outputs of a directory in the reference layout, as read.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `forget_*.csv` rows in id order, whichever shard they came from.
    pub forget: Vec<InferenceRow>,
    /// `retain_*.csv` rows, likewise.
    pub retain: Vec<InferenceRow>,
    /// `mia_results/{member,nonmember}_*.csv` losses, when that folder is there.
    pub mia: Option<(Vec<f64>, Vec<f64>)>,
    /// Every file read, with the rows it held.
    pub files: Vec<(PathBuf, usize)>,
}

/// What the reference scorer does without a word, counted: rows it drops (ids without the
/// `sc`/`qa` suffix), rows that repeat an id (each counts again), non-finite losses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Irregularities {
    /// Rows whose id is neither `…sc<d>` nor `…qa<d>`.
    pub unclassified: usize,
    /// Rows whose id an earlier row already had.
    pub repeated: usize,
    /// Rows or documents whose NLL is infinite.
    pub non_finite: usize,
}

impl Irregularities {
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        *self == Irregularities::default()
    }
}

impl std::fmt::Display for Irregularities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows without an sc/qa id (not scored), {} rows repeating an id (scored again), \
             {} infinite NLLs",
            self.unclassified, self.repeated, self.non_finite
        )
    }
}

impl Outputs {
    /// What the reference would score silently (see [`Irregularities`]).
    pub fn irregularities(&self) -> Irregularities {
        let mut seen = std::collections::HashSet::new();
        let rows = self.forget.iter().chain(&self.retain);
        let mut found = Irregularities::default();
        for row in rows {
            found.unclassified += usize::from(row.kind().is_none());
            found.repeated += usize::from(!seen.insert(row.id.as_str()));
            found.non_finite += usize::from(row.nll.is_some_and(|v| !v.is_finite()));
        }
        if let Some((members, nonmembers)) = &self.mia {
            let infinite = members.iter().chain(nonmembers).filter(|v| !v.is_finite());
            found.non_finite += infinite.count();
        }
        found
    }

    /// The report of these outputs with the MMLU result `mmlu`; no scored row at all is an
    /// error (an empty evaluation has no score).
    pub fn score(
        &self,
        dir: &Path,
        mmlu: Option<crate::MmluAccuracy>,
    ) -> Result<ScoreReport, ScoreError> {
        let mut report = ScoreReport::from_rows(
            &self.forget,
            &self.retain,
            self.mia.as_ref().map(|(m, n)| (m.as_slice(), n.as_slice())),
            mmlu.as_ref().map(|m| m.average),
        )
        .map_err(|e| ScoreError::Layout {
            path: dir.join("mia_results"),
            message: e.to_string(),
        })?;
        if report.rows.is_empty() {
            return Err(ScoreError::Layout {
                path: dir.to_path_buf(),
                message: "no row to score (no id ends in sc<d> or qa<d>)".into(),
            });
        }
        report.mmlu_questions = mmlu.map_or_else(Vec::new, |m| m.questions);
        Ok(report)
    }
}
