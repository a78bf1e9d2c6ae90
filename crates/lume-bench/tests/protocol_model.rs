//! The engine through the protocol's trait: MMLU runs end to end on a random model.

use std::path::Path;

use lume_bench::ProtocolModel;
use lume_metrics::{LanguageModel, evaluate_mmlu, read_mmlu};
use lume_model::{DeviceSpec, Engine, Model, ModelConfig};

fn engine() -> (tempfile::TempDir, Engine) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixtures = root.join("lume-model/tests/fixtures/tokenizer");
    let dir = tempfile::tempdir().unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(fixtures.join(f), dir.path().join(f)).unwrap();
    }
    let config_json = r#"{"architectures":["LlamaForCausalLM"],"vocab_size":400,"hidden_size":32,"intermediate_size":64,
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":4096,"eos_token_id":0,"pad_token_id":1}"#;
    let config = ModelConfig::from_json(config_json, Path::new("config.json")).unwrap();
    let device = DeviceSpec::from_env("LUME_TEST_DEVICE")
        .unwrap()
        .device()
        .unwrap();
    Model::new(&config, &device).save(dir.path()).unwrap();
    let engine = Engine::load(dir.path(), device).unwrap();
    (dir, engine)
}

#[test]
fn mmlu_and_the_trait_run_through_the_engine() {
    let (_dir, mut engine) = engine();
    let direct = engine.generate(&["The river stone"], 4).unwrap();
    let mut model = ProtocolModel(&mut engine);
    assert_eq!(model.generate(&["The river stone"], 4).unwrap(), direct);
    assert_eq!(model.context_length(), 4096);
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../lume-metrics/tests/fixtures/mmlu_sample");
    let subjects = read_mmlu(&sample).unwrap();
    let report = evaluate_mmlu(&mut model, &subjects, 2).unwrap();
    assert_eq!(report.questions, 8);
    assert!((0.0..=1.0).contains(&report.average_acc));
}
