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
    // Forget records first, then retain: the order `Benchmark::load` reads them back in.
    let (records, mia) = match given {
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
            synth.write(&dir)?;
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
            let (forget, retain): (Vec<_>, Vec<_>) = Benchmark::load(source)?
                .records
                .into_iter()
                .partition(|r| r.split == lume_data::Split::Forget);
            lume_data::write_jsonl(&dir.join("forget.jsonl"), &forget)?;
            lume_data::write_jsonl(&dir.join("retain.jsonl"), &retain)?;
            let mia_dir = inputs.mia.clone().unwrap_or_else(|| source.join("mia"));
            let mia = (inputs.mia.is_some() || mia_dir.is_dir())
                .then(|| MiaSet::load(&mia_dir))
                .transpose()?;
            if let Some(mia) = &mia {
                lume_data::write_mia(&dir.join("mia").join("member.jsonl"), &mia.members)?;
                lume_data::write_mia(&dir.join("mia").join("nonmember.jsonl"), &mia.nonmembers)?;
            }
            (forget.into_iter().chain(retain).collect(), mia)
        }
    };
    let bench = Benchmark { records };
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
    })
}
