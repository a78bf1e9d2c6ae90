//! Our scores against the reference packages' own numbers (`fixtures/make_fixtures.py`:
//! rouge-score, nltk, scikit-learn, scipy). Strings are rebuilt from the real LUME files in
//! place, following the recipes the script recorded.

use std::path::Path;

use lume_metrics::{
    KsMethod, RougeScorer, exact_match, harmonic_mean, ks_2samp, mean, porter_stem, roc_auc,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn lume_rows() -> Option<Vec<Value>> {
    let dir = lume_data::shared::shared_data(env!("CARGO_MANIFEST_DIR"), "lume")?;
    let mut rows = Vec::new();
    for name in ["forget.jsonl", "retain.jsonl"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        rows.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap()),
        );
    }
    Some(rows)
}

fn chars_slice(s: &str, a: usize, b: usize) -> String {
    s.chars().skip(a).take(b.saturating_sub(a)).collect()
}

/// Mirrors `apply` in make_fixtures.py (Python slices count code points).
fn build(rows: &[Value], spec: &Value) -> String {
    let mut text = match spec.get("row") {
        Some(row) => rows[row.as_u64().unwrap() as usize][spec["field"].as_str().unwrap()]
            .as_str()
            .unwrap()
            .to_owned(),
        None => spec["text"].as_str().unwrap().to_owned(),
    };
    for op in spec
        .get("ops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let op = op.as_array().unwrap();
        let int = |i: usize| op[i].as_u64().unwrap() as usize;
        let string = |i: usize| op[i].as_str().unwrap();
        text = match op[0].as_str().unwrap() {
            "slice" => chars_slice(&text, int(1), int(2)),
            "words" => {
                let words: Vec<&str> = text.split(' ').collect();
                op[1]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| words[i.as_u64().unwrap() as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            "upper" => text.to_uppercase(),
            "lower" => text.to_lowercase(),
            "insert" => {
                let at = int(1);
                format!(
                    "{}{}{}",
                    chars_slice(&text, 0, at),
                    string(2),
                    text.chars().skip(at).collect::<String>()
                )
            }
            "replace" => text.replace(string(1), string(2)),
            "repeat" => text.repeat(int(1)),
            "append_row" => format!("{text} {}", rows[int(1)][string(2)].as_str().unwrap()),
            other => panic!("unknown op {other}"),
        };
    }
    text
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn rouge_equals_rouge_score_on_perturbed_lume_pairs() {
    let Some(rows) = lume_rows() else { return };
    let fx = fixture("rouge_pairs.json");
    let pairs = fx["pairs"].as_array().unwrap();
    assert!(pairs.len() >= 5000);
    let scorer = RougeScorer::default();
    let mut failures = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        let target = build(&rows, &pair["target"]);
        let prediction = build(&rows, &pair["prediction"]);
        let l = scorer.rouge_l(&target, &prediction);
        let one = scorer.rouge_1(&target, &prediction);
        let want = |k: &str, j: usize| pair[k][j].as_f64().unwrap();
        let ours = [
            l.precision,
            l.recall,
            l.fmeasure,
            one.precision,
            one.recall,
            one.fmeasure,
        ];
        let theirs = [
            want("rougeL", 0),
            want("rougeL", 1),
            want("rougeL", 2),
            want("rouge1", 0),
            want("rouge1", 1),
            want("rouge1", 2),
        ];
        if !ours.iter().zip(&theirs).all(|(a, b)| close(*a, *b, 1e-12)) {
            failures.push(format!("pair {i}: ours {ours:?} reference {theirs:?}\n  target {target:?}\n  prediction {prediction:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} pairs differ:\n{}",
        failures.len(),
        pairs.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

#[test]
fn exact_match_equals_python_strip_lower() {
    let Some(rows) = lume_rows() else { return };
    let fx = fixture("exact_match.json");
    for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate() {
        let expected = build(&rows, &case["expected"]);
        let generated = build(&rows, &case["generated"]);
        assert_eq!(
            exact_match(&expected, &generated),
            case["em"].as_f64().unwrap(),
            "case {i}: {expected:?} vs {generated:?}"
        );
    }
}

#[test]
fn porter_stems_equal_nltk() {
    let fx = fixture("porter_stems.json");
    let stems = fx["stems"].as_object().unwrap();
    assert!(stems.len() > 10_000);
    let wrong: Vec<String> = stems
        .iter()
        .filter(|(w, s)| porter_stem(w) != s.as_str().unwrap())
        .map(|(w, s)| format!("{w}: ours {} nltk {s}", porter_stem(w)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} differ: {:?}",
        wrong.len(),
        stems.len(),
        &wrong[..wrong.len().min(20)]
    );
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn auc_equals_sklearn_roc_curve_auc() {
    let fx = fixture("auc.json");
    for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate() {
        let ours = roc_auc(&floats(&case["positives"]), &floats(&case["negatives"])).unwrap();
        let theirs = case["auc"].as_f64().unwrap();
        assert!(
            close(ours, theirs, 1e-12),
            "case {i}: ours {ours} sklearn {theirs}"
        );
    }
}

#[test]
fn ks_2samp_equals_scipy_in_every_mode() {
    let fx = fixture("ks_2samp.json");
    for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate() {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        for (method, key) in [
            (KsMethod::Exact, "exact"),
            (KsMethod::Asymp, "asymp"),
            (KsMethod::Auto, "auto"),
        ] {
            let r = ks_2samp(&x, &y, method).unwrap();
            let want = case[key].as_f64().unwrap_or(f64::NAN);
            assert!(
                close(r.pvalue, want, 1e-9) || (want.is_nan() && r.pvalue.is_nan()),
                "case {i} ({key}, n1={}, n2={}, D={}): ours {} scipy {want}",
                x.len(),
                y.len(),
                r.statistic,
                r.pvalue
            );
            assert!(
                close(r.statistic, case["statistic"].as_f64().unwrap(), 1e-12),
                "case {i} statistic"
            );
        }
    }
}

#[test]
fn harmonic_and_arithmetic_means_equal_python_statistics() {
    let fx = fixture("harmonic_mean.json");
    for case in fx["cases"].as_array().unwrap() {
        let v = floats(&case["values"]);
        assert!(close(
            harmonic_mean(&v).unwrap(),
            case["hmean"].as_f64().unwrap(),
            1e-12
        ));
        assert!(close(
            mean(&v).unwrap(),
            case["mean"].as_f64().unwrap(),
            1e-12
        ));
    }
}
