//! SVG plots of a leaderboard: the forget/retain trade-off, per-task bars, loss curves.
//! Plain SVG written by hand: three simple chart types, no font or system dependency.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::BenchError;
use crate::leaderboard::{Leaderboard, split_mean};

mod frontier;
mod probes;
pub(crate) use frontier::{frontier_plot, write_frontier};

const PALETTE: [&str; 10] = [
    "#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000",
    "#ee8866", "#44bb99",
];

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `text` safe inside XML or HTML text and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plotting area of `w × h` at (`x0`, `y0`) mapping `[xmin, xmax] × [ymin, ymax]`.
struct Frame {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        let span = (self.x.1 - self.x.0).max(1e-12);
        self.x0 + (x - self.x.0) / span * self.w
    }
    fn py(&self, y: f64) -> f64 {
        let span = (self.y.1 - self.y.0).max(1e-12);
        self.y0 + self.h - (y - self.y.0) / span * self.h
    }

    /// The plotting area's outline.
    fn border(&self, svg: &mut String) {
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#333"/>"##,
            self.x0, self.y0, self.w, self.h
        );
    }

    /// Outline and horizontal lines at quarters of the y range, labelled (bar charts).
    fn gridlines(&self, svg: &mut String) {
        self.border(svg);
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let v = self.y.0 + f * (self.y.1 - self.y.0);
            let y = self.py(v);
            let _ = write!(
                svg,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{v:.2}</text>"##,
                self.x0,
                self.x0 + self.w,
                self.x0 - 5.0,
                y + 3.0
            );
        }
    }

    /// Outline, ticks at quarters, and labels.
    fn axes(&self, svg: &mut String, x_label: &str, y_label: &str) {
        let y1 = self.y0 + self.h;
        self.border(svg);
        for i in 0..=4 {
            let f = f64::from(i) / 4.0;
            let (xv, yv) = (
                self.x.0 + f * (self.x.1 - self.x.0),
                self.y.0 + f * (self.y.1 - self.y.0),
            );
            let (xp, yp) = (self.px(xv), self.py(yv));
            let _ = write!(
                svg,
                r##"<line x1="{xp:.1}" y1="{y1:.1}" x2="{xp:.1}" y2="{:.1}" stroke="#333"/><text x="{xp:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
                y1 + 4.0,
                y1 + 15.0,
                tick(xv)
            );
            let _ = write!(
                svg,
                r##"<line x1="{:.1}" y1="{yp:.1}" x2="{:.1}" y2="{yp:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="10">{}</text>"##,
                self.x0 - 4.0,
                self.x0,
                self.x0 - 6.0,
                yp + 3.0,
                tick(yv)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
            self.x0 + self.w / 2.0,
            y1 + 32.0,
            escape(x_label)
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
            self.x0 - 40.0,
            self.y0 + self.h / 2.0,
            self.x0 - 40.0,
            self.y0 + self.h / 2.0,
            escape(y_label)
        );
    }
}

fn tick(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn document(width: f64, height: f64, title: &str, body: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{:.1}" y="20" text-anchor="middle" font-size="14">{}</text>{body}</svg>
"#,
        width / 2.0,
        escape(title)
    )
}

/// A whisker from `a` to `b` with short caps, drawn in black over white so it reads on any
/// fill.
fn error_bar(svg: &mut String, a: (f64, f64), b: (f64, f64)) {
    let vertical = (a.0 - b.0).abs() < 1e-9;
    let cap = |(x, y): (f64, f64)| {
        if vertical {
            ((x - 3.0, y), (x + 3.0, y))
        } else {
            ((x, y - 3.0), (x, y + 3.0))
        }
    };
    for (colour, width) in [("#fff", 3.0), ("#000", 1.0)] {
        for ((x1, y1), (x2, y2)) in [(a, b), cap(a), cap(b)] {
            let _ = write!(
                svg,
                r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="{width}"/>"#
            );
        }
    }
}

/// The forget-score (x) against retain-score (y) frame, its axes drawn into `body`.
fn forget_retain_frame(body: &mut String) -> Frame {
    let frame = Frame {
        x0: 70.0,
        y0: 40.0,
        w: 420.0,
        h: 320.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    frame.axes(
        body,
        "forget score (mean of 6; lower = more forgotten)",
        "retain score (mean of 6)",
    );
    frame
}

/// Forget score against retain score, one point per model.
fn trade_off(board: &Leaderboard) -> String {
    let mut body = String::new();
    let frame = forget_retain_frame(&mut body);
    for (i, row) in board.rows.iter().enumerate() {
        let s = &row.summary;
        let (Some(f), Some(r)) = (split_mean(&s.scores, 0), split_mean(&s.scores, 1)) else {
            continue;
        };
        let (x, y) = (frame.px(f), frame.py(r));
        if let Some([Some(fi), Some(ri)]) = row.intervals.as_ref().map(|i| i.split_means) {
            error_bar(&mut body, (frame.px(fi.low), y), (frame.px(fi.high), y));
            error_bar(&mut body, (x, frame.py(ri.low)), (x, frame.py(ri.high)));
        }
        let shape = match s.model.as_str() {
            "target" | "gold" => format!(
                r##"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}" stroke="#000"/>"##,
                x - 5.0,
                y - 5.0,
                colour(i)
            ),
            _ => format!(
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{}" stroke="#000"/>"##,
                colour(i)
            ),
        };
        body.push_str(&shape);
        let _ = write!(
            body,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 7.0,
            y - 6.0,
            escape(&s.model)
        );
    }
    document(
        520.0,
        410.0,
        "Forget vs retain (ideal: top left; whiskers: 95 % intervals)",
        &body,
    )
}

/// The 12 task scores, one bar per model in each group.
fn task_bars(board: &Leaderboard) -> String {
    let groups: Vec<String> = ["F", "R"]
        .iter()
        .flat_map(|s| (1..=3).flat_map(move |t| ["reg", "kn"].map(|k| format!("{s}{t} {k}"))))
        .collect();
    let models = board.rows.len().max(1);
    let group_w = 16.0 * models as f64 + 14.0;
    let frame = Frame {
        x0: 60.0,
        y0: 40.0,
        w: group_w * groups.len() as f64,
        h: 260.0,
        x: (0.0, groups.len() as f64),
        y: (0.0, 1.0),
    };
    let mut body = String::new();
    frame.gridlines(&mut body);
    for (g, name) in groups.iter().enumerate() {
        let left = frame.x0 + g as f64 * group_w + 7.0;
        for (m, row) in board.rows.iter().enumerate() {
            let scores: Vec<Option<f64>> = row
                .summary
                .scores
                .iter()
                .flatten()
                .flatten()
                .copied()
                .collect();
            let Some(v) = scores[g] else { continue };
            let (top, base) = (frame.py(v), frame.py(0.0));
            let x = left + 16.0 * m as f64;
            let _ = write!(
                body,
                r#"<rect x="{x:.1}" y="{top:.1}" width="14" height="{:.1}" fill="{}"/>"#,
                (base - top).max(0.0),
                colour(m)
            );
            let interval = row
                .intervals
                .as_ref()
                .and_then(|i| i.cells[g / 6][(g / 2) % 3][g % 2]);
            if let Some(i) = interval {
                let mid = x + 7.0;
                error_bar(&mut body, (mid, frame.py(i.low)), (mid, frame.py(i.high)));
            }
        }
        let _ = write!(
            body,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{name}</text>"#,
            left + 8.0 * models as f64,
            frame.y0 + frame.h + 16.0
        );
    }
    let legend_y = frame.y0 + frame.h + 36.0;
    for (m, row) in board.rows.iter().enumerate() {
        let x = frame.x0 + 110.0 * (m % 8) as f64;
        let y = legend_y + 16.0 * (m / 8) as f64;
        let _ = write!(
            body,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" font-size="11">{}</text>"#,
            y - 9.0,
            colour(m),
            x + 14.0,
            escape(&row.summary.model)
        );
    }
    let height = legend_y + 16.0 * (models.div_ceil(8)) as f64 + 10.0;
    document(
        frame.x0 + frame.w + 20.0,
        height,
        "Task scores (F = forget, R = retain; reg = regurgitation, kn = knowledge; whiskers: 95 % intervals)",
        &body,
    )
}

/// The training loss of every run, one panel each.
fn loss_curves(board: &Leaderboard) -> String {
    let runs: Vec<_> = board
        .rows
        .iter()
        .filter(|r| !r.summary.loss_curve.is_empty())
        .collect();
    let columns = 3;
    let (pw, ph) = (260.0, 170.0);
    let mut body = String::new();
    for (i, row) in runs.iter().enumerate() {
        let curve = &row.summary.loss_curve;
        let (lo, hi) = curve
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
                (lo.min(v), hi.max(v))
            });
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let frame = Frame {
            x0: 70.0 + (i % columns) as f64 * (pw + 80.0),
            y0: 50.0 + (i / columns) as f64 * (ph + 70.0),
            w: pw,
            h: ph,
            x: (1.0, curve.len().max(2) as f64),
            y: (lo - pad, hi + pad),
        };
        frame.axes(&mut body, "step", "loss");
        let points: Vec<String> = curve
            .iter()
            .map(|&(step, v)| format!("{:.1},{:.1}", frame.px(step as f64), frame.py(v)))
            .collect();
        let _ = write!(
            body,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="12">{}</text>"#,
            points.join(" "),
            colour(i),
            frame.x0 + pw / 2.0,
            frame.y0 - 6.0,
            escape(&row.summary.model)
        );
    }
    let rows = runs.len().div_ceil(columns).max(1);
    document(
        70.0 + columns as f64 * (pw + 80.0),
        60.0 + rows as f64 * (ph + 70.0),
        "Training loss of every run",
        &body,
    )
}

/// One plot of a run: its file name under `OUT/plots`, its SVG, and how to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    /// `trade_off.svg`, …
    pub file: String,
    /// The SVG document.
    pub svg: String,
    /// One line that says how to read it.
    pub caption: &'static str,
}

/// Every plot of `file`'s name this crate draws, with its caption, in the report's order.
pub(crate) const PLOTS: [(&str, &str); 6] = [
    (
        "trade_off.svg",
        "Each model's mean forget score (x) against its mean retain score (y): a good method sits top left, far left of the target and level with it; whiskers are 95 % row-bootstrap intervals.",
    ),
    (
        "task_scores.svg",
        "The 12 task scores, one bar per model in each group: forget bars (F) should fall towards gold's, retain bars (R) stay at the target's; whiskers are 95 % intervals.",
    ),
    (
        "loss_curves.svg",
        "Training loss per step of every run (fine-tuning and unlearning), one panel each: a curve that explodes or goes flat at once points at the learning rate.",
    ),
    (
        "relearning.svg",
        "Held-out forget score before and after a few relearning steps on other forget rows: a bar that climbs back to the target's means the knowledge was hidden, not removed.",
    ),
    (
        "requests.svg",
        "Forget (solid) and retain (dashed) scores after each successive deletion request: retain should hold as requests pile up.",
    ),
    (
        "scaling.svg",
        "Forget (solid) and retain (dashed) scores as a larger share of the forget set is unlearned: retain should hold as the share grows.",
    ),
];

/// The plots of `board`: trade-off, task scores and loss curves, and when probes ran
/// relearning, requests and scaling.
pub fn render_plots(board: &Leaderboard) -> Vec<Plot> {
    let drawn = [
        Some(trade_off(board)),
        Some(task_bars(board)),
        Some(loss_curves(board)),
        probes::relearning(board),
        probes::requests(board),
        probes::scaling(board),
    ];
    PLOTS
        .iter()
        .zip(drawn)
        .filter_map(|((file, caption), svg)| {
            Some(Plot {
                file: file.to_string(),
                svg: svg?,
                caption,
            })
        })
        .collect()
}

/// Writes [`render_plots`] into `OUT/plots/`.
pub fn write_plots(board: &Leaderboard, out: &Path) -> Result<(), BenchError> {
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir).map_err(BenchError::io(&dir))?;
    for plot in render_plots(board) {
        let path = dir.join(&plot.file);
        std::fs::write(&path, plot.svg).map_err(BenchError::io(&path))?;
    }
    Ok(())
}
