//! The benchmark's inference (protocol §2) through any [`LanguageModel`], written in the
//! reference evaluator's layout so that [`crate::score_dir`] — or the reference itself — can
//! score it.

use std::path::{Path, PathBuf};

use lume_data::{MiaDocument, Record, Split};

use crate::inference_io::{write_inference_csv, write_mia_csv};
use crate::language_model::LanguageModel;
use crate::score::InferenceRow;
use lume_data::TokenStats;

/// Inference settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InferenceOptions {
    /// Tokens generated per prompt (the protocol uses 256).
    pub max_new_tokens: usize,
    /// Prompts the model generates for at once (an engine's generation slots).
    pub batch_size: usize,
    /// End a question's generation as soon as its exact match can no longer be 1
    /// ([`exact_match_decided`](crate::exact_match_decided)): every score is the same, the
    /// generations stored are shorter. Off, every generation runs to the end of sequence or
    /// `max_new_tokens`, as the reference evaluator's.
    pub stop_decided: bool,
}

impl Default for InferenceOptions {
    fn default() -> Self {
        InferenceOptions {
            max_new_tokens: 256,
            batch_size: 32,
            stop_decided: false,
        }
    }
}

/// What inference produced.
#[derive(Debug, Clone, Default)]
pub struct InferenceOutputs {
    /// Forget rows with generations and answer NLLs.
    pub forget: Vec<InferenceRow>,
    /// Retain rows likewise.
    pub retain: Vec<InferenceRow>,
    /// `(id, loss)` of member documents.
    pub members: Vec<(String, f64)>,
    /// `(id, loss)` of non-member documents.
    pub nonmembers: Vec<(String, f64)>,
    /// Token statistics of each forget row's answer, parallel to `forget`.
    pub forget_stats: Vec<TokenStats>,
    /// Likewise for `retain`.
    pub retain_stats: Vec<TokenStats>,
    /// Token statistics of each member document, parallel to `members`.
    pub member_stats: Vec<TokenStats>,
    /// Likewise for `nonmembers`.
    pub nonmember_stats: Vec<TokenStats>,
}

/// An inference failure, with the record or document it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct InferenceError {
    /// The record or document.
    pub what: String,
    /// The engine's error.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Generates and scores every record, then the MIA documents. `progress(done, total)` is called
/// after each unit of work.
pub fn run_inference<M: LanguageModel>(
    model: &mut M,
    records: &[Record],
    mia: Option<(&[MiaDocument], &[MiaDocument])>,
    options: InferenceOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<InferenceOutputs, InferenceError> {
    let fail = |what: String| {
        move |e: M::Error| InferenceError {
            what,
            source: Box::new(e),
        }
    };
    let mia_count = mia.map_or(0, |(m, n)| m.len() + n.len());
    let total = 2 * records.len() + mia_count;
    let mut out = InferenceOutputs::default();
    let rows: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.input.as_str(), r.output.as_str()))
        .collect();
    let decided = |i: usize, text: &str| {
        records[i].kind() == lume_data::Kind::Question
            && crate::exact_match_decided(&records[i].output, text)
    };
    let mut count = |n: usize| progress(2 * n, total);
    let results = if options.stop_decided {
        model.generate_and_score_until(&rows, options.max_new_tokens, &decided, &mut count)
    } else {
        model.generate_and_score(&rows, options.max_new_tokens, &mut count)
    }
    .map_err(fail(format!(
        "generating and scoring {} rows",
        records.len()
    )))?;
    if results.len() != records.len() {
        return Err(InferenceError {
            what: "generating and scoring".into(),
            source: format!("{} results for {} rows", results.len(), records.len()).into(),
        });
    }
    for (record, (generation, stats)) in records.iter().zip(results) {
        let row = InferenceRow::from_record(record, generation, stats.mean_nll());
        match record.split {
            Split::Forget => {
                out.forget.push(row);
                out.forget_stats.push(stats);
            }
            Split::Retain => {
                out.retain.push(row);
                out.retain_stats.push(stats);
            }
        }
    }
    if let Some((members, nonmembers)) = mia {
        let mut done = 2 * records.len();
        for (docs, into, stats_into) in [
            (members, &mut out.members, &mut out.member_stats),
            (nonmembers, &mut out.nonmembers, &mut out.nonmember_stats),
        ] {
            let texts: Vec<&str> = docs.iter().map(|d| d.document.as_str()).collect();
            let base = done;
            let stats = model
                .text_stats(&texts, &mut |n| progress(base + n, total))
                .map_err(fail(format!("scoring {} MIA documents", docs.len())))?;
            for (doc, stats) in docs.iter().zip(stats) {
                let loss = stats.mean_nll().ok_or_else(|| InferenceError {
                    what: format!("MIA document {}", doc.id),
                    source: "the document encodes to fewer than two tokens".into(),
                })?;
                into.push((doc.id.clone(), loss));
                stats_into.push(stats);
            }
            done += docs.len();
        }
    }
    Ok(out)
}

impl InferenceOutputs {
    /// Writes `forget_K.csv`, `retain_K.csv` and, with MIA results, `mia_results/member_K.csv`
    /// and `mia_results/nonmember_K.csv` into `dir`, `K` being `shard` (0 when unsharded), the
    /// reference evaluator's layout.
    pub fn write(&self, dir: &Path, shard: usize) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = vec![
            dir.join(format!("forget_{shard}.csv")),
            dir.join(format!("retain_{shard}.csv")),
        ];
        write_inference_csv(&written[0], &self.forget)?;
        write_inference_csv(&written[1], &self.retain)?;
        if !self.members.is_empty() || !self.nonmembers.is_empty() {
            let mia = dir.join("mia_results");
            std::fs::create_dir_all(&mia)?;
            for (name, rows) in [
                (format!("member_{shard}.csv"), &self.members),
                (format!("nonmember_{shard}.csv"), &self.nonmembers),
            ] {
                write_mia_csv(&mia.join(&name), rows)?;
                written.push(mia.join(name));
            }
        }
        Ok(written)
    }
}
