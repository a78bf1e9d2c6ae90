//! The page itself: server-rendered tables (readable without the script, sorted by it) and
//! the drill-down's data as inline JSON, which `report.js` turns into cards.

use std::fmt::Write;

use serde_json::json;

use super::RunFolder;
use crate::leaderboard::{COLUMN_LEGEND, Column, Leaderboard, Row, Table};
use crate::plots::escape;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// Nothing leaves the page and nothing else runs in it: no request of any kind, its own
/// inline styles, and only its own script (admitted by its SHA-256, so no other script, were
/// any ever to get into the page, would run).
fn policy() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(format!("\n{SCRIPT}").as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(hash);
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; img-src data:"
    )
}

/// The whole page of `run`.
pub(super) fn render(run: &RunFolder) -> String {
    let title = format!("LUME report: {}", run.name);
    let mut html = String::with_capacity(1 << 16);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#leaderboard\">Skip to the leaderboard</a>\n\
         <header><h1>{}</h1>\n<nav aria-label=\"Sections\"><ul>\
         <li><a href=\"#leaderboard\">Leaderboard</a></li>\
         <li><a href=\"#checks\">Checks</a></li>\
         <li><a href=\"#plots\">Plots</a></li>\
         <li><a href=\"#generations\">Generations</a></li>\
         <li><a href=\"#run\">Run</a></li></ul></nav></header>\n<main>\n",
        policy(),
        escape(&title),
        escape(&title),
    );
    leaderboard(&mut html, &run.board);
    checks(&mut html, &run.board);
    plots(&mut html, run);
    generations(&mut html, run);
    run_section(&mut html, run);
    let _ = write!(
        html,
        "</main>\n<script type=\"application/json\" id=\"lume-data\">{}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        data_json(run)
    );
    html
}

/// The leaderboard's tables, one per [`Leaderboard::layout`] entry, with sortable headers.
fn leaderboard(html: &mut String, board: &Leaderboard) {
    let columns = board.columns();
    html.push_str(
        "<section id=\"leaderboard\" aria-labelledby=\"leaderboard-h\">\n\
         <h2 id=\"leaderboard-h\">Leaderboard</h2>\n\
         <p class=\"hint\">Sort by a column with its header button (again to reverse); every table \
         follows. Brackets are 95 % row-bootstrap intervals.</p>\n",
    );
    for (table, shown) in board.layout(&columns) {
        let _ = write!(
            html,
            "<div class=\"scroll\"><table class=\"board\" id=\"{}\">\n<caption>{}</caption>\n\
             <thead><tr><th scope=\"col\" aria-sort=\"none\"><button type=\"button\" data-key=\"model\">model</button></th>",
            table.id(),
            escape(table.title())
        );
        for column in &shown {
            let _ = write!(
                html,
                "<th scope=\"col\" aria-sort=\"none\"><button type=\"button\" data-key=\"{}\" title=\"{}\">{}</button></th>",
                escape(&column.key),
                escape(&column.key),
                escape(&column.header)
            );
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for row in &board.rows {
            let model = escape(&row.summary.model);
            let _ = write!(
                html,
                "<tr data-model=\"{model}\"><th scope=\"row\" data-key=\"model\" data-value=\"{model}\">{model}</th>"
            );
            for column in &shown {
                // The uncertainty table shows the final score's interval in its own columns.
                cell(html, column, row, table != Table::Uncertainty);
            }
            html.push_str("</tr>\n");
        }
        html.push_str("</tbody></table></div>\n");
    }
    html.push_str("<h3>Notes</h3>\n<ul class=\"notes\">\n");
    for note in board.notes() {
        let _ = writeln!(html, "<li>{}</li>", escape(&note));
    }
    let _ = write!(
        html,
        "</ul>\n<p>{}</p>\n</section>\n",
        escape(COLUMN_LEGEND)
    );
}

fn cell(html: &mut String, column: &Column, row: &Row, with_interval: bool) {
    let value = (column.value)(row);
    let data = value.map(|v| v.to_string()).unwrap_or_default();
    let _ = write!(
        html,
        "<td data-key=\"{}\" data-value=\"{data}\">{}",
        escape(&column.key),
        escape(&column.format.show(value))
    );
    let interval = column
        .interval
        .as_ref()
        .filter(|_| with_interval)
        .and_then(|i| i(row));
    if let Some(i) = interval {
        let _ = write!(
            html,
            "<span class=\"ci\">[{}, {}]</span>",
            column.format.show(Some(i.low)),
            column.format.show(Some(i.high))
        );
    }
    html.push_str("</td>");
}

fn checks(html: &mut String, board: &Leaderboard) {
    html.push_str(
        "<section id=\"checks\" aria-labelledby=\"checks-h\">\n<h2 id=\"checks-h\">Memorization checks</h2>\n",
    );
    if board.checks.0.is_empty() {
        html.push_str("<p>No checks: an evaluation folder has no target and gold to check.</p>\n");
    } else {
        let _ = writeln!(
            html,
            "<p>The target must have learned the data and the gold model must not know the forget set; otherwise no score below means anything. {}</p>\n<ul class=\"checks\">",
            if board.checks.passed() {
                "All passed."
            } else {
                "<strong>Some failed.</strong>"
            }
        );
        for line in board.checks.describe().lines() {
            let class = if line.starts_with("PASS") {
                "pass"
            } else {
                "fail"
            };
            let _ = writeln!(html, "<li class=\"{class}\">{}</li>", escape(line));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("</section>\n");
}

fn plots(html: &mut String, run: &RunFolder) {
    html.push_str(
        "<section id=\"plots\" aria-labelledby=\"plots-h\">\n<h2 id=\"plots-h\">Plots</h2>\n",
    );
    for plot in &run.plots {
        // The SVG's own XML declaration is not valid inside HTML.
        let svg = plot
            .svg
            .find("<svg")
            .map_or(plot.svg.as_str(), |at| &plot.svg[at..]);
        let _ = writeln!(
            html,
            "<figure>{svg}<figcaption><strong>{}</strong>: {}</figcaption></figure>",
            escape(&plot.file),
            escape(plot.caption)
        );
    }
    html.push_str("</section>\n");
}

fn generations(html: &mut String, run: &RunFolder) {
    let _ = write!(
        html,
        "<section id=\"generations\" aria-labelledby=\"generations-h\">\n\
         <h2 id=\"generations-h\">Generations</h2>\n\
         <p class=\"hint\">{} rows, {} models. Search by id or text; filter by split, task and kind. \
         <mark>Marked</mark> words are those ROUGE-L matches in the expected answer: what a model \
         still regurgitates.</p>\n\
         <form class=\"controls\" role=\"search\" onsubmit=\"return false\">\n\
         <label>Search <input type=\"search\" id=\"q\" placeholder=\"id or text\"></label>\n\
         <label>Split <select id=\"split\"><option value=\"\">all</option><option>forget</option><option>retain</option></select></label>\n\
         <label>Task <select id=\"task\"><option value=\"\">all</option><option>Task1</option><option>Task2</option><option>Task3</option></select></label>\n\
         <label>Kind <select id=\"kind\"><option value=\"\">all</option><option value=\"sc\">regurgitation (sc)</option><option value=\"qa\">knowledge (qa)</option></select></label>\n\
         </form>\n<p id=\"count\" role=\"status\" aria-live=\"polite\"></p>\n\
         <div id=\"cards\"></div>\n\
         <button type=\"button\" id=\"more\" hidden>Show more</button>\n\
         <noscript><p>The generations need JavaScript; they are also in each model's \
         <code>forget_*.csv</code> and <code>retain_*.csv</code>.</p></noscript>\n</section>\n",
        run.rows.len(),
        run.models.len()
    );
}

fn run_section(html: &mut String, run: &RunFolder) {
    html.push_str(
        "<section id=\"run\" aria-labelledby=\"run-h\">\n<h2 id=\"run-h\">Run</h2>\n\
         <div class=\"scroll\"><table class=\"times\"><caption>Time per model (seconds)</caption>\n\
         <thead><tr><th scope=\"col\">model</th><th scope=\"col\">training</th>\
         <th scope=\"col\">evaluation</th><th scope=\"col\">total</th></tr></thead>\n<tbody>\n",
    );
    let mut total = 0.0;
    for row in &run.board.rows {
        let s = &row.summary;
        total += row.wall_seconds;
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            escape(&s.model),
            s.train_seconds,
            s.eval_seconds,
            row.wall_seconds
        );
    }
    let _ = writeln!(
        html,
        "</tbody><tfoot><tr><th scope=\"row\">all models</th><td></td><td></td><td>{total:.1}</td></tr></tfoot></table></div>"
    );
    match &run.config {
        Some(config) => {
            let _ = write!(
                html,
                "<details open><summary>Configuration (<code>bench_config.toml</code>)</summary>\n<pre>{}</pre></details>\n",
                escape(config)
            );
        }
        None => html.push_str("<p>An evaluation folder: no benchmark configuration.</p>\n"),
    }
    html.push_str("</section>\n");
}

/// The drill-down's data; every `<` (only ever inside a string) is written as `\u003c`, so
/// no text can close the script element or open a comment in it.
fn data_json(run: &RunFolder) -> String {
    let value = json!({ "models": run.models, "rows": run.rows });
    value.to_string().replace('<', "\\u003c")
}
