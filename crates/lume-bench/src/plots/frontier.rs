//! `lume tune`'s forget–retain frontier: every trial of every method, the chosen ones ringed,
//! the retain floor dashed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::{Plot, colour, document, escape, forget_retain_frame};
use crate::error::BenchError;
use crate::tune::{Floor, Trial};

/// The frontier's SVG: forget score (x) against retain score (y), one colour per method, each
/// method's non-dominated trials joined by a line.
pub(crate) fn frontier(
    trials: &[Trial],
    chosen: &BTreeMap<String, Option<usize>>,
    floor: &Floor,
) -> String {
    let mut body = String::new();
    let frame = forget_retain_frame(&mut body);
    let y = frame.py(floor.retain);
    let _ = write!(
        body,
        r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#900" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#900">floor</text>"##,
        frame.x0,
        frame.x0 + frame.w,
        frame.x0 + 4.0,
        y - 4.0
    );
    let methods: Vec<&str> = chosen.keys().map(String::as_str).collect();
    for (m, method) in methods.iter().enumerate() {
        let points: Vec<(f64, f64, &Trial)> = trials
            .iter()
            .filter(|t| t.method == *method)
            .filter_map(|t| Some((t.forget?, t.retain?, t)))
            .collect();
        // The frontier: no other trial forgets more and keeps as much.
        let mut front: Vec<(f64, f64)> = points
            .iter()
            .filter(|(f, r, _)| {
                !points
                    .iter()
                    .any(|(f2, r2, _)| (f2 <= f && r2 >= r) && (f2 < f || r2 > r))
            })
            .map(|&(f, r, _)| (f, r))
            .collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        front.dedup();
        if front.len() > 1 {
            let path: Vec<String> = front
                .iter()
                .map(|&(f, r)| format!("{:.1},{:.1}", frame.px(f), frame.py(r)))
                .collect();
            let _ = write!(
                body,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
                path.join(" "),
                colour(m)
            );
        }
        for &(f, r, trial) in &points {
            let (x, y) = (frame.px(f), frame.py(r));
            let _ = write!(
                body,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{}" stroke="#000"/>"##,
                colour(m)
            );
            if chosen.get(*method) == Some(&Some(trial.index)) {
                let _ = write!(
                    body,
                    r##"<circle cx="{x:.1}" cy="{y:.1}" r="8" fill="none" stroke="#000" stroke-width="2"/>"##
                );
            }
        }
        let _ = write!(
            body,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            frame.x0 + frame.w + 10.0,
            frame.y0 + 16.0 * m as f64,
            colour(m),
            frame.x0 + frame.w + 24.0,
            frame.y0 + 16.0 * m as f64 + 9.0,
            escape(method)
        );
    }
    document(
        600.0,
        410.0,
        "Tuning: every trial, forget vs retain (ringed: chosen; dashed: the floor)",
        &body,
    )
}

/// Writes [`frontier`] as `OUT/plots/frontier.svg`.
pub(crate) fn write_frontier(
    trials: &[Trial],
    chosen: &BTreeMap<String, Option<usize>>,
    floor: &Floor,
    out: &Path,
) -> Result<(), BenchError> {
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    let path = dir.join("frontier.svg");
    std::fs::write(&path, frontier(trials, chosen, floor)).map_err(BenchError::io(&path))
}

/// What the report's frontier says about itself.
const CAPTION: &str = "`lume tune`'s trials: forget score against retain score (left and up \
     is better: forgets more, keeps more); ringed: the setting chosen per method; dashed: the \
     retain floor.";

/// The frontier of the tune in `out` (drawn again from `tune/trials.json`, never read as SVG),
/// when `out` holds one.
pub(crate) fn frontier_plot(out: &Path) -> Result<Option<Plot>, BenchError> {
    #[derive(Deserialize)]
    struct Written {
        floor: Floor,
        trials: Vec<Trial>,
        chosen: BTreeMap<String, Option<usize>>,
    }
    let path = out.join("tune").join("trials.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = lume_data::read_regular_string(&path).map_err(BenchError::io(&path))?;
    let written: Written = serde_json::from_str(&text).map_err(|e| BenchError::Outputs {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(Some(Plot {
        file: "frontier.svg".into(),
        svg: frontier(&written.trials, &written.chosen, &written.floor),
        caption: CAPTION,
    }))
}
