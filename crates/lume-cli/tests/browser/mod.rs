//! `report.html` in a real browser: headless Chromium runs the page's script on a view named
//! in the URL's fragment and dumps the DOM it left; the checks read that DOM and Chromium's
//! network log.
//!
//! Chromium is found as `LUME_CHROMIUM` or `chromium`/`chromium-browser` on `PATH`; without
//! one these checks are skipped with a message, unless `LUME_REQUIRE_BROWSER=1` (set by
//! `.ci/run`, which installs Debian's `chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LUME_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The DOM of `page#fragment` after its scripts ran, and the URLs of every request the page
/// itself started (from the network log; the browser's own background requests, which have
/// no origin, are left out).
fn open(browser: &Path, page: &Path, fragment: &str) -> (String, Vec<String>) {
    let scratch = tempfile::tempdir().unwrap();
    let log = scratch.path().join("net.json");
    let url = format!(
        "file://{}#{fragment}",
        page.canonicalize().unwrap().display()
    );
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .arg(format!("--log-net-log={}", log.display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed on {url}: {}",
        browser.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        requests(&log),
    )
}

fn requests(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap();
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    assert!(
        start_job.is_u64(),
        "no URL_REQUEST_START_JOB in the net log's constants"
    );
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        // The job's start (its end has no parameters but an error code).
        .filter(|e| &e["type"] == start_job && e["params"]["url"].is_string())
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|e| Some(e["params"]["url"].as_str()?.to_string()))
        .collect()
}

/// The text between `open` (its first occurrence at or after `from`) and the next `close`.
fn between<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)? + open.len();
    let end = html[start..].find(close)? + start;
    Some(&html[start..end])
}

/// `data-model` of every row of the leaderboard's first table, in the page's order.
fn board_order(dom: &str) -> Vec<String> {
    let table = between(dom, "id=\"scores\"", "</table>").expect("no scores table");
    let body = between(table, "<tbody>", "</tbody>").expect("no tbody");
    body.split("<tr data-model=\"")
        .skip(1)
        .map(|tr| tr[..tr.find('"').unwrap()].to_string())
        .collect()
}

/// Text as the DOM serializer writes it (in an attribute, `"` too becomes `&quot;`).
fn serialized(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('\u{a0}', "&nbsp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Checks the report of the bench run in `out` (whose rows are `models`, in push order).
pub fn check_report(out: &Path, models: &[&str]) {
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    // No markup loads anything (generations sit in JSON, where a quote is always escaped).
    for marker in ["src=\"", "href=\"http"] {
        let outside = html.replace("src=\"data:", "");
        assert!(!outside.contains(marker), "report.html has {marker}");
    }
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("LUME_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "LUME_REQUIRE_BROWSER=1 but no chromium (set LUME_CHROMIUM or put it on PATH)"
        );
        eprintln!("skipping the report's browser checks: no chromium on PATH (LUME_CHROMIUM)");
        return;
    };
    detector_sees_a_request(&browser);

    // Every model's row, sorted by final score both ways as leaderboard.json has them.
    let board: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("leaderboard.json")).unwrap())
            .unwrap();
    let mut scored: Vec<(String, f64)> = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let model = r["model"].as_str().unwrap().to_string();
            (model, r["final_score"].as_f64().unwrap())
        })
        .collect();
    let pushed: Vec<String> = scored.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(pushed, models);
    let (unsorted, requested) = open(&browser, &page, "");
    assert_eq!(board_order(&unsorted), pushed);
    assert!(requested.is_empty(), "the page requested {requested:?}");
    let mut reordered = false;
    for (dir, aria) in [("desc", "descending"), ("asc", "ascending")] {
        scored.sort_by(|a, b| match dir {
            "desc" => b.1.total_cmp(&a.1),
            _ => a.1.total_cmp(&b.1),
        });
        let expected: Vec<String> = scored.iter().map(|(m, _)| m.clone()).collect();
        let (dom, requested) = open(&browser, &page, &format!("sort=final_score:{dir}"));
        assert_eq!(board_order(&dom), expected, "sorted by final score, {aria}");
        assert!(
            dom.contains(&format!("aria-sort=\"{aria}\"")),
            "no column marked sorted"
        );
        assert!(requested.is_empty(), "the page requested {requested:?}");
        reordered |= expected != pushed;
    }
    assert!(reordered, "sorting reordered nothing");

    // Searching an id shows its card with every model's generation, as in its CSV.
    let first = lume_metrics::read_inference_csv(&out.join("models/target/forget_0.csv")).unwrap();
    let id = &first[0].id;
    let (dom, requested) = open(&browser, &page, &format!("q={id}"));
    assert!(requested.is_empty(), "the page requested {requested:?}");
    let attribute = serialized(id).replace('"', "&quot;");
    let card = between(
        &dom,
        &format!("<article class=\"row\" data-id=\"{attribute}\">"),
        "</article>",
    )
    .unwrap_or_else(|| panic!("no card for {id} after searching it"));
    for model in models {
        let rows =
            lume_metrics::read_inference_csv(&out.join("models").join(model).join("forget_0.csv"))
                .unwrap();
        let expected = &rows.iter().find(|r| &r.id == id).unwrap().model_output;
        let tr = between(card, &format!("<tr data-model=\"{model}\">"), "</tr>")
            .unwrap_or_else(|| panic!("no {model} generation in the card of {id}"));
        let generation = between(tr, "<td class=\"gen\">", "</td>").unwrap();
        let text = generation.replace("<mark>", "").replace("</mark>", "");
        assert_eq!(text, serialized(expected), "{model}'s generation for {id}");
    }
    // Filtering to the retain split hides the forget row.
    let (dom, _) = open(&browser, &page, &format!("q={id}&split=retain"));
    assert!(
        !dom.contains(&format!("data-id=\"{attribute}\"")),
        "the split filter kept {id}"
    );
}

/// The network-log check can fail: a page that fetches a URL shows up in it.
fn detector_sees_a_request(browser: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    let page = scratch.path().join("fetching.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><img src=\"http://127.0.0.1:9/lume-probe.png\"><p>probe</p>",
    )
    .unwrap();
    let (_, requested) = open(browser, &page, "");
    assert!(
        requested.iter().any(|url| url.contains("lume-probe")),
        "the net log missed a page's request: {requested:?}"
    );
}
