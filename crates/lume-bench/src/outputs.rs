//! Evaluation folders that say what they hold: every shard `lume eval` writes gets
//! `manifest_<K>.json` (what made it: model and data digests, settings, numerics, the shard
//! count; the files it wrote with their row counts), written after its files, so a shard
//! without one never finished. Scoring a folder with manifests refuses foreign, missing or
//! altered shards, repeated ids and non-finite losses; a folder in the reference evaluator's
//! own layout (no manifest) is scored as the reference scores it, with a warning that counts
//! what the reference does silently.

use std::path::{Path, PathBuf};

use lume_metrics::{Irregularities, Outputs, read_outputs};
use lume_model::Numerics;
use serde::{Deserialize, Serialize};

use crate::error::{BenchError, write_json};
use crate::provenance::OutputLock;

const MANIFEST_PREFIX: &str = "manifest_";

/// What made an evaluation: the same for every shard of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Made {
    /// Digest of the checkpoint's files.
    pub(crate) model: String,
    /// Digest of the records, MIA documents and MMLU questions.
    pub(crate) data: String,
    /// The evaluation settings, as written.
    pub(crate) settings: String,
    /// lume's version, numerics version and kernel path.
    pub(crate) numerics: Numerics,
    /// How many shards the evaluation has.
    pub(crate) shards: usize,
}

/// `manifest_<K>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    made: Made,
    shard: usize,
    /// The files written, relative to the folder, with their rows.
    files: Vec<(String, usize)>,
}

fn manifest_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("{MANIFEST_PREFIX}{shard}.json"))
}

/// The files of an evaluation folder that lume writes (relative to it).
fn output_files(dir: &Path) -> Vec<String> {
    let listed = |sub: &str, prefixes: &[&str]| -> Vec<String> {
        let folder = if sub.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(sub)
        };
        let Ok(entries) = std::fs::read_dir(folder) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| {
                prefixes.iter().any(|p| n.starts_with(&format!("{p}_")))
                    && (n.ends_with(".csv") || n.ends_with(".json"))
            })
            .map(|n| {
                if sub.is_empty() {
                    n
                } else {
                    format!("{sub}/{n}")
                }
            })
            .collect();
        names.sort();
        names
    };
    let mut files = listed("", &["forget", "retain", "manifest"]);
    files.extend(listed("mia_results", &["member", "nonmember"]));
    files.extend(
        ["evaluation_results.json", "mmlu_metrics.json"]
            .into_iter()
            .filter(|f| dir.join(f).is_file())
            .map(str::to_owned),
    );
    files
}

fn read_manifests(dir: &Path) -> Result<Vec<(PathBuf, Manifest)>, BenchError> {
    let mut found = Vec::new();
    for name in output_files(dir) {
        if !name.starts_with(MANIFEST_PREFIX) {
            continue;
        }
        let path = dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(BenchError::io(&path))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| BenchError::Outputs {
            path: path.clone(),
            message: format!("not a manifest lume wrote: {e}"),
        })?;
        found.push((path, manifest));
    }
    Ok(found)
}

/// Before shard `shard` of an evaluation made from `made` writes into `dir`: takes the
/// shard's lock, refuses a folder holding another evaluation's outputs (unless `replace`,
/// which removes them), and removes this shard's old manifest so that a killed run leaves it
/// unfinished.
pub(crate) fn prepare(
    dir: &Path,
    made: &Made,
    shard: usize,
    replace: bool,
) -> Result<OutputLock, BenchError> {
    let lock = OutputLock::acquire(dir, &format!(".lume-shard-{shard}.lock"))?;
    let manifests = read_manifests(dir)?;
    // Files of this very shard left by a killed attempt of the same evaluation are its own.
    let resumed = std::fs::read_to_string(partial_path(dir, shard))
        .ok()
        .and_then(|text| serde_json::from_str::<Made>(&text).ok())
        .is_some_and(|m| m == *made);
    let own_files = shard_files(shard);
    let foreign = manifests
        .iter()
        .find(|(_, m)| m.made != *made)
        .map(|(path, m)| describe(path, &m.made, made));
    let unclaimed = output_files(dir).into_iter().find(|name| {
        let ours = name.starts_with(MANIFEST_PREFIX)
            || name == "evaluation_results.json"
            || (resumed && own_files.contains(name));
        !ours
            && !manifests
                .iter()
                .any(|(_, m)| m.files.iter().any(|(f, _)| f == name))
    });
    let problem = foreign
        .or_else(|| unclaimed.map(|name| format!("{name} was not written by this evaluation")));
    match problem {
        Some(problem) if !replace => {
            return Err(BenchError::Stale {
                path: dir.to_path_buf(),
                message: format!(
                    "holds another evaluation's outputs ({problem}); write to another folder, \
                     or pass --replace to remove them"
                ),
            });
        }
        Some(_) => {
            for name in output_files(dir) {
                let path = dir.join(name);
                std::fs::remove_file(&path).map_err(BenchError::io(&path))?;
            }
        }
        None => {}
    }
    // The attempt is marked before anything is written, and its manifest only after.
    let partial = partial_path(dir, shard);
    let value = serde_json::to_value(made)
        .map_err(|e| BenchError::Config(format!("{}: {e}", partial.display())))?;
    write_json(&partial, &value)?;
    let own = manifest_path(dir, shard);
    if own.exists() {
        std::fs::remove_file(&own).map_err(BenchError::io(&own))?;
    }
    Ok(lock)
}

/// `.manifest_<K>.partial.json`: shard K of the evaluation it holds is being written.
fn partial_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!(".{MANIFEST_PREFIX}{shard}.partial.json"))
}

/// The files shard `shard` writes (relative to the folder).
fn shard_files(shard: usize) -> Vec<String> {
    let mut files: Vec<String> = [
        "forget",
        "retain",
        "mia_results/member",
        "mia_results/nonmember",
    ]
    .iter()
    .map(|prefix| format!("{prefix}_{shard}.csv"))
    .collect();
    if shard == 0 {
        files.push("mmlu_metrics.json".into());
    }
    files
}

/// What differs between the evaluation of `found` (in `path`) and `made`, in words.
fn describe(path: &Path, found: &Made, made: &Made) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let what = if found.model != made.model {
        "another model".to_owned()
    } else if found.data != made.data {
        "other data".to_owned()
    } else if found.settings != made.settings {
        format!("other settings: {}", found.settings)
    } else if found.shards != made.shards {
        format!("{} shards, not {}", found.shards, made.shards)
    } else {
        format!("another lume build or CPU: {:?}", found.numerics)
    };
    format!("{name} is of {what}")
}

/// Writes shard `shard`'s manifest, after its `files` (absolute, with their rows).
pub(crate) fn finish(
    dir: &Path,
    made: &Made,
    shard: usize,
    files: &[(PathBuf, usize)],
) -> Result<(), BenchError> {
    let files = files
        .iter()
        .map(|(path, rows)| {
            let relative = path.strip_prefix(dir).unwrap_or(path);
            (relative.to_string_lossy().replace('\\', "/"), *rows)
        })
        .collect();
    let manifest = Manifest {
        made: made.clone(),
        shard,
        files,
    };
    let path = manifest_path(dir, shard);
    let value = serde_json::to_value(&manifest)
        .map_err(|e| BenchError::Config(format!("{}: {e}", path.display())))?;
    write_json(&path, &value)?;
    let partial = partial_path(dir, shard);
    std::fs::remove_file(&partial).map_err(BenchError::io(&partial))
}

/// How strictly a folder is read for scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Folders with manifests are checked; a folder in the reference layout is scored as the
    /// reference scores it, and its irregularities returned to warn about.
    #[default]
    AsReference,
    /// Every folder must have manifests (and pass their checks).
    Strict,
}

/// The outputs of `dir`, checked against its manifests when it has any (see the module
/// docs). Returns the irregularities a folder without manifests has, for a warning.
pub fn read_checked(
    dir: &Path,
    strictness: Strictness,
) -> Result<(Outputs, Irregularities), BenchError> {
    let outputs = read_outputs(dir)?;
    let manifests = read_manifests(dir)?;
    let irregular = outputs.irregularities();
    let Some((first_path, first)) = manifests.first() else {
        if strictness == Strictness::Strict {
            return Err(BenchError::Outputs {
                path: dir.to_path_buf(),
                message: "no manifest_<K>.json: not an evaluation lume wrote (--strict)".into(),
            });
        }
        return Ok((outputs, irregular));
    };
    let bad = |path: &Path, message: String| BenchError::Outputs {
        path: path.to_path_buf(),
        message,
    };
    let made = &first.made;
    if let Some((path, m)) = manifests.iter().find(|(_, m)| m.made != *made) {
        return Err(bad(dir, describe(path, &m.made, made)));
    }
    for shard in 0..made.shards {
        if !manifests.iter().any(|(_, m)| m.shard == shard) {
            return Err(bad(
                dir,
                format!(
                    "shard {shard} of {} has not finished (no manifest_{shard}.json): \
                     run lume eval --shard {shard}/{} into this folder",
                    made.shards, made.shards
                ),
            ));
        }
    }
    if let Some((path, m)) = manifests.iter().find(|(_, m)| m.shard >= made.shards) {
        return Err(bad(
            path,
            format!("shard {} of an evaluation in {}", m.shard, made.shards),
        ));
    }
    for (path, rows) in &outputs.files {
        let name = path.strip_prefix(dir).unwrap_or(path).to_string_lossy();
        let name = name.replace('\\', "/");
        match manifests
            .iter()
            .flat_map(|(_, m)| &m.files)
            .find(|(f, _)| *f == name)
        {
            None => {
                return Err(bad(
                    path,
                    format!(
                        "no manifest lists this file (left from another evaluation? see {})",
                        first_path.display()
                    ),
                ));
            }
            Some((_, expected)) if expected != rows => {
                return Err(bad(
                    path,
                    format!("{rows} rows, but its manifest says {expected}"),
                ));
            }
            Some(_) => {}
        }
    }
    let csv = |(f, _): &&(String, usize)| f.ends_with(".csv");
    let missing = manifests
        .iter()
        .flat_map(|(_, m)| &m.files)
        .filter(csv)
        .find(|(f, _)| {
            !outputs.files.iter().any(|(p, _)| {
                p.strip_prefix(dir)
                    .unwrap_or(p)
                    .to_string_lossy()
                    .replace('\\', "/")
                    == *f
            })
        });
    if let Some((name, _)) = missing {
        return Err(bad(
            &dir.join(name),
            "listed in a manifest, but not there".into(),
        ));
    }
    // Ids without the sc/qa suffix are the data's own; the reference drops them, and so do we.
    if irregular.repeated > 0 || irregular.non_finite > 0 {
        return Err(bad(
            dir,
            format!("outputs lume would never write: {irregular}"),
        ));
    }
    Ok((outputs, Irregularities::default()))
}

/// The report of the folder `dir` read by [`read_checked`] (as the reference would where it
/// has no manifest), with the MMLU result in `mmlu_metrics`.
pub(crate) fn score_checked(
    dir: &Path,
    mmlu_metrics: Option<&Path>,
) -> Result<lume_metrics::ScoreReport, BenchError> {
    let (outputs, _) = read_checked(dir, Strictness::AsReference)?;
    let mmlu = mmlu_metrics
        .map(lume_metrics::read_mmlu_metrics)
        .transpose()?;
    Ok(outputs.score(dir, mmlu)?)
}
