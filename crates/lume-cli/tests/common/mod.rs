//! Helpers of the CLI's tests.

use std::path::Path;

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
