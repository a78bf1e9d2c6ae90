//! `lume bench` end to end at a tiny size: every file of the layout, the leaderboard rows,
//! the memorization checks, reuse on a rerun, and one-line errors with exit code 2.

use std::path::Path;

mod browser;
mod common;

use common::{TINY, lume, read_json, stdout_of};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn bench_runs_the_whole_protocol_and_reuses_what_finished() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let out = dir.path().join("bench");
    let args = [
        "bench",
        "--config",
        config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let first = stdout_of(&lume(&args));
    assert!(
        first.contains("PASS target forget regurgitation"),
        "{first}"
    );

    for file in [
        "bench_config.toml",
        "leaderboard.md",
        "leaderboard.csv",
        "leaderboard.json",
        "plots/trade_off.svg",
        "plots/task_scores.svg",
        "plots/loss_curves.svg",
        "report.html",
        "data/forget.jsonl",
        "data/retain.jsonl",
        "data/mia/member.jsonl",
        "data/mia/nonmember.jsonl",
        "data/mmlu/dev/lume_quiz_dev.csv",
        "data/mmlu/test/lume_quiz_test.csv",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let models = ["target", "gold", "ga", "gd", "seq-gd", "lora-ties"];
    for model in models {
        let m = out.join("models").join(model);
        for file in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "evaluation_results.json",
            "forget_0.csv",
            "retain_0.csv",
            "mia_results/member_0.csv",
            "mmlu_metrics.json",
        ] {
            assert!(m.join(file).is_file(), "missing models/{model}/{file}");
        }
        assert!(!m.join("run").exists(), "finished checkpoints are dropped");
    }

    let board = read_json(&out.join("leaderboard.json"));
    assert_eq!(board["checks_passed"], true, "{board}");
    let rows = board["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert_eq!(names, models);
    for row in rows {
        let scores = row["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 2);
        for key in ["task_aggregate", "final_score", "wall_seconds"] {
            let v = row[key].as_f64().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
        }
        let utility = row["utility"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&utility));
        let auc = row["mia_auc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auc));
    }
    // PrivLeak is MUSE's, on each row's own Min-K% AUC against the gold model's (open-unlearning's
    // privacy.py): gold 0; negative where a model's members stand out more than gold's.
    let gold_auc = rows[1]["min_k_auc"].as_f64().unwrap();
    for row in rows {
        let auc = row["min_k_auc"].as_f64().unwrap();
        let want = ((1.0 - auc) - (1.0 - gold_auc)) / (1.0 - gold_auc + 1e-10) * 100.0;
        let got = row["privleak"].as_f64().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{}: PrivLeak {got} vs {want}",
            row["model"]
        );
        assert_eq!(got < 0.0, auc > gold_auc, "{}", row["model"]);
    }
    assert_eq!(rows[1]["privleak"].as_f64(), Some(0.0));
    let target = &rows[0];
    for split in 0..2 {
        assert!(target["overall"][split][0].as_f64().unwrap() >= 0.9);
        assert!(target["overall"][split][1].as_f64().unwrap() >= 0.8);
    }
    assert!(rows[1]["overall"][0][1].as_f64().unwrap() <= 0.5);
    // Gradient ascent forgets: its forget regurgitation falls below the target's.
    let (ga, before) = (&rows[2]["overall"][0][0], &target["overall"][0][0]);
    assert!(ga.as_f64() < before.as_f64(), "ga {ga} vs target {before}");
    let csv = std::fs::read_to_string(out.join("leaderboard.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + models.len());
    assert!(
        csv.starts_with("model,forget_task1_regurgitation,"),
        "{csv}"
    );
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(md.contains("stand-in for MMLU"), "{md}");
    // Every row has its row-bootstrap interval; the methods are ranked 1..=4.
    let mut ranks = Vec::new();
    for row in rows {
        let interval = &row["intervals"]["final_score"];
        let (low, high) = (
            interval["low"].as_f64().unwrap(),
            interval["high"].as_f64().unwrap(),
        );
        let estimate = row["final_score"].as_f64().unwrap();
        assert!(low <= estimate && estimate <= high, "{interval}");
        ranks.extend(row["standing"]["rank"].as_u64());
        // The memorization metrics and PrivLeak have theirs, from the same resamples, around
        // the values the row reports; the gold model's PrivLeak against itself is 0 in every
        // resample.
        let memorization = &row["metric_intervals"];
        for key in [
            "probability",
            "exact_memorization",
            "extraction_strength",
            "min_k_auc",
            "min_k_plus_plus_auc",
            "zlib_auc",
            "privleak",
        ] {
            let i = &memorization[key];
            if row[key].is_null() {
                assert!(i.is_null(), "{key}: {i}");
                continue;
            }
            let (low, high) = (i["low"].as_f64().unwrap(), i["high"].as_f64().unwrap());
            assert_eq!(i["estimate"].as_f64(), row[key].as_f64(), "{key}: {i}");
            assert!(low <= high, "{key}: {i}");
        }
        assert!(memorization.get("forget_quality").is_none());
    }
    let gold_leak = &rows[1]["metric_intervals"]["privleak"];
    assert_eq!(
        (gold_leak["low"].as_f64(), gold_leak["high"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    ranks.sort_unstable();
    assert_eq!(ranks, [1, 2, 3, 4]);
    browser::check_report(&out, &models);
    assert!(
        md.contains("| model | final | 95 % low | 95 % high | rank |"),
        "{md}"
    );

    // Nothing changed: everything is reused.
    let second = stdout_of(&lume(&args));
    for model in models {
        assert!(
            second.contains(&format!("{model}: evaluation reused")),
            "{second}"
        );
    }
    // One method's hyperparameter changed: only that method runs again.
    let mut changed = args.to_vec();
    changed.extend(["--set", "method.ga.trainer.learning_rate=5e-5"]);
    let third = stdout_of(&lume(&changed));
    assert!(third.contains("ga: unlearning"), "{third}");
    assert!(third.contains("gd: reused"), "{third}");
    assert!(third.contains("target: reused"), "{third}");

    // Two seeds: seed 0 is the run above, seed 1 a new one; the leaderboard ranks the means.
    let mut seeded = args.to_vec();
    seeded.extend(["--seeds", "2", "--methods", "gd,seq-gd"]);
    let fourth = stdout_of(&lume(&seeded));
    assert!(fourth.contains("gd: reused"), "{fourth}");
    assert!(fourth.contains("gd-seed1: unlearning"), "{fourth}");
    assert!(
        out.join("models/seq-gd-seed1/evaluation_results.json")
            .is_file()
    );
    let board = read_json(&out.join("leaderboard.json"));
    let gd = board["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "gd")
        .unwrap();
    let standing = &gd["standing"];
    assert_eq!(standing["seeds"], 2, "{standing}");
    let per_seed: Vec<f64> = standing["per_seed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(per_seed[0], gd["final_score"].as_f64().unwrap());
    let mean = standing["mean"].as_f64().unwrap();
    assert!((mean - (per_seed[0] + per_seed[1]) / 2.0).abs() < 1e-12);
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(md.contains("| seeds | mean of seeds | seed sd |"), "{md}");

    // The probes, on ga (cached target and gold): relearning brings the held-out forget
    // score back up; every probe's folder, column and plot is there; a rerun reuses them.
    let mut probed = args.to_vec();
    // TINY's target rate (1e-2) at a constant rate would overwrite the model with one row.
    probed.extend([
        "--methods",
        "ga",
        "--probes",
        "--set",
        "probes.relearn.learning_rate=1e-3",
    ]);
    let fifth = stdout_of(&lume(&probed));
    assert!(fifth.contains("ga/relearn-forget: fine-tuning"), "{fifth}");
    for file in [
        "plots/relearning.svg",
        "plots/requests.svg",
        "plots/scaling.svg",
        "probes/ga/relearn-forget/evaluation_results.json",
        "probes/ga/relearn-retain/evaluation_results.json",
        "probes/ga/int4-g128/evaluation_results.json",
        "probes/ga/bf16/evaluation_results.json",
        "probes/ga/request-4/evaluation_results.json",
        "probes/target/int8-g128/evaluation_results.json",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let board = read_json(&out.join("leaderboard.json"));
    let row = |name: &str| {
        board["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["model"] == name)
            .unwrap()
            .clone()
    };
    let ga = row("ga");
    let relearn = &ga["probes"]["relearn"];
    let unlearned = relearn["unlearned"]["forget"].as_f64().unwrap();
    let after = relearn["after_forget"]["forget"].as_f64().unwrap();
    let target_held_out = relearn["target"]["forget"].as_f64().unwrap();
    assert!(
        unlearned < target_held_out,
        "ga lowered the held-out forget score: {relearn}"
    );
    assert!(
        after > unlearned,
        "relearning raises ga's held-out forget score: {relearn}"
    );
    let held_out = relearn["unlearned"]["forget_rows"].as_u64().unwrap();
    let relearned = relearn["relearned_rows"].as_u64().unwrap();
    assert!(relearned >= 1 && held_out > relearned, "{relearn}");
    let formats: Vec<&str> = ga["probes"]["quantization"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["int8-g128", "int4-g128", "bf16"]);
    let requests = ga["probes"]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 4);
    let seen: Vec<u64> = requests
        .iter()
        .map(|p| p["forget_rows"].as_u64().unwrap())
        .collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let scaling = ga["probes"]["scaling"].as_array().unwrap();
    let fractions: Vec<f64> = scaling.iter().map(|p| p["x"].as_f64().unwrap()).collect();
    assert_eq!(fractions, [0.25, 0.5, 1.0]);
    // The whole set is the method's own run: its forget score is the row's.
    let whole = scaling[2]["forget"].as_f64().unwrap();
    let csv_forget = row("ga")["scores"][0]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t.as_array().unwrap().iter().filter_map(|v| v.as_f64()))
        .collect::<Vec<_>>();
    let mean = csv_forget.iter().sum::<f64>() / csv_forget.len() as f64;
    assert!((whole - mean).abs() < 1e-12, "{whole} vs {mean}");
    assert!(row("target")["probes"]["quantization"].is_array());
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(
        md.contains("| forget after relearn | recovered % |"),
        "{md}"
    );
    assert!(md.contains("forget @4-bit"), "{md}");
    let again = stdout_of(&lume(&probed));
    assert!(again.contains("ga/relearn-forget: reused"), "{again}");
    assert!(again.contains("ga/int4-g128: evaluation reused"), "{again}");

    // A given target is known by its content and never written into: new weights copied
    // over the old ones (same size, same path) are another target, so gd runs again.
    let given = dir.path().join("given-target");
    copy_dir(&out.join("models/target"), &given);
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = names(&given);
    let target_set = format!("checkpoints.target={}", given.display());
    let mut with_given = args.to_vec();
    with_given.extend(["--methods", "gd", "--set", &target_set]);
    let sixth = stdout_of(&lume(&with_given));
    assert!(sixth.contains("gd: unlearning"), "{sixth}");
    assert_eq!(
        names(&given),
        before,
        "nothing written into the given checkpoint"
    );
    assert!(stdout_of(&lume(&with_given)).contains("gd: reused"));
    std::fs::copy(
        out.join("models/gold/model.safetensors"),
        given.join("model.safetensors"),
    )
    .unwrap();
    // (gold's weights do not pass the target's memorization checks: not enforced here)
    with_given.extend(["--set", "checks.enforce=false"]);
    let seventh = stdout_of(&lume(&with_given));
    assert!(seventh.contains("gd: unlearning"), "{seventh}");
    assert!(seventh.contains("target: evaluating"), "{seventh}");

    // A real MMLU folder given: the report does not call it the stand-in.
    let mut with_mmlu = args.to_vec();
    let mmlu = out.join("data").join("mmlu");
    let copied = dir.path().join("mmlu");
    copy_dir(&mmlu, &copied);
    with_mmlu.extend(["--mmlu", copied.to_str().unwrap(), "--methods", "ga"]);
    stdout_of(&lume(&with_mmlu));
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(!md.contains("stand-in for MMLU"), "{md}");
}

#[test]
fn bench_errors_name_what_is_wrong_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let cases: [(&[&str], &str); 4] = [
        (&["--methods", "ga,nope"], "nope"),
        (&["--set", "target.learning_rat=1"], "learning_rat"),
        (&["--set", "method.npo.betta=1"], "betta"),
        (&["--data", "/definitely/not/here"], "/definitely/not/here"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["bench", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let result = lume(&args);
        assert_eq!(result.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(needle), "{extra:?}: {stderr}");
    }
    // A corrupt checkpoint given as the target (and gold) is named in the error.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("config.json"), "{ not json").unwrap();
    std::fs::write(corrupt.join("model.safetensors"), "garbage").unwrap();
    let target = format!("checkpoints.target={}", corrupt.display());
    let gold = format!("checkpoints.gold={}", corrupt.display());
    let result = lume(&[
        "bench",
        "--out",
        out.to_str().unwrap(),
        "--set",
        "docs_per_task=2",
        "--set",
        &target,
        "--set",
        &gold,
    ]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("config.json"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    let printed = stdout_of(&lume(&["bench", "--print-config"]));
    let parsed: toml::Table = toml::from_str(&printed).unwrap();
    assert!(parsed["method"]["npo"]["beta"].as_float().is_some());
    assert!(parsed["target"]["learning_rate"].as_float().is_some());
}

#[test]
fn a_bench_killed_midway_reruns_to_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(
        &config,
        TINY.replace(r#"["ga", "gd", "seq-gd", "lora-ties"]"#, r#"["ga"]"#),
    )
    .unwrap();
    let args = |out: &Path| {
        [
            "bench".to_owned(),
            "--config".into(),
            config.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    let started = std::time::Instant::now();
    stdout_of(&lume(&args(&whole).each_ref().map(String::as_str)));
    let took = started.elapsed();
    // SIGKILL at a random moment of the run (somewhere in training or evaluation), then rerun.
    let reset = || {
        let _ = std::fs::remove_dir_all(&killed);
    };
    common::kill_midway(
        &args(&killed).each_ref().map(String::as_str),
        || true,
        took,
        reset,
    );
    stdout_of(&lume(&args(&killed).each_ref().map(String::as_str)));
    for file in [
        "models/target/model.safetensors",
        "models/gold/model.safetensors",
        "models/ga/model.safetensors",
        "models/target/evaluation_results.json",
        "models/gold/evaluation_results.json",
        "models/ga/evaluation_results.json",
        "models/ga/forget_0.csv",
    ] {
        let (a, b) = (
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(killed.join(file)).unwrap(),
        );
        assert!(a == b, "{file} differs after the kill");
    }
}
