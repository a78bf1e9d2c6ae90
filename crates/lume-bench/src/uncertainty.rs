//! Uncertainty of evaluations on disk: the bootstrap's resample indices written out for an
//! independent check, and the paired comparison of two evaluation folders.

use std::path::Path;

use lume_metrics::{BootstrapConfig, Comparison, Resamples, ScoreReport, compare};

use crate::error::{BenchError, Context, write_json};

/// Writes `report`'s per-row values and the resample indices `config` draws for them as JSON
/// (`{"sample": …, "resamples": …, "bootstrap": …}`): what `scripts/bootstrap_reference.py
/// check` recomputes with numpy.
pub fn write_resamples(
    report: &ScoreReport,
    config: BootstrapConfig,
    path: &Path,
) -> Result<(), BenchError> {
    let sample = report.sample();
    let resamples = Resamples::draw(&sample, config);
    let bootstrap = lume_metrics::bootstrap_with(&sample, &resamples);
    write_json(
        path,
        &serde_json::json!({ "sample": sample, "resamples": resamples, "bootstrap": bootstrap }),
    )
}

/// One evaluation folder and its optional MMLU result file.
#[derive(Debug, Clone, Copy)]
pub struct EvalDir<'a> {
    /// Folder in the reference layout (`forget_*.csv`, `retain_*.csv`, `mia_results/`).
    pub dir: &'a Path,
    /// JSON with `average_acc`.
    pub mmlu_metrics: Option<&'a Path>,
}

/// The paired bootstrap comparison of evaluation `a` against `b` (the same rows, matched by
/// id), written to `json` when given.
pub fn compare_outputs(
    a: EvalDir<'_>,
    b: EvalDir<'_>,
    config: BootstrapConfig,
    json: Option<&Path>,
) -> Result<Comparison, BenchError> {
    let score = |s: EvalDir<'_>| {
        crate::outputs::score_checked(s.dir, s.mmlu_metrics)
            .context(|| format!("scoring {}", s.dir.display()))
    };
    let (ra, rb) = (score(a)?, score(b)?);
    let comparison = compare(&ra.sample(), &rb.sample(), config).map_err(|e| {
        BenchError::Config(format!("{} vs {}: {e}", a.dir.display(), b.dir.display()))
    })?;
    if let Some(path) = json {
        let value = serde_json::json!({
            "a": a.dir, "b": b.dir, "comparison": comparison,
        });
        write_json(path, &value)?;
    }
    Ok(comparison)
}
