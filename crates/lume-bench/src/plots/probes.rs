//! The probes' plots: what relearning brings back, and the successive-request and scaling
//! curves.

use std::fmt::Write as _;

use super::{Frame, colour, document, escape};
use crate::leaderboard::Leaderboard;
use crate::probes::{Point, ProbeResults};

/// Per method, the held-out forget score of the target, the unlearned model, and after
/// relearning on forget rows and (control) on retain rows.
pub(super) fn relearning(board: &Leaderboard) -> Option<String> {
    let methods: Vec<_> = board
        .rows
        .iter()
        .filter_map(|r| Some((&r.summary.model, r.probes.as_ref()?.relearn.as_ref()?)))
        .collect();
    if methods.is_empty() {
        return None;
    }
    let series = [
        "target",
        "unlearned",
        "relearned on forget rows",
        "relearned on retain rows",
    ];
    let group_w = 16.0 * series.len() as f64 + 20.0;
    let frame = Frame {
        x0: 60.0,
        y0: 40.0,
        w: (group_w * methods.len() as f64).max(620.0),
        h: 240.0,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    let mut body = String::new();
    frame.gridlines(&mut body);
    for (m, (name, relearn)) in methods.iter().enumerate() {
        let left = frame.x0 + m as f64 * group_w + 10.0;
        let values = [
            relearn.target.forget,
            relearn.unlearned.forget,
            relearn.after_forget.forget,
            relearn.after_retain.forget,
        ];
        for (k, value) in values.into_iter().enumerate() {
            let Some(v) = value else { continue };
            let (top, base) = (frame.py(v), frame.py(0.0));
            let _ = write!(
                body,
                r##"<rect x="{:.1}" y="{top:.1}" width="14" height="{:.1}" fill="{}" stroke="#000" stroke-width="0.5"><title>{}: {} {v:.3}</title></rect>"##,
                left + 16.0 * k as f64,
                (base - top).max(0.0),
                colour(k),
                escape(name),
                series[k]
            );
        }
        let _ = write!(
            body,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
            left + 8.0 * series.len() as f64,
            frame.y0 + frame.h + 16.0,
            escape(name)
        );
    }
    let legend_y = frame.y0 + frame.h + 36.0;
    legend(&mut body, (frame.x0, legend_y), &series, 155.0, 0);
    Some(document(
        frame.x0 + frame.w + 20.0,
        legend_y + 20.0,
        "Relearning: held-out forget score (higher after relearning: hidden, not removed)",
        &body,
    ))
}

/// Coloured squares with labels in one row from `(x0, y)`, the colours from palette entry
/// `first` on.
fn legend(body: &mut String, (x0, y): (f64, f64), labels: &[&str], step: f64, first: usize) {
    for (k, label) in labels.iter().enumerate() {
        let x = x0 + step * k as f64;
        let _ = write!(
            body,
            r#"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" font-size="11">{}</text>"#,
            y - 9.0,
            colour(first + k),
            x + 14.0,
            escape(label)
        );
    }
}

/// Forget (solid) and retain (dashed) scores along `points` of every method.
fn curves(
    board: &Leaderboard,
    points: impl Fn(&ProbeResults) -> &[Point],
    x_label: &str,
    title: &str,
) -> Option<String> {
    let methods: Vec<(&str, &[Point])> = board
        .rows
        .iter()
        .filter_map(|r| Some((r.summary.model.as_str(), points(r.probes.as_ref()?))))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    if methods.is_empty() {
        return None;
    }
    let xs = methods.iter().flat_map(|(_, p)| p.iter().map(|q| q.x));
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let frame = Frame {
        x0: 70.0,
        y0: 40.0,
        w: 420.0,
        h: 280.0,
        x: (lo.min(0.0), hi.max(lo + 1e-9)),
        y: (0.0, 1.0),
    };
    let mut body = String::new();
    frame.axes(&mut body, x_label, "score (solid: forget, dashed: retain)");
    for (m, (_, points)) in methods.iter().enumerate() {
        for (dash, value) in [
            ("", (|p: &Point| p.forget) as fn(&Point) -> Option<f64>),
            (r#" stroke-dasharray="5 3""#, |p: &Point| p.retain),
        ] {
            let line: Vec<String> = points
                .iter()
                .filter_map(|p| {
                    let v = value(p)?;
                    Some(format!("{:.1},{:.1}", frame.px(p.x), frame.py(v)))
                })
                .collect();
            let _ = write!(
                body,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"{dash}/>"#,
                line.join(" "),
                colour(m)
            );
            for xy in &line {
                let (x, y) = xy.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    body,
                    r#"<circle cx="{x}" cy="{y}" r="2.5" fill="{}"/>"#,
                    colour(m)
                );
            }
        }
    }
    let names: Vec<&str> = methods.iter().map(|(n, _)| *n).collect();
    let legend_y = frame.y0 + frame.h + 52.0;
    for (row, chunk) in names.chunks(5).enumerate() {
        let y = legend_y + 16.0 * row as f64;
        legend(&mut body, (frame.x0, y), chunk, 90.0, row * 5);
    }
    let height = legend_y + 16.0 * names.len().div_ceil(5) as f64 + 10.0;
    Some(document(frame.x0 + frame.w + 30.0, height, title, &body))
}

/// MUSE's sustainability curve.
pub(super) fn requests(board: &Leaderboard) -> Option<String> {
    curves(
        board,
        |p| &p.requests,
        "deletion request (each a fold of the forget set)",
        "Successive requests: forget score on the folds seen so far, retain score",
    )
}

/// MUSE's scalability curve.
pub(super) fn scaling(board: &Leaderboard) -> Option<String> {
    curves(
        board,
        |p| &p.scaling,
        "fraction of the forget set unlearned",
        "Forget-set scaling: forget score on the part unlearned, retain score",
    )
}
