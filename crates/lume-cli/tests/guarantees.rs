//! What `docs/guarantees.md` promises, replayed as the probe of issue 35 did: stale folders,
//! foreign shards, hostile files and a second writer each end in a one-line error (exit 1 or
//! 2, never a panic's 101 or a hang), never in a wrong number with exit 0.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{kill_midway, synth, tiny_checkpoint};

fn lume(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lume"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A hang is a failure too: nothing here takes a minute.
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("lume {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Exit 1 or 2 with one line naming `expected`.
fn refused(out: &Output, expected: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "exit {:?}: {err}",
        out.status.code()
    );
    assert!(err.contains(expected), "{expected:?} not in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_run_resumes_only_what_the_same_inputs_made() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, out) = (
        dir.path().join("data"),
        dir.path().join("model"),
        dir.path().join("out"),
    );
    synth(&data);
    tiny_checkpoint(&model, 400);
    let unlearn = |method: &str, extra: &[&str]| {
        let mut args = vec![
            "unlearn",
            "--model",
            s(&model),
            "--data",
            s(&data),
            "--out",
            s(&out),
            "--method",
            method,
            "--set",
            "trainer.max_steps=4",
            "--set",
            "trainer.checkpoint_every=2",
        ];
        args.extend_from_slice(extra);
        lume(&args)
    };
    ok(&unlearn("ga", &[]));
    // The probe's case: npo into ga's folder resumed ga's checkpoint and called it npo.
    refused(&unlearn("npo", &[]), "method `ga`, not `npo`");
    refused(
        &unlearn("ga", &["--set", "trainer.learning_rate=1e-3"]),
        "another run configuration",
    );
    // Other weights at the same path: another starting checkpoint.
    tiny_checkpoint(&model, 401);
    refused(&unlearn("ga", &[]), "another starting checkpoint");
    ok(&unlearn("npo", &["--fresh"]));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("lume_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["method"], "npo");
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("train_history.json")).unwrap())
            .unwrap();
    assert_eq!(history["resumed_at"], 0, "a fresh run starts at step 0");

    // A second writer is refused while the first holds the folder.
    let lock = lume_bench::OutputLock::acquire(&out, ".lume.lock").unwrap();
    refused(
        &unlearn("npo", &[]),
        &format!("in use by process {}", std::process::id()),
    );
    drop(lock);
    ok(&unlearn("npo", &[]));
}

#[test]
fn evaluation_folders_hold_one_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model, other, out) = (
        dir.path().join("data"),
        dir.path().join("model"),
        dir.path().join("other"),
        dir.path().join("eval"),
    );
    synth(&data);
    tiny_checkpoint(&model, 400);
    tiny_checkpoint(&other, 401);
    let eval = |model: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            s(model),
            "--data",
            s(&data),
            "--max-new-tokens",
            "2",
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        lume(&args)
    };
    for k in ["0/2", "1/2"] {
        ok(&eval(&model, &["--shard", k]));
    }
    ok(&lume(&["score", s(&out)]));
    // An MMLU result no shard of this evaluation wrote (left from another run).
    std::fs::write(out.join("mmlu_metrics.json"), r#"{"average_acc": 0.9}"#).unwrap();
    refused(
        &eval(&model, &["--shard", "0/2"]),
        "mmlu_metrics.json was not written by this evaluation",
    );
    std::fs::remove_file(out.join("mmlu_metrics.json")).unwrap();
    // Another model into the same folder: refused, or replaced when asked.
    refused(&eval(&other, &["--shard", "0/2"]), "another model");
    // A shard of a three-way split left beside a two-way one.
    std::fs::copy(out.join("forget_1.csv"), out.join("forget_2.csv")).unwrap();
    refused(&lume(&["score", s(&out)]), "no manifest lists this file");
    std::fs::remove_file(out.join("forget_2.csv")).unwrap();
    // A row repeated inside a shard.
    let forget = std::fs::read_to_string(out.join("forget_0.csv")).unwrap();
    let second_line = forget.lines().nth(1).unwrap().to_owned();
    std::fs::write(out.join("forget_0.csv"), format!("{forget}{second_line}\n")).unwrap();
    refused(&lume(&["score", s(&out)]), "rows, but its manifest says");
    // A shard that never finished.
    std::fs::write(out.join("forget_0.csv"), &forget).unwrap();
    std::fs::remove_file(out.join("manifest_1.json")).unwrap();
    refused(&lume(&["score", s(&out)]), "shard 1 of 2 has not finished");
    ok(&eval(&other, &["--replace"]));
    assert!(
        !out.join("forget_1.csv").exists(),
        "the old shards are gone"
    );
    ok(&lume(&["score", s(&out), "--strict"]));

    // The reference's own layout (no manifest): scored as the reference does, with a warning
    // that counts the repeats; --strict refuses it.
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("manifest_")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let forget = std::fs::read_to_string(out.join("forget_0.csv")).unwrap();
    let second_line = forget.lines().nth(1).unwrap().to_owned();
    std::fs::write(out.join("forget_0.csv"), format!("{forget}{second_line}\n")).unwrap();
    let warned = lume(&["score", s(&out)]);
    ok(&warned);
    let err = String::from_utf8_lossy(&warned.stderr);
    assert!(err.contains("1 rows repeating an id"), "{err}");
    refused(&lume(&["score", s(&out), "--strict"]), "no manifest");

    // An empty data set has no score.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("forget.jsonl"), "").unwrap();
    std::fs::write(empty.join("retain.jsonl"), "").unwrap();
    let run = lume(&[
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&empty),
        "--out",
        s(&dir.path().join("e2")),
    ]);
    assert!(!run.status.success());
    assert!(!dir.path().join("e2/evaluation_results.json").exists());
}

#[test]
fn hostile_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    synth(&data);
    let model = dir.path().join("model");
    tiny_checkpoint(&model, 400);
    let eval = |model: &Path, data: &Path| {
        lume(&[
            "eval",
            "--model",
            s(model),
            "--data",
            s(data),
            "--max-new-tokens",
            "1",
            "--out",
            s(&dir.path().join("out")),
            "--replace",
        ])
    };
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    let with = |key: &str, value: serde_json::Value| {
        let bad = dir.path().join(format!("bad-{key}"));
        std::fs::create_dir_all(&bad).unwrap();
        for f in [
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
        ] {
            std::fs::copy(model.join(f), bad.join(f)).unwrap();
        }
        let mut c = config.clone();
        c[key] = value;
        std::fs::write(bad.join("config.json"), c.to_string()).unwrap();
        bad
    };
    for (key, value, expected) in [
        (
            "num_hidden_layers",
            serde_json::json!(1u64 << 40),
            "num_hidden_layers",
        ),
        (
            "max_position_embeddings",
            serde_json::json!(0),
            "max_position_embeddings",
        ),
        ("pad_token_id", serde_json::json!(400), "pad_token_id"),
        (
            "vocab_size",
            serde_json::json!(100),
            "outside the model's vocabulary",
        ),
    ] {
        let bad = with(key, value);
        let run = if key == "vocab_size" {
            // The weights match this vocabulary; the tokenizer does not.
            tiny_checkpoint(&bad, 100);
            for f in ["tokenizer.json", "tokenizer_config.json"] {
                std::fs::copy(model.join(f), bad.join(f)).unwrap();
            }
            eval(&bad, &data)
        } else {
            eval(&bad, &data)
        };
        refused(&run, expected);
    }

    // An index naming a shard elsewhere on the machine.
    let indexed = dir.path().join("indexed");
    std::fs::create_dir_all(&indexed).unwrap();
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(model.join(f), indexed.join(f)).unwrap();
    }
    let elsewhere = model.join("model.safetensors");
    std::fs::write(
        indexed.join("model.safetensors.index.json"),
        serde_json::json!({"weight_map": {"model.norm.weight": elsewhere}}).to_string(),
    )
    .unwrap();
    refused(
        &eval(&indexed, &data),
        "shards must be file names beside the index",
    );

    // Files that are not files: a FIFO would hang a read, /dev/zero would fill memory.
    #[cfg(unix)]
    for special in ["fifo", "zero"] {
        let bad = dir.path().join(format!("data-{special}"));
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::copy(data.join("retain.jsonl"), bad.join("retain.jsonl")).unwrap();
        let forget = bad.join("forget.jsonl");
        if special == "fifo" {
            assert!(
                Command::new("mkfifo")
                    .arg(&forget)
                    .status()
                    .unwrap()
                    .success()
            );
        } else {
            std::os::unix::fs::symlink("/dev/zero", &forget).unwrap();
        }
        refused(&eval(&model, &bad), "not a regular file");
    }

    // A line far longer than any record.
    let long = dir.path().join("data-long");
    std::fs::create_dir_all(&long).unwrap();
    std::fs::copy(data.join("retain.jsonl"), long.join("retain.jsonl")).unwrap();
    let row = serde_json::json!({
        "id": "x_1sc1", "task": "Task1", "input": "a", "output": "b ".repeat(1 << 20),
    });
    std::fs::write(long.join("forget.jsonl"), row.to_string() + "\n").unwrap();
    refused(&eval(&model, &long), "lume reads lines of at most");

    // A bootstrap no machine can hold.
    refused(
        &lume(&[
            "score",
            s(&dir.path().join("out")),
            "--bootstrap",
            "1000000000000",
        ]),
        "bootstrap",
    );
}

fn same_files(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn killed_runs_rerun_to_what_an_uninterrupted_run_makes() {
    let dir = tempfile::tempdir().unwrap();
    let (data, model) = (dir.path().join("data"), dir.path().join("model"));
    synth(&data);
    tiny_checkpoint(&model, 400);

    let (model, data) = (s(&model), s(&data));
    // lume unlearn, killed mid-run (checkpoints every step), then run again.
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    let unlearn = |out| {
        [
            "unlearn",
            "--model",
            model,
            "--data",
            data,
            "--method",
            "npo",
            "--set",
            "trainer.max_steps=120",
            "--set",
            "trainer.checkpoint_every=1",
            "--out",
            out,
        ]
    };
    let started = Instant::now();
    ok(&lume(&unlearn(s(&whole))));
    let took = started.elapsed();
    let args = unlearn(s(&killed));
    let key = killed.join("run/run_key.json");
    let reset = || {
        let _ = std::fs::remove_dir_all(&killed);
    };
    kill_midway(&args, || key.exists(), took / 2, reset);
    assert!(
        !killed.join("lume_config.json").exists(),
        "killed before it finished"
    );
    ok(&lume(&args));
    same_files(&whole, &killed, &["model.safetensors", "config.json"]);

    // lume eval in two shards, the second killed midway and run again.
    let eval = |out, shard| {
        [
            "eval",
            "--model",
            model,
            "--data",
            data,
            "--max-new-tokens",
            "200",
            "--out",
            out,
            "--shard",
            shard,
        ]
    };
    let (whole, killed) = (
        dir.path().join("eval-whole"),
        dir.path().join("eval-killed"),
    );
    let mut took = Duration::ZERO;
    for shard in ["0/2", "1/2"] {
        let started = Instant::now();
        ok(&lume(&eval(s(&whole), shard)));
        took = started.elapsed();
    }
    ok(&lume(&eval(s(&killed), "0/2")));
    let second = eval(s(&killed), "1/2");
    let lock = killed.join(".lume-shard-1.lock");
    // Nothing to clear between tries: a finished shard is simply written again.
    kill_midway(&second, || lock.exists(), took / 2, || {});
    assert!(
        !killed.join("manifest_1.json").exists(),
        "killed before it finished"
    );
    ok(&lume(&second));
    // Killed after its files were written but before its manifest: the rerun takes them as
    // its own (they are this shard's, of the same evaluation), not as another run's.
    std::fs::remove_file(killed.join("manifest_1.json")).unwrap();
    std::fs::write(
        killed.join(".manifest_1.partial.json"),
        std::fs::read_to_string(killed.join("manifest_0.json"))
            .map(|m| serde_json::from_str::<serde_json::Value>(&m).unwrap()["made"].to_string())
            .unwrap(),
    )
    .unwrap();
    ok(&lume(&second));
    for out in [&whole, &killed] {
        ok(&lume(&["score", s(out), "--strict"]));
    }
    same_files(
        &whole,
        &killed,
        &["evaluation_results.json", "forget_1.csv", "retain_1.csv"],
    );
}
