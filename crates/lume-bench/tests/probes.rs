//! The probes' subsets and scores: properties that hold for any seed and data size.

use std::collections::HashSet;

use lume_bench::{
    Point, Relearning, WeightFormat, fold, forget_order, prefix, relearning_split, split_score,
};
use lume_data::{Benchmark, Kind, Split, SynthConfig, Task, synthesize};
use lume_metrics::{Sample, ScoredRow};
use proptest::prelude::*;

fn bench(seed: u64, docs_per_task: usize) -> Benchmark {
    let synth = synthesize(SynthConfig {
        seed,
        docs_per_task,
    });
    Benchmark {
        records: synth.forget.into_iter().chain(synth.retain).collect(),
    }
}

fn cell(bench: &Benchmark, i: usize) -> usize {
    let r = &bench.records[i];
    r.task.index() * 2 + usize::from(r.kind() == Kind::Question)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_order_is_every_forget_row_once_and_every_prefix_is_balanced(
        seed in 0u64..1000,
        order_seed in 0u64..1000,
        docs in 2usize..7,
    ) {
        let bench = bench(seed, docs);
        let order = forget_order(&bench, order_seed);
        let forget: HashSet<usize> = (0..bench.records.len())
            .filter(|&i| bench.records[i].split == Split::Forget)
            .collect();
        prop_assert_eq!(order.len(), forget.len());
        prop_assert_eq!(order.iter().copied().collect::<HashSet<_>>(), forget);
        let mut sizes = [0usize; 6];
        for &i in &order {
            sizes[cell(&bench, i)] += 1;
        }
        let mut counts = [0usize; 6];
        for &i in &order {
            counts[cell(&bench, i)] += 1;
            // A cell more than one row behind another has run out of rows.
            for a in 0..6 {
                for b in 0..6 {
                    if counts[a] + 1 < counts[b] {
                        prop_assert_eq!(counts[a], sizes[a], "cell {} behind {}", a, b);
                    }
                }
            }
        }
        prop_assert_eq!(&order, &forget_order(&bench, order_seed));
    }

    #[test]
    fn folds_partition_the_order_and_prefixes_grow(
        seed in 0u64..1000,
        docs in 2usize..7,
        folds in 2usize..6,
        a in 0.01f64..1.0,
        b in 0.01f64..1.0,
    ) {
        let bench = bench(seed, docs);
        let order = forget_order(&bench, seed);
        let chunks: Vec<&[usize]> = (0..folds).map(|k| fold(&order, k, folds)).collect();
        prop_assert_eq!(chunks.concat(), order.clone());
        let (min, max) = chunks.iter().fold((usize::MAX, 0), |(lo, hi), c| (lo.min(c.len()), hi.max(c.len())));
        prop_assert!(max - min <= 1);
        let (small, large) = if a <= b { (a, b) } else { (b, a) };
        let (p, q) = (prefix(&order, small), prefix(&order, large));
        prop_assert!(!p.is_empty() && p.len() <= q.len());
        prop_assert_eq!(p, &q[..p.len()]);
        prop_assert_eq!(prefix(&order, 1.0), order.as_slice());
    }

    #[test]
    fn relearning_rows_and_held_out_rows_split_the_forget_set(
        seed in 0u64..1000,
        docs in 2usize..7,
        fraction in 0.05f64..0.9,
    ) {
        let bench = bench(seed, docs);
        let order = forget_order(&bench, seed);
        let (relearn, control, held_out) = relearning_split(&bench, &order, fraction, seed);
        prop_assert_eq!([relearn.clone(), held_out].concat(), order);
        prop_assert_eq!(control.len(), relearn.len());
        prop_assert!(control.iter().all(|&i| bench.records[i].split == Split::Retain));
        prop_assert_eq!(control.iter().collect::<HashSet<_>>().len(), control.len());
    }

    #[test]
    fn split_score_is_the_mean_of_the_cell_means(
        rows in prop::collection::vec((0usize..2, 0usize..3, 0usize..2, 0.0f64..1.0), 1..60),
    ) {
        let sample = Sample {
            ids: (0..rows.len()).map(|i| i.to_string()).collect(),
            rows: rows
                .iter()
                .map(|&(s, t, k, score)| ScoredRow {
                    split: [Split::Forget, Split::Retain][s],
                    task: Task::ALL[t],
                    kind: [Kind::SentenceCompletion, Kind::Question][k],
                    score,
                })
                .collect(),
            ..Sample::default()
        };
        for (s, split) in [Split::Forget, Split::Retain].into_iter().enumerate() {
            let mut means = Vec::new();
            for t in 0..3 {
                for k in 0..2 {
                    let v: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.0 == s && r.1 == t && r.2 == k)
                        .map(|r| r.3)
                        .collect();
                    if !v.is_empty() {
                        means.push(v.iter().sum::<f64>() / v.len() as f64);
                    }
                }
            }
            let want = (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64);
            let got = split_score(&sample, split, |_| true);
            prop_assert_eq!(got.is_some(), want.is_some());
            if let (Some(g), Some(w)) = (got, want) {
                prop_assert!((g - w).abs() < 1e-12);
            }
            prop_assert_eq!(split_score(&sample, split, |_| false), None);
        }
    }

    #[test]
    fn weight_formats_read_back_what_they_print(bits in prop::sample::select(vec![4u32, 8]), group in 1usize..512) {
        let text = format!("int{bits}-g{group}");
        let format: WeightFormat = text.parse().unwrap();
        prop_assert_eq!(format.to_string(), text);
        prop_assert_eq!(format.bits(), bits);
        let json = serde_json::to_string(&format).unwrap();
        prop_assert_eq!(serde_json::from_str::<WeightFormat>(&json).unwrap(), format);
    }
}

#[test]
fn recovery_is_zero_when_nothing_came_back_and_one_when_everything_did() {
    let point = |forget| Point {
        x: 0.0,
        forget_rows: 5,
        forget: Some(forget),
        retain: Some(1.0),
    };
    let relearning = Relearning {
        steps: 20,
        relearned_rows: 1,
        target: point(0.9),
        unlearned: point(0.1),
        after_forget: point(0.5),
        after_retain: point(0.1),
    };
    assert_eq!(relearning.recovered(&relearning.after_retain), Some(0.0));
    assert_eq!(relearning.recovered(&point(0.9)), Some(1.0));
    assert!((relearning.recovered(&relearning.after_forget).unwrap() - 0.5).abs() < 1e-12);
    // A method that did not lower the score has nothing to recover.
    let unmoved = Relearning {
        unlearned: point(0.9),
        ..relearning
    };
    assert_eq!(unmoved.recovered(&point(0.95)), None);
}

#[test]
fn bad_probe_settings_fail_before_any_work() {
    let mut config = lume_bench::ProbeConfig {
        run: lume_bench::Probe::ALL.to_vec(),
        ..Default::default()
    };
    assert!(config.validate().is_ok());
    config.relearn.fraction = 1.0;
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("probes.relearn.fraction = 1"), "{err}");
    config.relearn.fraction = 0.1;
    config.requests = 1;
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("probes.requests")
    );
    config.requests = 4;
    config.scaling = vec![0.5, 1.5];
    assert!(config.validate().unwrap_err().to_string().contains("1.5"));
    let err = lume_bench::Probe::parse_list("relearn,quantisation").unwrap_err();
    assert!(
        err.to_string().contains("unknown probe `quantisation`"),
        "{err}"
    );
}
