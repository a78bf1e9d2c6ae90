//! Generate LUME-style data, pretend an engine answered it, and score the answers.
//!
//! The pretend engine has half-forgotten the forget set (it truncates every answer) and kept
//! the retain set, which is what a good unlearning run looks like.
//!
//!     cargo run -p lume-examples --example score_outputs

use lume_data::{Benchmark, Split, SynthConfig, synthesize};
use lume_metrics::{InferenceRow, ScoreReport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    synthesize(SynthConfig {
        seed: 7,
        docs_per_task: 12,
    })
    .write(dir.path())?;
    let bench = Benchmark::load(dir.path())?;

    let answer = |expected: &str, split: Split| match split {
        Split::Forget => expected.chars().take(expected.len() / 3).collect(),
        Split::Retain => expected.to_owned(),
    };
    let rows = |split| -> Vec<InferenceRow> {
        bench
            .split(split)
            .map(|r| InferenceRow::from_record(r, answer(&r.output, split), None))
            .collect()
    };
    // Member losses a bit lower than non-member ones: some membership signal remains.
    let members: Vec<f64> = (0..18).map(|i| 1.0 + f64::from(i) * 0.05).collect();
    let nonmembers: Vec<f64> = (0..18).map(|i| 1.2 + f64::from(i) * 0.05).collect();
    let report = ScoreReport::from_rows(
        &rows(Split::Forget),
        &rows(Split::Retain),
        Some((&members, &nonmembers)),
        None,
    )?;
    println!("{}", report.table());
    Ok(())
}
