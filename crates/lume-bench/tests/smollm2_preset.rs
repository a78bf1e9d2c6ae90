//! The real-model preset (`presets/smollm2.toml`) end to end at a tiny fraction of the release,
//! on the real SmolLM2-135M-Instruct: a few steps per stage, short generations, checks off, so
//! that the path of the verdict cannot rot. CI fetches the model (`scripts/smollm2.sh`) and MMLU
//! (`scripts/mmlu.sh`); without them the test shows as ignored.

use std::path::Path;

use lume_bench::{BenchConfig, BenchInputs, resolve_config, run_bench};
use lume_data::{Benchmark, Kind, MiaSet, Split, Stats, Task};

use lume_resources::Resource;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

#[test]
#[cfg_attr(
    not(all(lume_shared, lume_smollm2)),
    ignore = "needs SmolLM2's GGUF (scripts/smollm2.sh) and ../shared/data"
)]
fn the_smollm2_preset_runs_end_to_end_at_a_tiny_fraction() {
    let gguf = Resource::Smollm2
        .locate(MANIFEST)
        .expect("build.rs found SmolLM2's GGUF");
    let mmlu = Resource::Mmlu.locate(MANIFEST);
    assert_eq!(mmlu.is_some(), cfg!(lume_mmlu));
    let shared = Resource::Shared
        .locate(MANIFEST)
        .expect("build.rs found it");
    let root = tempfile::tempdir().unwrap();
    let base = root.path().join("smollm2");
    lume_model::GgufCheckpoint::read(&gguf)
        .unwrap()
        .write_hf_dir(&base)
        .unwrap();

    let preset = Path::new(MANIFEST).join("../../presets/smollm2.toml");
    let sets = [
        "data.fraction=0.001".to_string(),
        "data.min_rows_per_cell=2".into(),
        r#"methods=["ga", "npo"]"#.into(),
        "seeds=1".into(),
        "target.max_steps=2".into(),
        "gold.max_steps=2".into(),
        "unlearn.max_steps=1".into(),
        "eval.max_new_tokens=4".into(),
        // One shot, one question per subject: 57 short prompts (five shots cost ~2 min a model).
        "eval.mmlu_shots=1".into(),
        "eval.mmlu_questions=1".into(),
        "checks.enforce=false".into(),
        "probes.run=[]".into(),
        format!("checkpoints.base={}", base.display()),
    ];
    let config: BenchConfig = resolve_config(Some(&preset), &sets).unwrap();
    assert_eq!(config.eval.precision, lume_model::Precision::Bf16);
    assert!(config.target.group_by_length);
    let out = root.path().join("out");
    let inputs = BenchInputs {
        data: Some(shared.join("lume")),
        mia: Some(shared.join("semeval25/mia")),
        mmlu: mmlu.clone(),
        out: out.clone(),
    };
    let registry = lume_unlearn::Registry::builtin();
    let outcome = run_bench(
        &config,
        &inputs,
        &registry,
        &lume_bench::Metrics::builtin(),
        &mut lume_unlearn::Silent,
    )
    .unwrap();

    // The slice: every cell has its two rows (Task2's questions come five to a document), and
    // the membership set holds only the slice's forget documents, with as many non-members.
    let data = Benchmark::load(&out.join("data")).unwrap();
    let stats = Stats::from_records(&data.records);
    for split in Split::ALL {
        for task in Task::ALL {
            for kind in Kind::ALL {
                let n = stats.count(split, task, kind);
                assert!((2..=10).contains(&n), "{split} {task} {kind}: {n}");
            }
        }
    }
    let mia = MiaSet::load(&out.join("data/mia")).unwrap();
    let forget: std::collections::HashSet<&str> =
        data.split(Split::Forget).map(|r| r.document_id()).collect();
    assert!(mia.members.iter().all(|d| forget.contains(d.id.as_str())));
    assert_eq!(mia.members.len(), mia.nonmembers.len());

    let names: Vec<&str> = outcome
        .board
        .rows
        .iter()
        .map(|r| r.summary.model.as_str())
        .collect();
    assert_eq!(names, ["target", "gold", "ga", "npo"]);
    for row in &outcome.board.rows {
        let intervals = row.intervals.as_ref().expect("rows are resampled");
        assert!(intervals.task_aggregate.is_some(), "{}", row.summary.model);
        // Real MMLU's questions are resampled; no MMLU, no utility.
        assert_eq!(row.summary.utility.is_some(), mmlu.is_some());
        assert_eq!(intervals.mmlu.is_some(), mmlu.is_some());
        assert_eq!(row.utility_of_target_pct.is_some(), mmlu.is_some());
    }
    assert!(out.join("leaderboard.md").is_file() && out.join("report.html").is_file());
}
