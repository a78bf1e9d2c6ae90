//! Properties of the row bootstrap: seeded, the interval holds the estimate, it narrows as the
//! rows are duplicated, and constant scores give a point.

use lume_data::{Kind, Split, Task};
use lume_metrics::{
    BootstrapConfig, Interval, Resamples, Sample, Scored, ScoredRow, bootstrap, bootstrap_with,
};
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
        for interval in a.intervals.cells.iter().flatten().flatten().flatten()
            .chain(a.intervals.task_aggregate.iter())
            .chain(a.intervals.mia_auc.iter())
            .chain(std::iter::once(&a.intervals.final_score))
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
            let i = b.intervals.final_score;
            i.high - i.low
        };
        let (w1, w4) = (width(&once), width(&four));
        prop_assert!(w4 < w1, "duplicated rows: {w4} vs {w1}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Another metric's draws use the protocol's own resamples: the rows' scores given as
    /// per-row values give the resampled overall scores, the MIA losses as statistics give the
    /// resampled loss AUC, and rows without a value are left out of every mean.
    #[test]
    fn other_metrics_are_drawn_on_the_same_resamples(
        scores in prop::collection::vec(0.05f64..1.0, 240..320),
        members in prop::collection::vec(0.0f64..3.0, 20..40),
        nonmembers in prop::collection::vec(1.0f64..4.0, 20..40),
        seed in 0u64..1000,
    ) {
        let sample = Sample {
            ids: Vec::new(),
            rows: rows(&scores),
            mia: Some((members.clone(), nonmembers.clone())),
            mmlu: None,
            mmlu_questions: Vec::new(),
        };
        let resamples = Resamples::draw(&sample, config(seed));
        let draws = resamples.scores(&sample);
        let forget_reg: Vec<Option<f64>> = sample.rows.iter()
            .map(|r| (r.split == Split::Forget && r.kind == Kind::SentenceCompletion)
                .then_some(r.score))
            .collect();
        let some = |v: &[f64]| v.iter().copied().map(Some).collect::<Vec<_>>();
        let means = resamples.means(&forget_reg);
        let aucs = resamples.aucs(&some(&members), &some(&nonmembers));
        for ((mean, auc), d) in means.iter().zip(&aucs).zip(&draws) {
            let overall = d.overall[0][0].expect("forget regurgitation");
            prop_assert!((mean.expect("a value") - overall).abs() < 1e-12);
            prop_assert_eq!(*auc, d.mia_auc);
        }
        let none = vec![None; sample.rows.len()];
        prop_assert!(resamples.means(&none).iter().all(Option::is_none));
        prop_assert_eq!(Interval::of_some(0.5, &resamples.means(&none)), None);
    }
}

#[test]
fn constant_scores_give_a_point() {
    let rows = rows(&[1.0; 120]);
    let b = bootstrap(&rows, None, None, config(0));
    let i = b.intervals.cells[1][0][0].expect("a retain cell");
    assert_eq!((i.low, i.estimate, i.high), (1.0, 1.0, 1.0));
    assert_eq!(b.intervals.final_score.low, b.intervals.final_score.high);
}

/// numpy's intervals (fixtures/bootstrap_reference.py) of every score, flattened in
/// `Scored` field order, with the bootstrap standard deviation of each.
fn reference_intervals(value: &serde_json::Value) -> Vec<Option<(f64, f64, f64, f64)>> {
    let one = |v: &serde_json::Value| {
        (!v.is_null()).then(|| {
            let f = |k: &str| v[k].as_f64().expect("a number");
            (f("estimate"), f("low"), f("high"), f("sd"))
        })
    };
    let mut out = Vec::new();
    for key in ["cells", "overall", "split_means"] {
        out.extend(value[key].as_array().expect("a list").iter().map(one));
    }
    for key in ["task_aggregate", "mia_auc", "mia_score", "final_score"] {
        out.push(one(&value[key]));
    }
    out
}

fn flatten(s: &Scored<Interval>) -> Vec<Option<Interval>> {
    let mut out: Vec<Option<Interval>> = s.cells.iter().flatten().flatten().copied().collect();
    out.extend(s.overall.iter().flatten().copied());
    out.extend(s.split_means.iter().copied());
    out.extend([
        s.task_aggregate,
        s.mia_auc,
        s.mia_score,
        Some(s.final_score),
    ]);
    out
}

#[derive(serde::Deserialize)]
struct Reference {
    sample: Sample,
    resamples: Resamples,
    intervals: serde_json::Value,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bootstrap.json");
    let text = std::fs::read_to_string(path).expect("the committed fixture");
    serde_json::from_str(&text).expect("the fixture's layout")
}

#[test]
fn numpy_on_the_same_indices_gives_the_same_intervals() {
    let r = reference();
    assert!(r.resamples.fit(&r.sample));
    let ours = flatten(&bootstrap_with(&r.sample, &r.resamples).intervals);
    let theirs = reference_intervals(&r.intervals);
    assert_eq!(ours.len(), theirs.len());
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        match (a, b) {
            (Some(a), Some((e, lo, hi, _))) => {
                for (x, y) in [(a.estimate, *e), (a.low, *lo), (a.high, *hi)] {
                    assert!((x - y).abs() < 1e-12, "score {i}: lume {a:?}, numpy {b:?}");
                }
            }
            (None, None) => {}
            _ => panic!("score {i}: lume {a:?}, numpy {b:?}"),
        }
    }
}

#[test]
fn our_resamples_agree_with_numpys_within_monte_carlo_error() {
    let r = reference();
    let config = BootstrapConfig {
        resamples: r.resamples.len(),
        seed: 7,
    };
    let ours = flatten(&bootstrap_with(&r.sample, &Resamples::draw(&r.sample, config)).intervals);
    // A 2.5 % percentile from B = 1,000 draws has a Monte Carlo error of about 0.085 sd; the
    // difference of two independent ones, 0.12 sd: 0.5 sd is four of those. The mean of n
    // exact matches moves in steps of 1/n, and a percentile can land one step away.
    let mut sizes = [0usize; 12];
    r.sample
        .rows
        .iter()
        .for_each(|row| sizes[lume_metrics::cell(row)] += 1);
    for (i, (a, b)) in ours
        .iter()
        .zip(reference_intervals(&r.intervals))
        .enumerate()
    {
        let (Some(a), Some((_, lo, hi, sd))) = (a, b) else {
            assert!(a.is_none() && b.is_none(), "score {i}");
            continue;
        };
        let step = if i < 12 && i % 2 == 1 {
            1.0 / sizes[i] as f64
        } else {
            0.0
        };
        let tolerance = (0.5 * sd).max(step) + 1e-9;
        assert!(
            (a.low - lo).abs() <= tolerance && (a.high - hi).abs() <= tolerance,
            "score {i}: lume [{}, {}], numpy [{lo}, {hi}], sd {sd}",
            a.low,
            a.high
        );
    }
}

#[test]
fn resamples_of_other_rows_do_not_fit() {
    let r = reference();
    let mut fewer = r.sample.clone();
    fewer.rows.pop();
    assert!(!r.resamples.fit(&fewer));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// MMLU questions are resampled on a stream of their own: the rows' and documents' draws do
    /// not move when outcomes are added, and MMLU's interval holds its accuracy.
    #[test]
    fn mmlu_questions_get_an_interval_without_moving_the_other_draws(
        scores in prop::collection::vec(0.0f64..1.0, 12..40),
        outcomes in prop::collection::vec(any::<bool>(), 1..300),
        seed in 0u64..1000,
    ) {
        let without = Sample {
            ids: Vec::new(),
            rows: rows(&scores),
            mia: None,
            mmlu: Some(0.5),
            mmlu_questions: Vec::new(),
        };
        let right = outcomes.iter().filter(|&&r| r).count() as f64 / outcomes.len() as f64;
        let with = Sample {
            mmlu: Some(right),
            mmlu_questions: outcomes.clone(),
            ..without.clone()
        };
        let (a, b) = (Resamples::draw(&without, config(seed)), Resamples::draw(&with, config(seed)));
        prop_assert_eq!(&a.rows, &b.rows);
        prop_assert!(a.questions.iter().all(Vec::is_empty));
        let longer = Sample { mmlu_questions: vec![true; outcomes.len() + 1], ..with.clone() };
        prop_assert!(b.fit(&with));
        prop_assert!(!b.fit(&longer));
        let held = lume_metrics::bootstrap_with(&without, &a);
        prop_assert!(held.intervals.mmlu.is_none(), "a bare accuracy has no interval");
        let drawn = lume_metrics::bootstrap_with(&with, &b);
        let m = drawn.intervals.mmlu.expect("known questions give an interval");
        prop_assert_eq!(m.estimate, right);
        prop_assert!(m.low <= right && right <= m.high);
        let mixed = outcomes.iter().any(|&r| r) && outcomes.iter().any(|&r| !r);
        prop_assert_eq!(mixed, m.high > m.low);
        // The same task rows: the same task-aggregate interval.
        prop_assert_eq!(held.intervals.task_aggregate, drawn.intervals.task_aggregate);
    }
}
