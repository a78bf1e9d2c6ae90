//! The extended metrics against open-unlearning's own code
//! (`crates/lume-unlearn/fixtures/make_open_unlearning.py`): per-document Min-K%, Min-K%++,
//! extraction strength and exact memorization, the attacks' AUCs, and PrivLeak, all from logits
//! the script built (argmax ties, a wrong last token, a fully memorized answer, positions where
//! the model is certain).

use lume_metrics::{
    Attack, TokenStats, exact_memorization, extraction_strength, membership_auc, privleak,
};
use serde_json::Value;

mod common;
use common::{fixture, floats};

const TOLERANCE: f64 = 1e-6;

fn close(what: &str, ours: f64, theirs: f64) {
    assert!(
        (ours - theirs).abs() <= TOLERANCE * (1.0 + theirs.abs()),
        "{what}: ours {ours}, open-unlearning {theirs}"
    );
}

/// What an engine reports at each answer position, computed in f64 from the f32 logits (the
/// engine's own kernels are tested against transformers in lume-model); the argmax takes the
/// first of tied maxima, as torch does.
fn token_stats(doc: &Value) -> TokenStats {
    let ids: Vec<usize> = doc["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let logits: Vec<Vec<f64>> = doc["logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let mut stats = TokenStats::default();
    for p in doc["answer_positions"].as_array().unwrap() {
        let p = p.as_u64().unwrap() as usize;
        let row = &logits[p - 1];
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
        let log_p: Vec<f64> = row.iter().map(|z| z - lse).collect();
        let mu: f64 = log_p.iter().map(|l| l.exp() * l).sum();
        let second: f64 = log_p.iter().map(|l| l.exp() * l * l).sum();
        let argmax = row.iter().position(|&z| z == max);
        stats.log_probs.push(log_p[ids[p]]);
        stats.argmax_matches.push(argmax == Some(ids[p]));
        stats.expected_log_prob.push(mu);
        stats.log_prob_variance.push((second - mu * mu).max(0.0));
    }
    stats
}

#[test]
fn per_document_metrics_equal_open_unlearnings() {
    let fx = fixture("open_unlearning.json");
    let k = fx["k"].as_f64().unwrap();
    let mut certain = 0;
    for (name, model) in fx["models"].as_object().unwrap() {
        for (i, doc) in model["docs"].as_array().unwrap().iter().enumerate() {
            let stats = token_stats(doc);
            certain += stats
                .log_prob_variance
                .iter()
                .filter(|&&v| v < 1e-6)
                .count();
            let at = |m: &str| format!("{name} doc {i} {m}");
            let want = |key: &str| doc[key].as_f64().unwrap();
            close(
                &at("Min-K%"),
                Attack::MinK { k }.statistic(&stats, "").unwrap(),
                want("min_k"),
            );
            close(
                &at("Min-K%++"),
                Attack::MinKPlusPlus { k }.statistic(&stats, "").unwrap(),
                want("min_k_plus_plus"),
            );
            close(
                &at("extraction strength"),
                extraction_strength(&stats).unwrap(),
                want("extraction_strength"),
            );
            close(
                &at("exact memorization"),
                exact_memorization(&stats).unwrap(),
                want("exact_memorization"),
            );
        }
    }
    assert!(
        certain >= 2,
        "the fixture must hold positions with σ² below the floor"
    );
}

#[test]
fn aucs_and_privleak_equal_open_unlearnings() {
    let fx = fixture("open_unlearning.json");
    let k = fx["k"].as_f64().unwrap();
    let mut min_k_aucs = Vec::new();
    for (name, model) in fx["models"].as_object().unwrap() {
        for (key, attack) in [
            ("min_k_auc", Attack::MinK { k }),
            ("min_k_plus_plus_auc", Attack::MinKPlusPlus { k }),
        ] {
            let (mut members, mut holdout) = (Vec::new(), Vec::new());
            for doc in model["docs"].as_array().unwrap() {
                let s = attack.statistic(&token_stats(doc), "").unwrap();
                match doc["split"].as_str().unwrap() {
                    "forget" => members.push(s),
                    _ => holdout.push(s),
                }
            }
            let auc = membership_auc(&members, &holdout).unwrap();
            close(&format!("{name} {key}"), auc, model[key].as_f64().unwrap());
            if key == "min_k_auc" {
                min_k_aucs.push((name.clone(), auc));
            }
        }
    }
    let auc = |who: &str| min_k_aucs.iter().find(|(n, _)| n == who).unwrap().1;
    let ours = privleak(auc("target"), auc("gold"));
    close("PrivLeak", ours, fx["privleak"].as_f64().unwrap());
    assert!(
        ours < -50.0,
        "a memorizing target is strongly negative: {ours}"
    );
    assert_eq!(privleak(auc("gold"), auc("gold")), 0.0);
}
