//! Our scores against the reference packages' own numbers (`fixtures/make_fixtures.py`:
//! rouge-score, nltk, scikit-learn, scipy). Strings are rebuilt from the real LUME files in
//! place, following the recipes the script recorded.

use lume_metrics::{
    KsMethod, RougeScorer, exact_match, harmonic_mean, ks_2samp, mean, porter_stem, roc_auc,
};

mod common;
use common::{build, fixture, floats, lume_rows};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
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
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
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
