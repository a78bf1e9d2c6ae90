//! Properties of the row bootstrap: seeded, the interval holds the estimate, it narrows as the
//! rows are duplicated, and constant scores give a point.

use lume_data::{Kind, Split, Task};
use lume_metrics::{BootstrapConfig, ScoredRow, bootstrap};
use proptest::prelude::*;

fn rows(scores: &[f64]) -> Vec<ScoredRow> {
    let mut out = Vec::new();
    for (i, &score) in scores.iter().enumerate() {
        let split = if i % 2 == 0 {
            Split::Forget
        } else {
            Split::Retain
        };
        let task = Task::ALL[(i / 2) % 3];
        let kind = if (i / 6) % 2 == 0 {
            Kind::SentenceCompletion
        } else {
            Kind::Question
        };
        out.push(ScoredRow {
            split,
            task,
            kind,
            score,
        });
    }
    out
}

fn config(seed: u64) -> BootstrapConfig {
    BootstrapConfig {
        resamples: 300,
        seed,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn seeded_and_holding_the_estimate(
        scores in prop::collection::vec(0.05f64..1.0, 240..400),
        members in prop::collection::vec(0.0f64..3.0, 20..40),
        nonmembers in prop::collection::vec(1.0f64..4.0, 20..40),
        seed in 0u64..1000,
    ) {
        let rows = rows(&scores);
        let mia = Some((members.as_slice(), nonmembers.as_slice()));
        let a = bootstrap(&rows, mia, Some(0.5), config(seed));
        prop_assert_eq!(&a, &bootstrap(&rows, mia, Some(0.5), config(seed)));
        for interval in a.cells.iter().flatten().flatten().flatten()
            .chain(a.task_aggregate.iter())
            .chain(a.mia_auc.iter())
            .chain(std::iter::once(&a.final_score))
        {
            prop_assert!(interval.low <= interval.high);
            prop_assert!(interval.low <= interval.estimate && interval.estimate <= interval.high,
                "{interval:?}");
        }
    }

    #[test]
    fn duplicated_rows_give_a_narrower_interval(
        scores in prop::collection::vec(0.0f64..1.0, 120..200),
        seed in 0u64..1000,
    ) {
        let once = rows(&scores);
        let four: Vec<ScoredRow> = once.iter().flat_map(|&r| [r; 4]).collect();
        let width = |rows: &[ScoredRow]| {
            let b = bootstrap(rows, None, None, config(seed));
            let i = b.final_score;
            i.high - i.low
        };
        let (w1, w4) = (width(&once), width(&four));
        prop_assert!(w4 < w1, "duplicated rows: {w4} vs {w1}");
    }
}

#[test]
fn constant_scores_give_a_point() {
    let rows = rows(&[1.0; 120]);
    let b = bootstrap(&rows, None, None, config(0));
    let i = b.cells[1][0][0].expect("a retain cell");
    assert_eq!((i.low, i.estimate, i.high), (1.0, 1.0, 1.0));
    assert_eq!(b.final_score.low, b.final_score.high);
}
