//! The `lume` binary end to end on generated data and a tiny random checkpoint.

use std::path::Path;
use std::process::Command;

mod common;
use common::{synth, tiny_checkpoint};

fn lume(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lume"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn train_then_unlearn_with_resume_and_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (data, base, target, unlearned) = (
        dir.path().join("data"),
        dir.path().join("base"),
        dir.path().join("target"),
        dir.path().join("gd"),
    );
    synth(&data);
    tiny_checkpoint(&base, 400);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run = lume(&[
        "train",
        "--model",
        &s(&base),
        "--data",
        &s(&data),
        "--out",
        &s(&target),
        "--set",
        "trainer.epochs=2",
        "--set",
        "trainer.learning_rate=1e-3",
        "--set",
        "max_length=64",
    ]);
    assert_success(&run);
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "lume_config.json",
        "train_history.json",
    ] {
        assert!(target.join(f).is_file(), "{f}");
    }
    let history = read_json(&target.join("train_history.json"));
    let steps = history["steps"].as_array().unwrap();
    let first = steps[0]["loss"]["total"].as_f64().unwrap();
    let last = steps[steps.len() - 1]["loss"]["total"].as_f64().unwrap();
    assert!(
        last < first,
        "fine-tuning lowers the loss: {first} -> {last}"
    );

    let unlearn = |extra: &[&str]| {
        let mut args = vec![
            "unlearn",
            "--model",
            target.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ];
        args.extend_from_slice(&[
            "--out",
            unlearned.to_str().unwrap(),
            "--set",
            "trainer.max_steps=3",
        ]);
        args.extend_from_slice(extra);
        lume(&args)
    };
    let run = unlearn(&["--method", "gd", "--set", "method.alpha=0.5"]);
    assert_success(&run);
    let config = read_json(&unlearned.join("lume_config.json"));
    assert_eq!(config["hyperparameters"]["alpha"], 0.5);
    assert_eq!(config["run"]["trainer"]["max_steps"], 3);
    // Started again, the finished run is reused, not redone.
    let run = unlearn(&["--method", "gd", "--set", "method.alpha=0.5"]);
    let history = read_json(&unlearned.join("train_history.json"));
    assert!(run.status.success());
    assert_eq!(history["resumed_at"], 3);

    let run = unlearn(&["--method", "gradient-descent"]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("unknown method `gradient-descent`") && err.contains("seq-gd"),
        "{err}"
    );
    let run = unlearn(&["--method", "npo", "--set", "method.betta=1"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("betta"));
    let run = unlearn(&["--method", "npo", "--set", "trainer.learnig_rate=1"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("learnig_rate"));

    let list = lume(&["unlearn", "--list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    for name in lume_unlearn::Registry::builtin().names() {
        assert!(text.contains(name), "{name} listed");
    }
}

#[test]
fn synth_validate_stats_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = lume(&[
        "data",
        "synth",
        "--out",
        data.to_str().unwrap(),
        "--seed",
        "3",
        "--docs-per-task",
        "4",
    ]);
    assert_success(&out);
    let out = lume(&["data", "validate", data.to_str().unwrap()]);
    assert!(out.status.success());
    let out = lume(&["data", "stats", "--json", data.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["forget"]["Task2"]["qa"], 10);

    std::fs::write(data.join("forget.jsonl"), "{\"id\": 3}\n").unwrap();
    let out = lume(&["data", "validate", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("forget.jsonl:1: field `id`: expected a string, found a number"),
        "{stdout}"
    );
    let out = lume(&["score", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read /nonexistent"));
}

#[test]
fn eval_writes_the_reference_layout_and_scores_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = dir.path().join("model");
    let out = dir.path().join("eval");
    assert!(
        lume(&[
            "data",
            "synth",
            "--out",
            data.to_str().unwrap(),
            "--docs-per-task",
            "2"
        ])
        .status
        .success()
    );
    tiny_checkpoint(&model, 400);
    let run = lume(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--max-new-tokens",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_success(&run);
    for f in [
        "forget_0.csv",
        "retain_0.csv",
        "mia_results/member_0.csv",
        "mia_results/nonmember_0.csv",
        "evaluation_results.json",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let json = read_json(&out.join("evaluation_results.json"));
    for key in [
        "forget-set",
        "retain-set",
        "mia_loss_acc",
        "harmonic-mean-task-aggregate",
        "aggregate-score",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
    // No MMLU given: the reference's -1.
    assert_eq!(json["aggregate-score"], -1.0);
    let forget = std::fs::read_to_string(out.join("forget_0.csv")).unwrap();
    assert!(forget.starts_with("id,task,input,expected_output,model_output,nll\n"));
    // One forget document per task: Task1 sc+qa, Task2 sc+5 qa, Task3 sc+qa.
    let rows = lume_metrics::read_inference_csv(&out.join("forget_0.csv")).unwrap();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.nll.is_some_and(|n| n > 0.0)));

    // `lume report` on the folder: one page holding every row's prompt and generation.
    let report = lume(&["report", out.to_str().unwrap()]);
    assert_success(&report);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let data = html
        .split("<script type=\"application/json\" id=\"lume-data\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("no data in report.html");
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["models"], serde_json::json!(["eval"]));
    let shown = data["rows"].as_array().unwrap();
    let retain = lume_metrics::read_inference_csv(&out.join("retain_0.csv")).unwrap();
    assert_eq!(shown.len(), rows.len() + retain.len());
    for row in rows.iter().chain(&retain) {
        let card = shown.iter().find(|r| r["id"] == row.id.as_str()).unwrap();
        assert_eq!(card["prompt"], row.input.as_str());
        let pieces = card["generations"][0]["pieces"].as_array().unwrap();
        let text: String = pieces.iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(text, row.model_output, "{}", row.id);
    }
    assert!(
        html.contains("<tr data-model=\"eval\">"),
        "no leaderboard row"
    );
    // Not a run folder: one line naming it.
    let bad = lume(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a run folder"));
}

/// `lume train` from a fresh config writes a checkpoint transformers loads and computes the
/// same logits and greedy tokens from. Runs `tests/fixtures/load_with_transformers.py` with
/// `LUME_PYTHON` (default `python3`).
#[test]
#[cfg_attr(
    not(lume_transformers),
    ignore = "needs Python with torch and transformers (LUME_PYTHON, default python3)"
)]
fn transformers_loads_what_lume_train_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, trained) = (dir.path().join("data"), dir.path().join("trained"));
    synth(&data);
    let out = lume(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--out",
        trained.to_str().unwrap(),
        "--set",
        "model.vocab_size=300",
        "--set",
        "model.hidden_size=32",
        "--set",
        "model.layers=2",
        "--set",
        "model.heads=4",
        "--set",
        "model.kv_heads=2",
        "--set",
        "model.intermediate_size=64",
        "--set",
        "trainer.epochs=1",
        "--set",
        "trainer.learning_rate=1e-3",
    ]);
    assert_success(&out);
    assert!(trained.join("init/model.safetensors").is_file());

    let prompt = "The story of the lighthouse keeper";
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/load_with_transformers.py");
    let python = std::env::var("LUME_PYTHON").unwrap_or_else(|_| "python3".into());
    let python = Command::new(&python)
        .arg(&script)
        .arg(&trained)
        .arg(prompt)
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    assert_success(&python);
    let theirs: serde_json::Value = serde_json::from_slice(&python.stdout).unwrap();
    assert_eq!(theirs["architecture"], "LlamaForCausalLM");

    let device = lume_model::DeviceSpec::Cpu.device().unwrap();
    let model = lume_model::Model::load(&trained, &device).unwrap();
    let tokenizer = lume_model::TextTokenizer::from_dir(&trained).unwrap();
    let ids = tokenizer.encode_ids(prompt).unwrap();
    let their_ids: Vec<u32> = serde_json::from_value(theirs["prompt_ids"].clone()).unwrap();
    assert_eq!(ids, their_ids, "tokenization");

    use lume_model::CausalModel;
    let input = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(
            ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>(),
            [1, ids.len()],
        ),
        &device,
    );
    let logits = model.forward_tokens(input, None, false).logits;
    let [_, t, v] = logits.dims();
    let last: Vec<f32> = logits
        .slice([0..1, t - 1..t, 0..v])
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let their_logits: Vec<f64> = serde_json::from_value(theirs["logits"].clone()).unwrap();
    assert_eq!(last.len(), their_logits.len());
    let worst = last
        .iter()
        .zip(&their_logits)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-4, "logits differ by {worst}");

    let generation = lume_model::GenerationConfig::greedy(&model.config, 8);
    let ours = model.generate(&[ids], &generation).unwrap().remove(0);
    let their_tokens: Vec<u32> = serde_json::from_value(theirs["generated"].clone()).unwrap();
    assert_eq!(ours, their_tokens, "greedy tokens");
}

#[test]
fn score_writes_resamples_and_compare_pairs_two_folders() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lume-metrics/tests/fixtures/score_dir");
    let dir = tempfile::tempdir().unwrap();
    let (json, resamples) = (dir.path().join("e.json"), dir.path().join("r.json"));
    let out = lume(&[
        "score",
        fixture.to_str().unwrap(),
        "--out",
        json.to_str().unwrap(),
        "--bootstrap",
        "200",
        "--write-resamples",
        resamples.to_str().unwrap(),
    ]);
    assert_success(&out);
    let written = read_json(&resamples);
    assert_eq!(written["resamples"]["rows"].as_array().unwrap().len(), 200);
    let scored = read_json(&json);
    assert_eq!(
        written["bootstrap"]["final_score"],
        scored["lume"]["bootstrap"]["final_score"]
    );

    let cmp = dir.path().join("cmp.json");
    let args = [fixture.to_str().unwrap(); 2];
    let out = lume(&["compare", args[0], args[1], "--out", cmp.to_str().unwrap()]);
    assert_success(&out);
    let comparison = read_json(&cmp)["comparison"]["final_score"].clone();
    assert_eq!(comparison["difference"], 0.0);
    assert_eq!(comparison["p_value"], 1.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("final score"), "{stdout}");

    let out = lume(&["compare", args[0], "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent"), "{stderr}");
}

#[test]
fn perf_measures_each_phase_alone_and_reports_peak_memory() {
    let shape = [
        "perf",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--kv-heads",
        "1",
        "--ffn",
        "32",
        "--vocab",
        "64",
        "--batch",
        "2",
        "--seq",
        "8",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = shape.iter().chain(extra).copied().collect();
        let out = lume(&args);
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let lora = run(&["--steps", "1", "--gen-tokens", "0", "--lora", "4"]);
    assert_eq!(lora["lora_rank"], 4, "{lora}");
    assert!(lora["train_step_s"].as_f64().unwrap() > 0.0, "{lora}");
    assert!(lora["gen_tokens_per_s"].is_null(), "{lora}");
    let decode = run(&["--steps", "0", "--gen-tokens", "4"]);
    assert!(decode["train_step_s"].is_null(), "{decode}");
    assert!(
        decode["gen_tokens_per_s"].as_f64().unwrap() > 0.0,
        "{decode}"
    );
    assert_eq!(decode["params"], lora["params"]);
    if cfg!(target_os = "linux") {
        assert!(
            decode["peak_rss_bytes"].as_u64().unwrap() > 1 << 20,
            "{decode}"
        );
    }
    let nothing = lume(&[&shape[..], &["--steps", "0", "--gen-tokens", "0"]].concat());
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to measure"));
}
