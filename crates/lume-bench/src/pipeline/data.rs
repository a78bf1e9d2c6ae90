//! The benchmark's data as a run uses it: generated or copied into `OUT/data`, with its hash.

use std::path::PathBuf;

use lume_data::{Benchmark, MiaSet, SynthConfig, synthesize};

use super::BenchInputs;
use crate::config::BenchConfig;
use crate::error::BenchError;
use crate::provenance::data_digest;

/// The benchmark's files, as this run uses them.
pub(super) struct Dataset {
    pub(super) bench: Benchmark,
    pub(super) mia: Option<MiaSet>,
    pub(super) mmlu: Option<PathBuf>,
    pub(super) hash: String,
    pub(super) synthetic: bool,
    /// Utility comes from the generated quiz (not a real MMLU).
    pub(super) quiz: bool,
    /// What the data drawn is (the fraction's size).
    pub(super) notes: Vec<String>,
    /// What the fraction left out that the user should know (no membership documents).
    pub(super) warnings: Vec<String>,
}

/// Writes the dataset used into `OUT/data` (generated, or copied from `inputs.data`).
pub(super) fn prepare_data(
    config: &BenchConfig,
    inputs: &BenchInputs,
) -> Result<Dataset, BenchError> {
    let dir = inputs.out.join("data");
    let given = inputs.data.as_deref();
    let synthetic = given.is_none();
    if dir.exists() {
        // Written afresh each time (it is cheap): no file of another dataset stays behind.
        std::fs::remove_dir_all(&dir).map_err(BenchError::io(&dir))?;
    }
    let (records, mia): (Vec<_>, _) = match given {
        None => {
            if config.docs_per_task < 2 {
                return Err(BenchError::Config(
                    "docs_per_task must be at least 2 (one forget, one retain document)".into(),
                ));
            }
            let synth = synthesize(SynthConfig {
                seed: config.seed,
                docs_per_task: config.docs_per_task,
            });
            synth.quiz.write(&dir.join("mmlu"))?;
            let mia = MiaSet {
                members: synth.members,
                nonmembers: synth.nonmembers,
            };
            (
                synth.forget.into_iter().chain(synth.retain).collect(),
                Some(mia),
            )
        }
        Some(source) => {
            let records = Benchmark::load(source)?.records;
            let mia_dir = inputs.mia.clone().unwrap_or_else(|| source.join("mia"));
            let mia = (inputs.mia.is_some() || mia_dir.is_dir())
                .then(|| MiaSet::load(&mia_dir))
                .transpose()?;
            (records, mia)
        }
    };
    let (mut notes, mut warnings) = (Vec::new(), Vec::new());
    let (bench, mia) = if config.data.is_whole() {
        (Benchmark { records }, mia)
    } else {
        let bench = Benchmark { records }
            .fraction(&config.data)
            .map_err(|e| BenchError::Config(format!("data.{e}")))?;
        let mia = mia.map(|m| m.following(&bench, config.data.seed));
        let mia = match mia {
            Some(m) if m.members.is_empty() => {
                warnings.push(format!(
                    "no membership document is among the {} forget documents of data.fraction = {}: \
                     no MIA scores",
                    bench.split(lume_data::Split::Forget).map(|r| r.document_id()).collect::<std::collections::HashSet<_>>().len(),
                    config.data.fraction
                ));
                None
            }
            other => other,
        };
        notes.push(format!(
            "data.fraction = {}: {} rows, {} + {} membership documents",
            config.data.fraction,
            bench.records.len(),
            mia.as_ref().map_or(0, |m| m.members.len()),
            mia.as_ref().map_or(0, |m| m.nonmembers.len()),
        ));
        (bench, mia)
    };
    // Forget records first, then retain: the order `Benchmark::load` reads them back in.
    let (forget, retain): (Vec<_>, Vec<_>) = bench
        .records
        .into_iter()
        .partition(|r| r.split == lume_data::Split::Forget);
    lume_data::write_jsonl(&dir.join("forget.jsonl"), &forget)?;
    lume_data::write_jsonl(&dir.join("retain.jsonl"), &retain)?;
    if let Some(mia) = &mia {
        lume_data::write_mia(&dir.join("mia").join("member.jsonl"), &mia.members)?;
        lume_data::write_mia(&dir.join("mia").join("nonmember.jsonl"), &mia.nonmembers)?;
    }
    let bench = Benchmark {
        records: forget.into_iter().chain(retain).collect(),
    };
    let quiz = synthetic && inputs.mmlu.is_none();
    let mmlu = match (&inputs.mmlu, given) {
        (Some(m), _) => Some(m.clone()),
        (None, None) => Some(dir.join("mmlu")),
        (None, Some(source)) => {
            let m = source.join("mmlu");
            m.is_dir().then_some(m)
        }
    };
    let hash = data_digest(&bench, mia.as_ref());
    Ok(Dataset {
        bench,
        mia,
        mmlu,
        hash,
        synthetic,
        quiz,
        notes,
        warnings,
    })
}
