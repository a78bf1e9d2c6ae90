//! Properties of the paired comparison and of the seeded ranking.

use lume_data::{Kind, Split, Task};
use lume_metrics::{BootstrapConfig, Sample, ScoredRow, Seeded, compare, holm, rank};
use proptest::prelude::*;

fn sample(scores: &[f64], mia: Option<(Vec<f64>, Vec<f64>)>) -> Sample {
    let rows = scores
        .iter()
        .enumerate()
        .map(|(i, &score)| ScoredRow {
            split: [Split::Forget, Split::Retain][i % 2],
            task: Task::ALL[(i / 2) % 3],
            kind: [Kind::SentenceCompletion, Kind::Question][(i / 6) % 2],
            score,
        })
        .collect();
    Sample {
        ids: (0..scores.len()).map(|i| format!("row{i}")).collect(),
        rows,
        mia,
        mmlu: Some(0.4),
        mmlu_questions: Vec::new(),
    }
}

fn config(seed: u64) -> BootstrapConfig {
    BootstrapConfig {
        resamples: 200,
        seed,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn a_directory_against_itself_differs_by_nothing(
        scores in prop::collection::vec(0.05f64..1.0, 120..200),
        members in prop::collection::vec(0.0f64..3.0, 10..20),
        nonmembers in prop::collection::vec(1.0f64..4.0, 10..20),
        seed in 0u64..1000,
    ) {
        let a = sample(&scores, Some((members, nonmembers)));
        let c = compare(&a, &a, config(seed)).unwrap();
        let d = c.differences;
        for x in d.cells.iter().flatten().flatten().flatten()
            .chain(d.task_aggregate.iter()).chain(d.mia_auc.iter()).chain([&d.final_score])
        {
            prop_assert_eq!((x.difference, x.low, x.high, x.p_value), (0.0, 0.0, 0.0, 1.0));
        }
    }

    #[test]
    fn swapping_a_and_b_mirrors_the_comparison(
        a in prop::collection::vec(0.0f64..1.0, 120..160),
        shift in -0.3f64..0.3,
        seed in 0u64..1000,
    ) {
        let b: Vec<f64> = a.iter().map(|v| (v + shift).clamp(0.0, 1.0)).collect();
        let (sa, sb) = (sample(&a, None), sample(&b, None));
        let ab = compare(&sa, &sb, config(seed)).unwrap().differences.final_score;
        let ba = compare(&sb, &sa, config(seed)).unwrap().differences.final_score;
        prop_assert_eq!(ab.difference, -ba.difference);
        prop_assert!((ab.low + ba.high).abs() < 1e-12 && (ab.high + ba.low).abs() < 1e-12);
        prop_assert_eq!(ab.p_value, ba.p_value);
        prop_assert!(ab.low <= ab.difference && ab.difference <= ab.high);
    }

    #[test]
    fn holm_never_lowers_a_p_value_and_keeps_the_order(
        p in prop::collection::vec(0.0f64..1.0, 1..12),
    ) {
        let adjusted = holm(&p);
        for (i, (&raw, &adj)) in p.iter().zip(&adjusted).enumerate() {
            prop_assert!(adj >= raw && adj <= 1.0);
            for (j, &other) in p.iter().enumerate() {
                if raw < other {
                    prop_assert!(adj <= adjusted[j], "{i} vs {j}");
                }
            }
        }
    }
}

#[test]
fn other_rows_are_refused() {
    let a = sample(&[0.5; 60], None);
    let mut b = a.clone();
    b.ids[7] = "another".into();
    let message = compare(&a, &b, config(0)).unwrap_err().to_string();
    assert!(
        message.contains("row 7") && message.contains("another"),
        "{message}"
    );
    let shorter = sample(&[0.5; 59], None);
    assert!(compare(&a, &shorter, config(0)).is_err());
}

#[test]
fn identical_methods_are_tied_and_a_clearly_worse_one_is_not() {
    let good: Vec<f64> = (0..180)
        .map(|i| 0.6 + 0.3 * f64::from(i % 7) / 7.0)
        .collect();
    // Retain rows (odd positions) lower: a worse method.
    let worse: Vec<f64> = good
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 2 == 1 { v - 0.4 } else { *v })
        .collect();
    let seeds = |scores: &[f64]| {
        (0..3)
            .map(|s| {
                let jitter: Vec<f64> = scores.iter().map(|v| v + 0.01 * f64::from(s)).collect();
                sample(&jitter, None)
            })
            .collect::<Vec<_>>()
    };
    let methods = [
        Seeded {
            name: "a".into(),
            samples: seeds(&good),
        },
        Seeded {
            name: "b".into(),
            samples: seeds(&good),
        },
        Seeded {
            name: "c".into(),
            samples: seeds(&worse),
        },
    ];
    let standings = rank(&methods, BootstrapConfig::default()).unwrap();
    let by = |n: &str| standings.iter().find(|s| s.name == n).unwrap();
    assert!(by("a").tied_with_best && by("b").tied_with_best);
    assert!(!by("c").tied_with_best);
    assert_eq!(by("c").rank, 3);
    assert!(by("a").seed_sd > 0.0 && by("a").low <= by("a").mean && by("a").mean <= by("a").high);
    assert_eq!(by("a").per_seed.len(), 3);
}
