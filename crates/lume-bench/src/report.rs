//! `report.html`: one self-contained page per run folder (a `lume bench` output or a
//! `lume eval` folder) with the leaderboard, checks, plots, every generation and the run's
//! config; styles, script, plots and data inline, so it opens from disk with no network.

mod drill;
mod page;

use std::path::{Path, PathBuf};

use crate::error::BenchError;
use crate::leaderboard::{Checks, Leaderboard};
use crate::metric::Metrics;
use crate::plots::{Plot, render_plots};
use crate::summary::EvalSummary;

pub use drill::{Generation, ReportRow};

/// What a report shows, read from a run folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// The folder's name, the page's title.
    pub name: String,
    /// The leaderboard (one row for an evaluation folder).
    pub board: Leaderboard,
    /// The plots, in the report's order.
    pub plots: Vec<Plot>,
    /// `bench_config.toml` as written, when there is one.
    pub config: Option<String>,
    /// The models whose generations were found, in the leaderboard's order.
    pub models: Vec<String>,
    /// Every benchmark row with each model's generation.
    pub rows: Vec<ReportRow>,
}

impl RunFolder {
    /// Reads the run in `dir`: a benchmark output (`leaderboard.json`, `plots/`,
    /// `models/<name>/`) or an evaluation folder (`evaluation_results.json` beside the
    /// inference CSVs, scored again here).
    pub fn read(dir: &Path) -> Result<Self, BenchError> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        if dir.join("leaderboard.json").is_file() {
            Self::read_bench(dir, name)
        } else if dir.join("evaluation_results.json").is_file() {
            Self::read_eval(dir, name)
        } else {
            Err(BenchError::Config(format!(
                "{}: not a run folder (no leaderboard.json from `lume bench`, no evaluation_results.json from `lume eval`)",
                dir.display()
            )))
        }
    }

    fn read_bench(dir: &Path, name: String) -> Result<Self, BenchError> {
        let board = Leaderboard::read(dir)?;
        let config_path = dir.join("bench_config.toml");
        let config = std::fs::read_to_string(&config_path).ok();
        // Every model's outputs are under `models/` (a given checkpoint's too).
        let found: Vec<(String, PathBuf)> = board
            .rows
            .iter()
            .map(|r| &r.summary.model)
            .map(|model| (model.clone(), dir.join("models").join(model)))
            .filter(|(_, outputs)| drill::has_outputs(outputs))
            .collect();
        // Drawn again from the leaderboard, never read from disk: the page embeds only what
        // lume renders itself, so a tampered `plots/*.svg` cannot put script in it.
        let mut plots = render_plots(&board);
        plots.extend(crate::plots::frontier_plot(dir)?);
        let (models, rows) = drill::gather(&found)?;
        Ok(RunFolder {
            name,
            board,
            plots,
            config,
            models,
            rows,
        })
    }

    fn read_eval(dir: &Path, name: String) -> Result<Self, BenchError> {
        let mmlu = dir.join("mmlu_metrics.json");
        let report = crate::outputs::score_checked(dir, mmlu.is_file().then_some(mmlu.as_path()))?;
        // No gold model here, so no forget quality: the NLLs are not needed.
        let summary = EvalSummary::scored(&name, &report);
        let mut board = Leaderboard::new(false, false, Checks(Vec::new()), &Metrics::none());
        board.push(&summary, None);
        let (models, rows) = drill::gather(&[(name.clone(), dir.to_path_buf())])?;
        Ok(RunFolder {
            name,
            plots: render_plots(&board)
                .into_iter()
                .filter(|p| p.file != "loss_curves.svg")
                .collect(),
            board,
            config: None,
            models,
            rows,
        })
    }
}

/// The report page of the run in `dir` (see [`RunFolder::read`]).
pub(crate) fn render_report(dir: &Path) -> Result<String, BenchError> {
    Ok(page::render(&RunFolder::read(dir)?))
}

/// Writes `dir/report.html`, the page of the `lume bench` or `lume eval` folder `dir`, and
/// returns its path.
///
/// ```no_run
/// let page = lume_bench::write_report("lume-bench".as_ref())?;
/// println!("open {}", page.display());
/// # Ok::<(), lume_bench::BenchError>(())
/// ```
pub fn write_report(dir: &Path) -> Result<PathBuf, BenchError> {
    let html = render_report(dir)?;
    let path = dir.join("report.html");
    lume_model::write_atomically(&path, html.as_bytes())?;
    Ok(path)
}
