//! Helpers of the CLI's tests (each test crate uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A random Llama with a vocabulary of `vocab` over a small byte-level BPE tokenizer, saved in
/// `dir`.
pub fn tiny_checkpoint(dir: &Path, vocab: usize) {
    let tokenizer =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lume-model/tests/fixtures/tokenizer");
    std::fs::create_dir_all(dir).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(tokenizer.join(f), dir.join(f)).unwrap();
    }
    let config = lume_model::ModelConfig::from_json(
        &format!(
            r#"{{"architectures":["LlamaForCausalLM"],"vocab_size":{vocab},"hidden_size":16,"intermediate_size":32,
            "num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":2048,"eos_token_id":0,"pad_token_id":1}}"#
        ),
        Path::new("config.json"),
    )
    .unwrap();
    let device = lume_model::DeviceSpec::Cpu.device().unwrap();
    lume_model::Model::random(config, 0, &device)
        .save(dir)
        .unwrap();
}

/// The embedded generator's data (two documents per task) in `data`.
pub fn synth(data: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lume"))
        .args(["data", "synth", "--docs-per-task", "2", "--out"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `lume args`, waits until `started` says its work began, and kills it (SIGKILL) after
/// a random part of `within`. A run that finished before the kill is cleared by `reset` and
/// tried again with half the delay, so the kill always lands mid-run (the test fails after 8
/// tries that all finished first).
pub fn kill_midway(args: &[&str], started: impl Fn() -> bool, within: Duration, reset: impl Fn()) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut delay = within.mul_f64(0.1 + 0.7 * f64::from(nanos % 1000) / 1000.0);
    for _ in 0..8 {
        reset();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lume"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !started() && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            let _ = child.wait();
            eprintln!("killed lume {} {delay:?} into its work", args[0]);
            return;
        }
        delay /= 2;
    }
    panic!(
        "lume {} always finished before the kill: make its run longer",
        args[0]
    );
}

/// `lume` with `args`.
pub fn lume(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lume"))
        .args(args)
        .output()
        .unwrap()
}

/// `out`'s standard output, after asserting that it succeeded.
pub fn stdout_of(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON file at `path`.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Two documents per task and a model of a few thousand parameters: seconds, not minutes.
pub const TINY: &str = r#"
docs_per_task = 2
max_length = 512
methods = ["ga", "gd", "seq-gd", "lora-ties"]
[model]
vocab_size = 400
hidden_size = 32
layers = 2
heads = 2
kv_heads = 2
intermediate_size = 64
[target]
learning_rate = 1e-2
epochs = 120
warmup_steps = 5
[gold]
learning_rate = 1e-2
epochs = 60
warmup_steps = 5
[unlearn]
epochs = 2
[eval]
max_new_tokens = 200
[method.ga.trainer]
learning_rate = 1e-3
[method.lora-ties.lora]
rank = 2
[method.seq-gd]
chunk_size = 2
retain_per_forget = 1
last_layers = 1
"#;
