//! The leaderboard's table of columns prints what the CLI always printed, and `--set`
//! overrides round-trip through the resolved configuration.

use lume_bench::{
    BenchConfig, Checks, EvalSummary, Leaderboard, Metrics, RunConfig, StoredDocument,
    StoredOutputs, StoredRow, resolve_config,
};
use lume_data::{Kind, Split, Task, TokenStats};
use proptest::prelude::*;

/// Four forget answers of four tokens: `level` 1 gets every token right with probability 1;
/// `level` ¼ only the last, each with probability ¼ (probability, exact memorization and
/// extraction strength all `level`). Answer NLLs `10·level + i`, apart from the token
/// statistics, for the forget quality. Two members and five non-members of one token each,
/// whose Min-K% (and ZLib) statistics order 9 of the 10 pairs right and Min-K%++'s 8.
fn outputs(level: f64) -> StoredOutputs {
    let rows = (0..4)
        .map(|i| StoredRow {
            id: format!("f{i}"),
            split: Split::Forget,
            task: Task::Task1,
            kind: Kind::SentenceCompletion,
            expected: String::new(),
            generation: String::new(),
            nll: Some(10.0 * level + f64::from(i)),
            stats: Some(TokenStats {
                log_probs: vec![level.ln(); 4],
                argmax_matches: (0..4).map(|t| level == 1.0 || t == 3).collect(),
                ..TokenStats::default()
            }),
        })
        .collect();
    let document = |id: String, log_prob: f64, expected: f64| StoredDocument {
        id,
        text: "the same text".into(),
        stats: Some(TokenStats {
            log_probs: vec![log_prob],
            argmax_matches: vec![true],
            expected_log_prob: vec![expected],
            log_prob_variance: vec![1.0],
        }),
    };
    StoredOutputs {
        rows,
        members: vec![
            document("m0".into(), 0.0, 0.0),
            document("m1".into(), -1.5, 1.0),
        ],
        nonmembers: (1..=5)
            .map(|i| document(format!("n{i}"), -f64::from(i), 0.0))
            .collect(),
    }
}

fn summary(model: &str, level: f64) -> EvalSummary {
    EvalSummary {
        model: model.to_string(),
        scores: [
            [[Some(level), Some(level / 2.0)]; 3],
            [[Some(1.0), None]; 3],
        ],
        overall: [[Some(level), Some(level / 2.0)], [Some(1.0), Some(1.0)]],
        task_aggregate: 0.5,
        mia_auc: Some(0.75),
        mia_score: Some(0.5),
        utility: None,
        final_score: 0.5,
        train_seconds: 60.0,
        eval_seconds: 7.6,
        loss_curve: vec![(1, 2.0), (2, 1.5)],
        sample: Default::default(),
        outputs: outputs(level),
    }
}

#[test]
fn the_markdown_tables_keep_their_columns_and_formats() {
    let (target, gold) = (summary("target", 1.0), summary("gold", 0.25));
    let checks = Checks::new(&target, &gold, &Default::default());
    let mut board = Leaderboard::new(true, true, checks, &Metrics::builtin());
    board.push(&target, Some(&gold));
    board.push(&gold, Some(&gold));
    let want = "\
| model | F1 reg | F1 kn | F2 reg | F2 kn | F3 reg | F3 kn | R1 reg | R1 kn | R2 reg | R2 kn | R3 reg | R3 kn | task agg. | MIA AUC | MIA score | utility | utility % of target | final |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| target | 1.000 | 0.500 | 1.000 | 0.500 | 1.000 | 0.500 | 1.000 | – | 1.000 | – | 1.000 | – | 0.500 | 0.750 | 0.500 | – | – | 0.500 |
| gold | 0.250 | 0.125 | 0.250 | 0.125 | 0.250 | 0.125 | 1.000 | – | 1.000 | – | 1.000 | – | 0.500 | 0.750 | 0.500 | – | – | 0.500 |

| model | probability | exact mem. | extraction | Min-K% AUC | Min-K%++ AUC | ZLib AUC | forget quality | PrivLeak % | time (s) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| target | 1.000 | 1.000 | 1.000 | 0.900 | 0.800 | 0.900 | 2.86e-2 | 0.0 | 68 |
| gold | 0.250 | 0.250 | 0.250 | 0.900 | 0.800 | 0.900 | 1.00e0 | 0.0 | 68 |

| model | final |
|---|---:|
| target | 0.500 |
| gold | 0.500 |
";
    assert_eq!(board.markdown_table(), want);
    let keys: Vec<String> = board.columns().into_iter().map(|c| c.key).collect();
    // 12 task scores, 15 aggregates and memorization columns, 8 of uncertainty, 12 of probes.
    assert_eq!(keys.len(), 12 + 15 + 8 + 12);
    assert_eq!(keys[0], "forget_task1_regurgitation");
    assert_eq!(keys[11], "retain_task3_knowledge");

    let dir = tempfile::tempdir().unwrap();
    board.write(dir.path()).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("leaderboard.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(header, format!("model,{}", keys.join(",")));
    assert!(
        csv.lines().nth(1).unwrap().starts_with("target,1,0.5,"),
        "{csv}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("leaderboard.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["rows"][1]["model"], "gold");
    assert!(json["rows"][0].get("forget_nlls").is_none());
    assert!(
        json["rows"][0].get("outputs").is_none(),
        "stored outputs stay in the cache"
    );
    assert!(json["rows"][0].get("probes").is_none(), "no probes, no key");
    // Read back, the board prints the same tables: every metric's column, with no metric
    // registered.
    let again = Leaderboard::read(dir.path()).unwrap();
    assert_eq!(again.markdown_table(), want);
}

#[test]
fn probes_add_a_fourth_table_with_only_the_columns_they_filled() {
    use lume_bench::{Point, ProbeResults, Quantized, Relearning};
    let (target, method) = (summary("target", 1.0), summary("ga", 0.25));
    let checks = Checks::new(&target, &method, &Default::default());
    let mut board = Leaderboard::new(true, true, checks, &Metrics::builtin());
    board.push(&target, None);
    board.push(&method, None);
    let point = |forget, retain| Point {
        x: 0.0,
        forget_rows: 9,
        forget: Some(forget),
        retain: Some(retain),
    };
    board.set_probes(
        "ga",
        ProbeResults {
            relearn: Some(Relearning {
                steps: 20,
                relearned_rows: 1,
                target: point(1.0, 1.0),
                unlearned: point(0.2, 0.9),
                after_forget: point(0.6, 0.9),
                after_retain: point(0.3, 0.9),
            }),
            quantization: vec![Quantized {
                format: "int4-g64".parse().unwrap(),
                point: point(0.4, 0.8),
            }],
            ..ProbeResults::default()
        },
    );
    // Forget = mean of the six forget cells (1, ½ per task for the target); recovered =
    // (0.6 − 0.2) / (1 − 0.2) = 50 %, the control (0.3 − 0.2) / 0.8 = 12.5 %.
    let md = board.markdown_table();
    let table = md.split("\n\n").nth(3).expect("a fourth table");
    let want = "\
| model | forget | retain | held-out forget | forget after relearn | recovered % | recovered % (retain control) | forget @4-bit | retain @4-bit |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
| target | 0.750 | 1.000 | – | – | – | – | – | – |
| ga | 0.188 | 1.000 | 0.200 | 0.600 | 50 | 12 | 0.400 | 0.800 |
";
    assert_eq!(table, want);
}

proptest! {
    #[test]
    fn set_overrides_round_trip_through_the_resolved_config(
        lr in 1e-7f64..1e-1,
        epochs in 1usize..100,
        max_length in 8usize..4096,
        beta in 0.01f64..10.0,
        seed in 0u64..1_000_000,
    ) {
        let sets = vec![
            format!("trainer.learning_rate={lr:e}"),
            format!("trainer.epochs={epochs}"),
            format!("max_length={max_length}"),
            format!("method.beta={beta:e}"),
            format!("model.seed={seed}"),
        ];
        let config: RunConfig = resolve_config(None, &sets).unwrap();
        prop_assert_eq!(config.trainer.learning_rate, lr);
        prop_assert_eq!(config.trainer.epochs, epochs);
        prop_assert_eq!(config.max_length, max_length);
        prop_assert_eq!(config.model.seed, seed);
        prop_assert_eq!(config.method_overrides().unwrap()["beta"].as_f64(), Some(beta));

        // The resolved configuration, written and read back as a file, is the same one.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let again: RunConfig = resolve_config(Some(&path), &[]).unwrap();
        prop_assert_eq!(toml::to_string(&again).unwrap(), toml::to_string(&config).unwrap());

        let bench: BenchConfig =
            resolve_config(None, &[format!("method.npo.beta={beta:e}"), format!("unlearn.epochs={epochs}")]).unwrap();
        let run = bench.method_run("npo").unwrap();
        prop_assert_eq!(run.trainer.epochs, epochs);
        prop_assert_eq!(run.method_overrides().unwrap()["beta"].as_f64(), Some(beta));
    }
}

#[test]
fn unknown_keys_and_bad_sets_are_one_line_errors_naming_the_key() {
    let err = resolve_config::<RunConfig>(None, &["trainer.learnig_rate=1".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("learnig_rate") && !err.contains('\n'), "{err}");
    let err = resolve_config::<RunConfig>(None, &["epochs".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected key=value"), "{err}");
}

/// A `leaderboard.json` written before metrics were plugins (the SmolLM2 verdict's target and
/// gold rows): read back, it shows the built-in metrics' columns with their values and
/// intervals (`memorization_intervals` then, with `null` where there was none).
#[test]
fn a_board_written_before_metric_plugins_reads_with_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/leaderboard_before_metric_plugins.json"
        ),
        dir.path().join("leaderboard.json"),
    )
    .unwrap();
    let board = Leaderboard::read(dir.path()).unwrap();
    let target = &board.rows[0];
    assert_eq!(target.metrics["min_k_auc"], Some(0.85));
    assert_eq!(target.metrics["privleak"], Some(-71.15384614016271));
    let leak = target.metric_intervals["privleak"];
    assert_eq!(
        (leak.low, leak.high),
        (-95.35147989272892, -43.417615862296316)
    );
    assert!(!target.metric_intervals.contains_key("forget_quality"));
    let md = board.markdown_table();
    assert!(md.contains("| Min-K% AUC |"), "{md}");
    assert!(md.contains("| -71.2 |"), "{md}");
}
