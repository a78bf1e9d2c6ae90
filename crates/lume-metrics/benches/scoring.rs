//! ROUGE-L throughput, a whole LUME-sized scoring run and its row bootstrap, on the real
//! release.
//!
//! Pairs: for every LUME row, target = output, prediction = the first half of the output's
//! words followed by the last five words of the input. `fixtures/bench_rouge.py` times
//! `rouge_score` on the very same pairs, so the two throughputs can be put side by side.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lume_data::{Benchmark, Split};
use lume_metrics::{BootstrapConfig, InferenceRow, RougeScorer, ScoreReport};

fn prediction(input: &str, output: &str) -> String {
    let out: Vec<&str> = output.split(' ').collect();
    let inp: Vec<&str> = input.split(' ').collect();
    let mut words: Vec<&str> = out[..out.len() / 2].to_vec();
    words.extend_from_slice(&inp[inp.len().saturating_sub(5)..]);
    words.join(" ")
}

fn bench(c: &mut Criterion) {
    let Some(dir) = lume_data::shared::shared_data(env!("CARGO_MANIFEST_DIR"), "lume") else {
        return;
    };
    let bench = Benchmark::load(&dir).expect("LUME loads");
    let pairs: Vec<(String, String)> = bench
        .records
        .iter()
        .map(|r| (r.output.clone(), prediction(&r.input, &r.output)))
        .collect();

    let mut group = c.benchmark_group("rouge_l");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    group.bench_function("lume_pairs_fresh_scorer", |b| {
        b.iter(|| {
            let scorer = RougeScorer::default();
            for (t, p) in &pairs {
                black_box(scorer.rouge_l(t, p));
            }
        })
    });
    group.finish();

    let rows = |split| -> Vec<InferenceRow> {
        bench
            .split(split)
            .map(|r| InferenceRow::from_record(r, prediction(&r.input, &r.output), Some(1.0)))
            .collect()
    };
    let (forget, retain) = (rows(Split::Forget), rows(Split::Retain));
    let members: Vec<f64> = (0..150).map(|i| f64::from(i) / 100.0).collect();
    let nonmembers: Vec<f64> = (0..150).map(|i| 0.3 + f64::from(i) / 90.0).collect();
    c.bench_function("score_lume_sized_run_5466_rows", |b| {
        b.iter(|| {
            black_box(
                ScoreReport::from_rows(&forget, &retain, Some((&members, &nonmembers)), Some(0.5))
                    .unwrap()
                    .to_json(),
            )
        })
    });
    // The bar of issue 15: every score's interval over all of LUME's rows, B = 1,000, well
    // under a second.
    let report =
        ScoreReport::from_rows(&forget, &retain, Some((&members, &nonmembers)), Some(0.5)).unwrap();
    c.bench_function("bootstrap_lume_rows_1000_resamples", |b| {
        b.iter(|| black_box(report.bootstrap(BootstrapConfig::default())))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
